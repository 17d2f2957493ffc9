"""The transactional outbox: every record and collection change as one event, per tenant
in gap-free ``seq`` order.

Two steps, as audit's trail (and for the same reason: numbering inside the write would hold
the tenant's counter row locked through COMMIT, so its writers would queue on the WAL flush):

1. :func:`record_pending`, a before-commit hook, inserts the transaction's changes into
   ``event_pending`` in the write's own transaction: a change without its event (or the
   reverse) cannot commit.
2. :func:`sequence_pending` moves a tenant's committed changes into ``events``, numbering
   them under the tenant's ``event_heads`` row lock, so sequencers of one tenant (on any
   instance) take turns and a reader never sees seq N+1 before N. In the same transaction
   it hands each new event to the webhook fan-out: an event is numbered and its deliveries
   scheduled together, or neither.

The :class:`Sequencer` runs step 2 after each commit; a sweep every few seconds catches what
a crashed process committed but never numbered. LISTEN/NOTIFY is not used for any of it:
it is not durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from fundament import jobs, tenancy
from fundament.events.schemas import ChangeEvent
from fundament.platform import (
    Database,
    RequestContext,
    TenantBatches,
    Tx,
    WriteEvent,
    new_id,
    utcnow,
)

log = logging.getLogger("fundament.events")

_PENDING_COLUMNS = {
    "id": "text",
    "at": "timestamptz",
    "type": "text",
    "collection": "text",
    "record_id": "text",
    "data": "jsonb",
}

#: The write events (``tx.emit`` actions) that are changes, and the type each becomes.
TYPES: dict[str, str] = {
    "record.created": "record.created",
    "record.replaced": "record.updated",
    "record.updated": "record.updated",
    "record.anonymized": "record.updated",
    "record.deleted": "record.deleted",
    "record.erased": "record.deleted",
    "record.expired": "record.deleted",
    "collection.created": "collection.created",
    "collection.updated": "collection.updated",
    "collection.deleted": "collection.deleted",
}
EVENT_TYPES = tuple(sorted(set(TYPES.values())))

PRUNE_KIND = "events.prune"
#: Invalidation-channel messages ``events:<tenant>`` wake that tenant's streams everywhere.
WAKE_PREFIX = "events:"
#: Committed changes older than this with no number yet were left by a crashed process.
_BACKLOG_AGE = timedelta(seconds=2)


def _change(event: WriteEvent) -> tuple[str, str, str | None, dict[str, Any]] | None:
    """(type, collection, record id, data) of a change, or None for other writes."""
    kind = TYPES.get(event.action)
    if kind is None:
        return None
    if event.target_type == "collection":
        data: dict[str, Any] = {"name": event.target_id}
        if "changed" in event.details:
            data["changed"] = event.details["changed"]
        return kind, event.target_id, None, data
    after = event.details.get("data")
    # A delete (and an anonymisation, whose values are gone) carries the id only.
    if kind == "record.deleted" or not isinstance(after, dict):
        after = {"id": event.target_id}
    return kind, str(event.details.get("collection", "")), event.target_id, after


#: Writes after which a record's earlier events must no longer show its values.
_REDACTING = frozenset({"record.erased", "record.anonymized"})


async def record_pending(tx: Tx) -> None:
    """Before-commit hook: this transaction's changes become pending events, atomically.

    An erasure (or anonymisation) also redacts the record's earlier events, numbered or
    not, to ``{"id"}``: the outbox keeps no personal values of an erased subject, and
    deliveries not yet sent carry none (they are built from the outbox when sent)."""
    if tx.tenant_id is None or not tx.events:
        return
    erased = [e.target_id for e in tx.events if e.action in _REDACTING]
    if erased:
        for table in ("events", "event_pending"):
            await tx.conn.execute(
                f"UPDATE {table} SET data = jsonb_build_object('id', record_id)"
                " WHERE tenant_id = $1 AND record_id = ANY($2::text[])",
                tx.tenant_id,
                erased,
            )
    now = utcnow()
    rows = []
    for e in tx.events:
        change = _change(e)
        if change is not None:
            kind, collection, record_id, data = change
            rows.append((new_id("evt"), now, kind, collection, record_id, orjson.dumps(data).decode()))
    if not rows:
        return
    tx.stage("event_pending", _PENDING_COLUMNS, rows)


def change_event(rec: asyncpg.Record) -> ChangeEvent:
    """An event as answered and delivered, from a row naming its columns ``event_id``,
    ``event_seq``, ``event_at``, ``type``, ``collection``, ``record_id`` and ``data`` (text)."""
    return ChangeEvent(
        id=rec["event_id"],
        seq=rec["event_seq"],
        type=rec["type"],
        collection=rec["collection"],
        record_id=rec["record_id"],
        at=rec["event_at"],
        data=orjson.loads(rec["data"]),
    )


#: Called in the sequencing transaction with the events it numbered (as stored rows).
FanOut = Callable[[Tx, list[asyncpg.Record]], Awaitable[None]]


async def sequence_pending(
    tx: Tx, fan_out: FanOut | None, retention: timedelta, *, schedule_prune: bool = True
) -> int:
    """Number the tenant's committed pending changes; ``tx`` is scoped to the tenant.
    ``schedule_prune`` makes sure the tenant has its (periodic) prune job.

    Returns how many events were numbered."""
    tenant_id = tx.tenant_id
    assert tenant_id is not None
    conn = tx.conn
    # Lock order as audit's sealer: the tenant (against offboarding), then the head.
    if not await tenancy.hold_tenants(conn, (tenant_id,)):
        return 0
    seq = await conn.fetchval(
        "INSERT INTO event_heads (tenant_id, seq) VALUES ($1, 0)"
        " ON CONFLICT (tenant_id) DO UPDATE SET seq = event_heads.seq RETURNING seq",
        tenant_id,
    )
    events = await conn.fetch(
        "WITH p AS (DELETE FROM event_pending WHERE tenant_id = $1 RETURNING *),"
        " numbered AS (SELECT p.*, $2::bigint + row_number() OVER (ORDER BY n) AS seq FROM p)"
        " INSERT INTO events (tenant_id, seq, id, at, type, collection, record_id, data)"
        " SELECT tenant_id, seq, id, at, type, collection, record_id, data FROM numbered"
        " RETURNING seq, id, at, type, collection, record_id, data::text AS data",
        tenant_id,
        seq,
    )
    if not events:
        return 0
    await conn.execute("UPDATE event_heads SET seq = $2 WHERE tenant_id = $1", tenant_id, seq + len(events))
    # One NOTIFY per numbered batch, not per write: it only wakes streams, which then read here.
    tx.invalidate(WAKE_PREFIX + tenant_id)
    if schedule_prune:  # an open prune job is kept
        await jobs.enqueue(tx, PRUNE_KIND, "retention", run_at=utcnow() + prune_interval(retention))
    if fan_out is not None:
        await fan_out(tx, sorted(events, key=lambda r: r["seq"]))
    return len(events)


async def prune(tx: Tx, retention: timedelta) -> int:
    """Delete the tenant's events older than ``retention``; how many went."""
    status = await tx.conn.execute(
        "DELETE FROM events WHERE tenant_id = $1 AND at < $2", tx.tenant_id, utcnow() - retention
    )
    return int(str(status).rsplit(" ", 1)[-1])


