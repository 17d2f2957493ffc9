"""Plan quotas on records and stored bytes, enforced before commit.

Stored bytes are the tenant's record documents plus its audit trail (the event details,
where every write's sealed personal values stay for good): PostgreSQL's own sizes, from
``records.footprint`` and ``audit.footprint``. A transaction's delta counts the audit bytes
it added (``audit.recorded_bytes``; the audit hook runs before this one). Only a transaction
that writes records can be refused: a delete, an erasure or an admin change adds an audit
event too, but refusing those would trap a tenant at its cap.

Counting a tenant's records on every write would cost a scan per request, so each
instance keeps an estimate: an exact measurement (refreshed every ``refresh_seconds``)
plus the writes it committed since. Far from the cap, the estimate decides and the write
pays nothing. Near the cap (within ``margin``), the write takes a per-tenant advisory
lock and measures exactly inside its own transaction, which already holds its own rows:
concurrent writers near the cap are serialised and the cap is exact, on any number of
instances. A refused write raises before commit, so nothing of it is kept.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson

from fundament import audit
from fundament import records as records_module
from fundament.platform import QuotaExceeded, T, Tx
from fundament.tenancy import PlanLookup

_GONE = ("record.deleted", "record.erased", "record.expired")
_WRITTEN = ("record.created", "record.updated", "record.replaced", "record.patched")

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('fundament.quota:' || $1, 0))"


@dataclass(slots=True)
class _Estimate:
    records: int
    stored_bytes: int
    measured_at: float


def _size(data: object) -> int:
    return len(orjson.dumps(data)) if data is not None else 0


class QuotaGuard:
    def __init__(self, plans: PlanLookup, *, refresh_seconds: float = 30.0) -> None:
        self._plans = plans
        self._refresh = refresh_seconds
        self._estimates: dict[str, _Estimate] = {}
        #: Tenants being measured now. A measurement reads every record and audit event of
        #: the tenant; when an estimate went stale under load, every concurrent write would
        #: otherwise measure at once (64 creates: each waited 0.6 s, some past the deadline).
        self._measuring: dict[str, asyncio.Event] = {}

    @staticmethod
    def _delta(tx: Tx) -> tuple[int, int, bool]:
        """Records added, bytes added (records and audit), and whether records were written."""
        records = 0
        grown = audit.recorded_bytes(tx)
        writes = False
        for event in tx.events:
            if event.target_type != "record":
                continue
            if event.action == "record.created":
                records += 1
                writes = True
                grown += _size(event.details.get("data"))
            elif event.action in _WRITTEN:
                writes = True
                grown += _size(event.details.get("data")) - _size(event.details.get("before"))
            elif event.action in _GONE:
                records -= 1
                grown -= _size(event.details.get("before"))
        return records, grown, writes

    async def before_commit(self, tx: Tx) -> None:
        tenant_id = tx.tenant_id
        if tenant_id is None or not tx.events:
            return
        records, grown, writes = self._delta(tx)
        if records == 0 and grown == 0:
            return
        tx.notes["quota"] = (records, grown)
        if not writes or (records <= 0 and grown <= 0):
            return
        plan = await self._plans.plan_of(tenant_id)
        if plan is None:
            return
        estimate = self._estimates.get(tenant_id)
        if estimate is None or time.monotonic() - estimate.measured_at > self._refresh:
            estimate = await self._fresh_estimate(tx, tenant_id, records, grown, estimate)
        near_records = estimate.records + records > plan.max_records - max(100, plan.max_records // 20)
        near_bytes = estimate.stored_bytes + grown > plan.max_stored_bytes - max(
            1 << 20, plan.max_stored_bytes // 20
        )
        if not (near_records or near_bytes):
            return
        await tx.conn.execute(_LOCK, tenant_id)
        exact = await self._measure(tx, tenant_id, records, grown)
        after_records, after_bytes = exact.records + records, exact.stored_bytes + grown
        checks = (
            ("max_records", records, after_records, plan.max_records, T.QUOTA_RECORDS, "records", ""),
            (
                "max_stored_bytes",
                grown,
                after_bytes,
                plan.max_stored_bytes,
                T.QUOTA_STORED_BYTES,
                "stored bytes",
                "about ",
            ),
        )
        for quota, delta, after, limit, problem_type, unit, approx in checks:
            if delta > 0 and after > limit:
                raise QuotaExceeded(
                    f"The plan '{plan.name}' allows {limit} {unit}; this write would make "
                    f"{approx}{after}. Nothing was written.",
                    type=problem_type,
                    extra={"quota": quota, "limit": limit, "plan": plan.name},
                )

    async def _fresh_estimate(
        self, tx: Tx, tenant_id: str, records: int, grown: int, stale: _Estimate | None
    ) -> _Estimate:
        """One measurement per tenant at a time: others use the stale estimate meanwhile
        (the margin is there for that), or, with none yet, wait for the one in flight."""
        running = self._measuring.get(tenant_id)
        if running is not None:
            if stale is not None:
                return stale
            await running.wait()
            measured = self._estimates.get(tenant_id)
            if measured is not None:
                return measured
        done = self._measuring[tenant_id] = asyncio.Event()
        try:
            return await self._measure(tx, tenant_id, records, grown)
        finally:
            del self._measuring[tenant_id]
            done.set()

    async def _measure(self, tx: Tx, tenant_id: str, records: int, grown: int) -> _Estimate:
        """Measure inside ``tx`` and return the state *without* this transaction's writes."""
        count, size = await records_module.footprint(tx)
        size += await audit.footprint(tx)
        # The records written are in the table by now; this transaction's audit rows are
        # not (they go in with the staged rows, after every hook).
        written = grown - audit.recorded_bytes(tx)
        estimate = _Estimate(count - records, max(0, size - written), time.monotonic())
        self._estimates[tenant_id] = estimate
        return estimate

    def after_commit(self, tx: Tx) -> None:
        delta = tx.notes.get("quota")
        if delta is None or tx.tenant_id is None:
            return
        records, grown = delta
        estimate = self._estimates.get(tx.tenant_id)
        if estimate is not None:
            estimate.records += records
            estimate.stored_bytes = max(0, estimate.stored_bytes + grown)
