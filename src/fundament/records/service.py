"""Record use cases: CRUD with optimistic concurrency, filtered keyset-paginated lists.

Writes validate against the cached, compiled schema and then re-check, in the same
statement, that the collection is still at that schema version (``FOR KEY SHARE``); if a
schema change committed in between, the write revalidates against the new schema.
"""

from __future__ import annotations

from typing import Any

import orjson
from msgspec import Raw

from fundament.platform import (
    BadRequest,
    InvalidCursor,
    InvalidFilter,
    NotFound,
    PreconditionFailed,
    Tx,
    json_text,
    looks_like_id,
    merge_patch,
    new_id,
    utcnow,
)
from fundament.records import _query, _slots
from fundament.records.collections import CollectionCache, CollectionDef
from fundament.records.schemas import Record, RecordList

_RETURNING = "id, data::text AS data, version, created_at, updated_at"


def _row(rec: Any) -> Record:
    return Record(rec[0], Raw(rec[1]), rec[2], rec[3], rec[4])


def _data(row: Record) -> Any:
    """A record's ``data``, parsed (the audit trail and merge patches need the values)."""
    return orjson.loads(memoryview(row.data))


# --- conditional requests (RFC 9110 §13.1) -------------------------------------------------


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def if_none_match_hits(header: str | None, etag: str) -> bool:
    """Weak comparison, as RFC 9110 §13.1.2 prescribes for If-None-Match."""
    if header is None:
        return False
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in _tags(header))


def check_if_match(header: str | None, current: Record | None) -> None:
    """Strong comparison (RFC 9110 §13.1.1); a stale or unmatched tag is a 412."""
    if header is None:
        return
    tags = _tags(header)
    if current is not None and ("*" in tags or current.etag in tags):
        return
    raise PreconditionFailed("The record has changed since you read it (If-Match does not match its ETag).")


def parse_version_tag(header: str | None) -> int | None:
    """The version an If-Match names when it is exactly one strong tag, else None."""
    if header is None:
        return None
    tags = _tags(header)
    if len(tags) == 1 and tags[0].startswith('"') and tags[0].endswith('"'):
        inner = tags[0][1:-1]
        if inner.isdigit() and len(inner) < 10:
            return int(inner)
    return None


# --- reads --------------------------------------------------------------------------------


async def find_record(tx: Tx, collection: str, record_id: str) -> Record | None:
    if not looks_like_id(record_id, "rec"):
        return None
    rec = await tx.conn.fetchrow(
        f"SELECT {_RETURNING} FROM records WHERE tenant_id = $1 AND collection = $2 AND id = $3",
        tx.tenant_id,
        collection,
        record_id,
    )
    return None if rec is None else _row(rec)


async def get_record(tx: Tx, collection: str, record_id: str) -> Record:
    found = await find_record(tx, collection, record_id)
    if found is None:
        raise NotFound("No such record.")
    return found


async def list_records(
    tx: Tx,
    cache: CollectionCache,
    coll: CollectionDef,
    *,
    limit: int,
    cursor: str | None,
    filter: str | None,
    sort: str | None,
) -> RecordList:
    """A page of records matching ``filter`` (SCIM, RFC 7644 §3.4.2.2) in ``sort`` order.

    Declared fields are filtered and sorted through their index slots. ``coll`` may come
    from a cache that has not yet heard of an index change; the query then checks, in the
    same statement, that the declaration it planned with is current, and is planned again
    from the database if not.
    """
    for attempt in range(2):
        page = await _list_page(tx, coll, limit=limit, cursor=cursor, filter=filter, sort=sort)
        if page is not None:
            return page
        coll = await _reload(tx, cache, coll, attempt)
    raise AssertionError("unreachable")


def scans(coll: CollectionDef, filter: str | None, sort: str | None) -> bool:
    """Whether this list reads the whole collection (no declared index serves it)."""
    return _query.scans(filter, sort, coll.slots, coll.fields)