def prune_interval(retention: timedelta) -> timedelta:
    """How often a tenant's events are pruned: an event lives at most this past retention."""
    return min(retention, timedelta(hours=1))


def prune_handler(retention: timedelta) -> jobs.Handler:
    async def handle(tx: Tx, job: jobs.Job, now: datetime) -> datetime | None:
        await prune(tx, retention)
        # Periodic for good (the job goes with its tenant): an idle tenant's prune costs one
        # indexed DELETE an hour, and the sequencer need not schedule it on every batch.
        return now + prune_interval(retention)

    return handle


_CTX = RequestContext(request_id="events-sequencer")


class Sequencer:
    """Numbers each tenant's changes soon after they commit (single-flight per tenant), and
    sweeps every ``sweep_seconds`` for changes a crashed process left unnumbered."""

    BATCH_DELAY = 0.02

    def __init__(
        self,
        db: Database,
        *,
        retention: timedelta,
        fan_out: FanOut | None = None,
        sweep_seconds: float = 5.0,
        on_sequenced: Callable[[str], None] | None = None,
    ) -> None:
        self._db = db
        self._retention = retention
        self.fan_out = fan_out
        self._sweep_seconds = sweep_seconds
        self.on_sequenced = on_sequenced
        self._batches = TenantBatches(self.sequence, delay=self.BATCH_DELAY, what="numbering events")
        self._sweeper: asyncio.Task[None] | None = None
        #: Tenants whose prune job this process has made sure of.
        self._pruned: set[str] = set()

    def after_commit(self, tx: Tx) -> None:
        if tx.tenant_id is not None and any(e.action in TYPES for e in tx.events):
            self.kick(tx.tenant_id)

    def kick(self, tenant_id: str) -> None:
        self._batches.kick(tenant_id)

    async def sequence(self, tenant_id: str) -> int:
        schedule = tenant_id not in self._pruned
        async with self._db.transaction(_CTX, tenant_id=tenant_id, read_only=False) as tx:
            count = await sequence_pending(tx, self.fan_out, self._retention, schedule_prune=schedule)
        if count and schedule:
            if len(self._pruned) >= 100_000:  # bounded: forgetting only costs one more enqueue
                self._pruned.clear()
            self._pruned.add(tenant_id)
        if count and self.on_sequenced is not None:
            self.on_sequenced(tenant_id)
        return count

    async def sweep(self) -> int:
        """Number what committed changes of any tenant have waited too long; how many tenants."""
        tenants: list[str] = []
        for db in self._db.every_cell():  # each cell keeps its tenants' outboxes
            async with db.pool.acquire() as conn:
                rows = await conn.fetch("SELECT fundament_event_backlog($1)", _BACKLOG_AGE)
            tenants += [r[0] for r in rows]
        for tenant_id in tenants:
            self.kick(tenant_id)
        return len(tenants)

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                await self.sweep()
            except Exception:  # the database may be away; the next round tries again
                log.exception("event backlog sweep failed")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self._batches.close()
