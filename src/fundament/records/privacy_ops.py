"""What privacy work may do with records, on records' own terms (the module owns the table).

Each function takes an open tenant-scoped transaction and emits one event per record it
changes, so erasure and retention leave an audit trail like any other write.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from fundament.platform import Tx, json_text, rfc3339
from fundament.records import _slots
from fundament.records._query import field_sql
from fundament.records.collections import CollectionDef, list_collections


async def all_collections(tx: Tx) -> list[CollectionDef]:
    out: list[CollectionDef] = []
    cursor = None
    while True:
        page = await list_collections(tx, limit=200, cursor=cursor)
        out += page.items
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def processing_facts(coll: CollectionDef) -> dict[str, Any]:
    return {
        "collection": coll.name,
        "purpose": coll.purpose,
        "legal_basis": coll.legal_basis,
        "personal_fields": coll.personal_fields,
        "subject_field": coll.subject_field,
        "retention_days": coll.retention_days,
        "on_erasure": coll.on_erasure,
    }


def _subject_match(coll: CollectionDef) -> str:
    assert coll.subject_field is not None
    return f"({field_sql(coll.subject_field).replace('r.data', 'data')} #>> '{{}}') = $3"


async def find_subject_records(tx: Tx, subject: str) -> dict[str, list[dict[str, Any]]]:
    """Every record whose collection's ``subject_field`` equals ``subject``, by collection."""
    found: dict[str, list[dict[str, Any]]] = {}
    for coll in await all_collections(tx):
        if coll.subject_field is None:
            continue
        rows = await tx.conn.fetch(
            "SELECT id, data::text AS data, version, created_at, updated_at FROM records"
            f" WHERE tenant_id = $1 AND collection = $2 AND {_subject_match(coll)} ORDER BY id",
            tx.tenant_id,
            coll.name,
            subject,
        )
        found[coll.name] = [
            {
                "id": r["id"],
                "data": orjson.loads(r["data"]),
                "version": r["version"],
                "created_at": rfc3339(r["created_at"]),
                "updated_at": rfc3339(r["updated_at"]),
            }
            for r in rows
        ]
    return found


async def erase_subject(tx: Tx, subject: str) -> dict[str, int]:
    """Delete the subject's records, or null their personal fields where the collection
    says ``on_erasure: anonymize``; return counts per collection. Erasing twice is harmless."""
    counts: dict[str, int] = {}
    for coll in await all_collections(tx):
        if coll.subject_field is None:
            continue
        if coll.on_erasure == "anonymize":
            data = "data"
            for path in coll.personal_fields:
                segments = "{" + ",".join(path.split(".")) + "}"
                data = (
                    f"(CASE WHEN {data} #> '{segments}' IS NULL THEN {data}"
                    f" ELSE jsonb_set({data}, '{segments}', 'null') END)"
                )
            slots = _slots.assignments_sql(data, "$4::jsonb")
            rows = await tx.conn.fetch(
                f"UPDATE records SET data = {data}, version = version + 1, updated_at = now(), {slots}"
                f" WHERE tenant_id = $1 AND collection = $2 AND {_subject_match(coll)} RETURNING id",
                tx.tenant_id,
                coll.name,
                subject,
                json_text(coll.indexes),
            )
            action = "record.anonymized"
        else:
            rows = await tx.conn.fetch(
                f"DELETE FROM records WHERE tenant_id = $1 AND collection = $2 AND {_subject_match(coll)}"
                " RETURNING id",
                tx.tenant_id,
                coll.name,
                subject,
            )
            action = "record.erased"
        for r in rows:
            tx.emit(action, "record", r["id"], collection=coll.name)
        counts[coll.name] = len(rows)
    return counts


async def expire_records(tx: Tx, now: datetime) -> dict[str, int]:
    """Delete records older than their collection's ``retention_days`` (by ``created_at``)."""
    counts: dict[str, int] = {}
    for coll in await all_collections(tx):
        if coll.retention_days is None:
            continue
        rows = await tx.conn.fetch(
            "DELETE FROM records WHERE tenant_id = $1 AND collection = $2 AND created_at < $3 RETURNING id",
            tx.tenant_id,
            coll.name,
            now - timedelta(days=coll.retention_days),
        )
        for r in rows:
            tx.emit("record.expired", "record", r["id"], collection=coll.name)
        counts[coll.name] = len(rows)
    return counts