async def _list_page(
    tx: Tx, coll: CollectionDef, *, limit: int, cursor: str | None, filter: str | None, sort: str | None
) -> RecordList | None:
    args: list[object] = [tx.tenant_id, coll.name]
    where = ["r.tenant_id = $1", "r.collection = $2"]
    slots = coll.slots
    try:
        # Checked against the schema, so that a typo is a 400 rather than an empty page.
        columns = _query.sort_columns(_query.parse_sort(sort, coll.fields), slots)
        if filter:
            expr = _query.parse_filter(filter, fields=coll.fields)
            where.append(_query.compile_filter(expr, args, slots))
        if cursor:
            where.append(_query.keyset_sql(columns, cursor, args))
    except _query.QueryError as exc:
        if exc.param == "filter":
            raise InvalidFilter(exc.detail, extra={"position": exc.position}) from exc
        if exc.param == "cursor":
            raise InvalidCursor() from exc
        raise BadRequest(f"Invalid {exc.param}: {exc.detail}") from exc
    where.extend(_query.slot_guards_sql(columns))
    uses_slots = any("r.i" in w for w in where[2:])
    if uses_slots:
        args.append(json_text(coll.indexes))
        where.append(
            "EXISTS (SELECT 1 FROM collections c WHERE c.tenant_id = $1 AND c.name = $2"
            f" AND c.indexes = ${len(args)}::jsonb)"
        )
    args.append(limit + 1)
    rows = await tx.conn.fetch(
        f"SELECT r.id, r.data::text, r.version, r.created_at, r.updated_at,"
        f" {_query.select_sort_values_sql(columns)} FROM records r WHERE {' AND '.join(where)}"
        f" ORDER BY {_query.order_by_sql(columns)} LIMIT ${len(args)}",
        *args,
    )
    if not rows and uses_slots and not await _declared_as(tx, coll):
        return None
    items = [_row(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _query.encode_cursor(columns, [last[5 + i] for i in range(len(columns))])
    return RecordList(items, next_cursor)


async def _declared_as(tx: Tx, coll: CollectionDef) -> bool:
    current = await tx.conn.fetchval(
        "SELECT indexes::text FROM collections WHERE tenant_id = $1 AND name = $2", tx.tenant_id, coll.name
    )
    return current is None or orjson.loads(current) == coll.indexes


# --- writes -------------------------------------------------------------------------------

# Both statements read the collection row they lock (FOR KEY SHARE, at the validated
# schema version) and fill the index slots from its declared indexes, in SQL, so that a
# record's slots always match the declaration its collection had when it was written.
_INSERT = (
    "INSERT INTO records (tenant_id, collection, id, data, version, created_at, updated_at,"
    f" {_slots.COLUMNS})"
    f" SELECT c.tenant_id, c.name, $3, $4::jsonb, 1, $5, $5,"
    f" {', '.join(_slots.slot_values_sql('$4::jsonb', 'c.indexes'))}"
    " FROM collections c WHERE c.tenant_id = $1 AND c.name = $2 AND c.version = $6"
    f" FOR KEY SHARE RETURNING {_RETURNING}"
)
_REPLACE = (
    "WITH c AS (SELECT indexes FROM collections WHERE tenant_id = $1 AND name = $2"
    " AND version = $6 FOR KEY SHARE)"
    " UPDATE records SET data = $4::jsonb, version = version + 1, updated_at = $5,"
    f" {_slots.assignments_sql('$4::jsonb', 'c.indexes')}"
    " FROM c WHERE tenant_id = $1 AND collection = $2 AND id = $3"
    f" RETURNING {_RETURNING}"
)


async def create_record(tx: Tx, cache: CollectionCache, coll: CollectionDef, data: Any) -> Record:
    return await _write(tx, cache, coll, _INSERT, new_id("rec"), data, "record.created")


async def replace_record(
    tx: Tx,
    cache: CollectionCache,
    coll: CollectionDef,
    record_id: str,
    data: Any,
    *,
    if_match: str | None,
    action: str = "record.replaced",
    before: Record | None = None,
) -> Record:
    """Replace ``data`` (PUT, and PATCH after merging); If-Match is checked atomically."""
    current = before if before is not None else await _locked(tx, coll.name, record_id)
    check_if_match(if_match, current)
    return await _write(tx, cache, coll, _REPLACE, record_id, data, action, current)


async def _write(
    tx: Tx,
    cache: CollectionCache,
    coll: CollectionDef,
    statement: str,
    record_id: str,
    data: Any,
    action: str,
    before: Record | None = None,
) -> Record:
    """Validate ``data`` against the collection, write it with ``statement`` (which takes
    the collection's version and finds no row if the collection changed since), and emit
    the event; after a change under the write, validate against the fresh definition and
    write again."""
    for attempt in range(3):
        coll.validate(data)
        rec = await tx.conn.fetchrow(
            statement,
            tx.tenant_id,
            coll.name,
            record_id,
            json_text(data, where="/data"),
            utcnow(),
            coll.version,
        )
        if rec is not None:
            row = _row(rec)
            seen = {} if before is None else {"before": _data(before)}
            tx.emit(
                action,
                "record",
                record_id,
                collection=coll.name,
                data=data,
                **seen,
                personal_fields=coll.personal_fields,
                subject_field=coll.subject_field,
            )
            return row
        coll = await _reload(tx, cache, coll, attempt)
    raise AssertionError("unreachable")


async def patch_record(
    tx: Tx,
    cache: CollectionCache,
    coll: CollectionDef,
    record_id: str,
    patch: Any,
    *,
    if_match: str | None,
) -> Record:
    current = await _locked(tx, coll.name, record_id)
    check_if_match(if_match, current)
    data = merge_patch(_data(current), patch)
    return await replace_record(
        tx, cache, coll, record_id, data, if_match=None, action="record.updated", before=current
    )


async def delete_record(tx: Tx, collection: str, record_id: str, *, if_match: str | None) -> None:
    current = await _locked(tx, collection, record_id)
    check_if_match(if_match, current)
    await tx.conn.execute(
        "DELETE FROM records WHERE tenant_id = $1 AND collection = $2 AND id = $3",
        tx.tenant_id,
        collection,
        record_id,
    )
    tx.emit(
        "record.deleted", "record", record_id, collection=collection, before=_data(current)
    )


async def _locked(tx: Tx, collection: str, record_id: str) -> Record:
    """Read and lock the row so If-Match and the write see the same version."""
    if not looks_like_id(record_id, "rec"):
        raise NotFound("No such record.")
    rec = await tx.conn.fetchrow(
        f"SELECT {_RETURNING} FROM records WHERE tenant_id = $1 AND collection = $2 AND id = $3 FOR UPDATE",
        tx.tenant_id,
        collection,
        record_id,
    )
    if rec is None:
        raise NotFound("No such record.")
    return _row(rec)


async def _reload(tx: Tx, cache: CollectionCache, stale: CollectionDef, attempt: int) -> CollectionDef:
    """The collection changed (or vanished) under us: fetch it fresh and retry."""
    from fundament.records.collections import get_collection

    if attempt >= 2:
        raise BadRequest("The collection kept changing during the write; retry the request.")
    cache.invalidate(f"collection:{stale.tenant_id}:{stale.name}")
    fresh = await get_collection(tx, stale.name)
    cache.put(fresh)
    return fresh


async def footprint(tx: Tx) -> tuple[int, int]:
    """The transaction's tenant's record count and stored bytes (PostgreSQL's own size of
    the stored documents, compressed as stored), including this transaction's writes."""
    row = await tx.conn.fetchrow(
        "SELECT count(*) AS records, coalesce(sum(pg_column_size(data)), 0)::bigint AS bytes"
        " FROM records WHERE tenant_id = $1",
        tx.tenant_id,
    )
    return int(row["records"]), int(row["bytes"])


async def count_collections(tx: Tx) -> int:
    """The transaction's tenant's collections, this transaction's own writes included."""
    value: int = await tx.conn.fetchval("SELECT count(*) FROM collections WHERE tenant_id = $1", tx.tenant_id)
    return value


async def count_widest_indexes(tx: Tx) -> int:
    """The most indexes declared by a collection this transaction created or whose indexes it
    changed.

    Only those: a plan lowered later leaves wider collections as they are, and refuses
    neither writes to other collections nor patches that leave the indexes alone.
    """
    names = [
        e.target_id
        for e in tx.events
        if e.action == "collection.created"
        or (e.action == "collection.updated" and "indexes" in e.details.get("changed", ()))
    ]
    if not names:
        return 0
    value: int = await tx.conn.fetchval(
        "SELECT coalesce(max(jsonb_array_length(indexes)), 0) FROM collections"
        " WHERE tenant_id = $1 AND name = ANY($2::text[])",
        tx.tenant_id,
        names,
    )
    return value
