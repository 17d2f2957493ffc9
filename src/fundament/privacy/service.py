"""GDPR work: subject access export (Art. 15/20), erasure (Art. 17), retention, register (Art. 30).

Requests are accepted in the request's transaction together with their job, and answered
by the job worker inside the tenant's RLS scope. ``due_at`` is one month after the request
(Art. 12(3)).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from fundament import audit, jobs, records
from fundament.jobs import Job
from fundament.platform import NotFound, Tx, encode, looks_like_id, new_id, subject_hash, utcnow
from fundament.privacy.schemas import PrivacyRequest, ProcessingRecord, SubjectExport
from fundament.tenancy import get_tenant

RETENTION_EVERY = timedelta(hours=1)


def due_date(at: datetime) -> datetime:
    """One month later (Art. 12(3) GDPR); the last day of a shorter month if need be."""
    month = at.month % 12 + 1
    year = at.year + (at.month == 12)
    for day in (at.day, 30, 29, 28):
        try:
            return at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _request(row: Any) -> PrivacyRequest:
    done = row["kind"] == "erasure" and row["result"] is not None
    return PrivacyRequest(
        id=row["id"],
        kind=row["kind"],
        status=row["status"],
        created_at=row["created_at"],
        due_at=row["due_at"],
        completed_at=row["completed_at"],
        erased=orjson.loads(row["result"])["erased"] if done else None,
    )


async def create_request(tx: Tx, *, kind: str, subject: str, secret: bytes) -> PrivacyRequest:
    now = utcnow()
    request_id = new_id("exp" if kind == "export" else "era")
    assert tx.tenant_id is not None
    row = await tx.conn.fetchrow(
        "INSERT INTO privacy_requests (tenant_id, id, kind, subject, subject_hash, status,"
        " created_at, due_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)"
        " RETURNING id, kind, status, created_at, due_at, completed_at, result::text AS result",
        tx.tenant_id,
        request_id,
        kind,
        subject,
        subject_hash(secret, tx.tenant_id, subject),
        now,
        due_date(now),
    )
    await jobs.enqueue(tx, f"privacy.{kind}", request_id)
    tx.emit(f"privacy.{kind}_requested", "privacy_request", request_id)
    return _request(row)


async def count_open_requests(tx: Tx) -> int:
    """The transaction's tenant's exports and erasures not yet done or failed, this
    transaction's own requests included: the plan's ``max_open_privacy_jobs``."""
    value: int = await tx.conn.fetchval(
        "SELECT count(*) FROM privacy_requests WHERE tenant_id = $1 AND status = 'pending'", tx.tenant_id
    )
    return value


async def get_request(tx: Tx, request_id: str, kind: str) -> PrivacyRequest:
    row = await _find(tx, request_id, kind)
    return _request(row)


async def _find(tx: Tx, request_id: str, kind: str) -> Any:
    prefix = "exp" if kind == "export" else "era"
    row = None
    if looks_like_id(request_id, prefix):
        row = await tx.conn.fetchrow(
            "SELECT id, kind, status, subject, subject_hash, created_at, due_at, completed_at,"
            " result::text AS result FROM privacy_requests WHERE tenant_id = $1 AND id = $2"
            " AND kind = $3",
            tx.tenant_id,
            request_id,
            kind,
        )
    if row is None:
        raise NotFound(f"No such {kind} request.")
    return row


async def download_export(tx: Tx, request_id: str) -> bytes | None:
    """The finished bundle, or None while it is being prepared."""
    row = await _find(tx, request_id, "export")
    if row["status"] != "done" or row["result"] is None:  # not ready, or withdrawn by an erasure
        return None
    return str(row["result"]).encode()


async def processing_record(tx: Tx) -> ProcessingRecord:
    """Register of processing activities (Art. 30) from the collections' metadata."""
    assert tx.tenant_id is not None
    tenant = await get_tenant(tx, tx.tenant_id)
    collections = await records.all_collections(tx)
    return ProcessingRecord(
        controller={"tenant_id": tenant.id, "name": tenant.name},
        region=tenant.region,
        generated_at=utcnow(),
        activities=[records.processing_facts(c) for c in collections],
    )


# --- job handlers ---------------------------------------------------------------------------


async def run_export(tx: Tx, job: Job, now: datetime, master: bytes) -> None:
    row = await _find(tx, job.ref, "export")
    if row["status"] == "done":
        return None
    found = await records.find_subject_records(tx, row["subject"])
    ids = [r["id"] for rs in found.values() for r in rs]
    assert tx.tenant_id is not None
    await audit.seal_pending(tx.conn, tx.tenant_id)
    events = await audit.events_for_targets(tx.conn, tx.tenant_id, ids)
    events = await audit.reveal_personal(tx.conn, master, tx.tenant_id, bytes(row["subject_hash"]), events)
    register = await processing_record(tx)
    bundle = SubjectExport(
        subject=row["subject"],
        generated_at=now,
        region=register.region,
        records=found,
        audit_events=events,
        processing=register.activities,
    )
    await tx.conn.execute(
        "UPDATE privacy_requests SET status = 'done', completed_at = $3, result = $4::jsonb"
        " WHERE tenant_id = $1 AND id = $2",
        tx.tenant_id,
        job.ref,
        now,
        encode(bundle).decode(),
    )
    tx.emit("privacy.export_completed", "privacy_request", job.ref)
    return None


async def run_erasure(tx: Tx, job: Job, now: datetime) -> None:
    row = await _find(tx, job.ref, "erasure")
    if row["status"] == "done":
        return None
    counts = await records.erase_subject(tx, row["subject"])
    assert tx.tenant_id is not None
    await audit.seal_pending(tx.conn, tx.tenant_id)
    await audit.shred_subject(tx.conn, tx.tenant_id, bytes(row["subject_hash"]))
    # Forget the subject value itself; the keyed hash remains to prove what was done.
    await tx.conn.execute(
        "UPDATE privacy_requests SET status = 'done', completed_at = $3, subject = NULL,"
        " result = $4::jsonb WHERE tenant_id = $1 AND id = $2",
        tx.tenant_id,
        job.ref,
        now,
        orjson.dumps({"erased": counts}).decode(),
    )
    # Exports of this subject hold personal data too: drop their bundles and subject.
    await tx.conn.execute(
        "UPDATE privacy_requests SET subject = NULL, result = NULL WHERE tenant_id = $1"
        " AND kind = 'export' AND subject_hash = $2",
        tx.tenant_id,
        row["subject_hash"],
    )
    tx.emit(
        "privacy.erasure_completed",
        "subject",
        bytes(row["subject_hash"]).hex(),
        request=job.ref,
        erased=counts,
    )
    return None


async def run_retention(tx: Tx, job: Job, now: datetime) -> datetime:
    """Delete expired records; runs again every hour. A missed run catches up at once."""
    await records.expire_records(tx, now)
    return now + RETENTION_EVERY


async def schedule_retention(tx: Tx) -> None:
    """Before-commit hook: a collection with a retention period gets the periodic job."""
    if any(e.action in ("collection.created", "collection.updated") for e in tx.events):
        await jobs.enqueue(tx, "privacy.retention", "*")


def handlers(master: bytes) -> dict[str, jobs.Handler]:
    """Job handlers of this module; exports need the master key to decrypt audit values."""

    async def export(tx: Tx, job: Job, now: datetime) -> None:
        await run_export(tx, job, now, master)

    return {
        "privacy.export": export,
        "privacy.erasure": run_erasure,
        "privacy.retention": run_retention,
    }
