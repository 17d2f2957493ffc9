"""Durable background jobs in PostgreSQL.

A job is a row in ``jobs``, inserted in the same transaction as the request that asks for
it, so an accepted job is never lost. Workers claim due jobs with ``FOR UPDATE SKIP
LOCKED`` and a lease (``locked_until``); a worker that crashes mid-run lets its lease run
out and the job runs again. We use this ~80-line queue rather than procrastinate because
the work must run inside the tenant's row-level-security scope on our own pool, and
procrastinate brings its own schema, connector and worker process model for what is here
one claim query; the trade-off is recorded in docs/adr/0005-job-queue.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fundament.platform import Clock, Database, RequestContext, Tx, utcnow

__all__ = ["Job", "Worker", "enqueue"]

log = logging.getLogger("fundament.jobs")


@dataclass(frozen=True)
class Job:
    id: int
    tenant_id: str
    kind: str
    ref: str
    attempts: int


#: A handler runs a job inside a transaction scoped to the job's tenant and may return a
#: datetime to run the same job again then (periodic work), or None when done.
Handler = Callable[[Tx, Job, datetime], Awaitable[datetime | None]]


@dataclass(frozen=True)
class Detached:
    """A handler that opens its own transactions: for work that is long and spans several
    databases (a tenant move), which must not hold one transaction open throughout, nor
    pass its tenant's write gate (the move freezes that very gate). ``run`` returns what a
    :data:`Handler` returns; the worker marks the job done or due again afterwards."""

    run: Callable[[Job, datetime], Awaitable[datetime | None]]


_DONE = "UPDATE jobs SET done_at = $2 WHERE id = $1"
_AGAIN = "UPDATE jobs SET run_at = $2, locked_until = NULL, attempts = 0 WHERE id = $1"


async def enqueue(
    tx: Tx, kind: str, ref: str, *, run_at: datetime | None = None, sooner: bool = False
) -> None:
    """Schedule a job for ``tx``'s tenant, committed with ``tx``; an open duplicate is kept,
    and with ``sooner`` moved up to ``run_at`` if it was due later (a replayed delivery)."""
    conflict = "DO UPDATE SET run_at = least(jobs.run_at, EXCLUDED.run_at)" if sooner else "DO NOTHING"
    await tx.conn.execute(
        "INSERT INTO jobs (tenant_id, kind, ref, run_at) VALUES ($1, $2, $3, $4)"
        f" ON CONFLICT (tenant_id, kind, ref) WHERE done_at IS NULL {conflict}",
        tx.tenant_id,
        kind,
        ref,
        run_at or utcnow(),
    )


async def enqueue_many(tx: Tx, kind: str, refs: list[str], *, run_at: datetime | None = None) -> None:
    """:func:`enqueue` of many jobs of one kind in one statement (a webhook fan-out)."""
    if not refs:
        return
    await tx.conn.execute(
        "INSERT INTO jobs (tenant_id, kind, ref, run_at) SELECT $1, $2, r, $4 FROM unnest($3::text[]) AS r"
        " ON CONFLICT (tenant_id, kind, ref) WHERE done_at IS NULL DO NOTHING",
        tx.tenant_id,
        kind,
        refs,
        run_at or utcnow(),
    )


_CLAIM = (
    "UPDATE jobs SET locked_until = $1::timestamptz + $2::interval, attempts = attempts + 1"
    " WHERE id = (SELECT id FROM jobs WHERE done_at IS NULL AND run_at <= $1 AND kind = ANY($3::text[])"
    " AND (locked_until IS NULL OR locked_until < $1) ORDER BY run_at"
    " FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id, tenant_id, kind, ref, attempts"
)


class Worker:
    """Claims and runs due jobs; ``run_once`` for tests, ``run_forever`` in production.

    A worker claims only the kinds it has handlers for, so workers of different kinds
    (exports beside webhook deliveries, each with its own lease) share the one queue."""

    def __init__(
        self,
        db: Database,
        handlers: dict[str, Handler | Detached],
        *,
        clock: Clock = utcnow,
        lease: timedelta = timedelta(minutes=5),
        max_attempts: int = 10,
        poll_seconds: float = 1.0,
        share: float = 1.0,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("a worker's share of time is above 0 and at most 1")
        self.db = db
        # After a job of d seconds the worker rests d × (1 − share) / share: a queue of one
        # tenant's exports then takes at most this share of the process and of a database
        # core, and requests (of every tenant) keep the rest.
        self._rest = (1 - share) / share
        self.handlers = handlers
        self.clock = clock
        self.lease = lease
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds

    async def run_once(self) -> int:
        """Run every job due now (by the worker's clock), of every cell's queue (a cell
        keeps its tenants' jobs); return how many ran."""
        ran = 0
        for db in self.db.every_cell():
            ran += await self._drain(db)
        return ran

    async def _drain(self, db: Database) -> int:
        ran = 0
        while True:
            now = self.clock()
            async with db.pool.acquire() as conn:
                row = await conn.fetchrow(_CLAIM, now, self.lease, list(self.handlers))
            if row is None:
                return ran
            began = time.monotonic()
            await self._run(db, Job(**dict(row)), now)
            ran += 1
            if self._rest:
                await asyncio.sleep((time.monotonic() - began) * self._rest)

    async def _run(self, db: Database, job: Job, now: datetime) -> None:
        ctx = RequestContext(request_id=f"job-{job.id}")
        handler = self.handlers.get(job.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind!r}")
            if isinstance(handler, Detached):
                again = await handler.run(job, now)
                async with db.pool.acquire() as conn:
                    await conn.execute(*((_DONE, job.id, now) if again is None else (_AGAIN, job.id, again)))
                return
            # On the cell whose queue held the job, where the job's rows are; through the
            # tenant's write gate, so a job waits out a move's freeze and never writes to
            # a cell its tenant has left (it fails there, and its copy runs on the new cell).
            async with db.on_cell(ctx, job.tenant_id, read_only=False) as tx:
                again = await handler(tx, job, now)
                if again is None:
                    await tx.conn.execute(_DONE, job.id, now)
                else:  # periodic: the same row runs again later
                    await tx.conn.execute(_AGAIN, job.id, again)
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            retry = now + timedelta(seconds=min(3600, 2**job.attempts))
            async with db.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE jobs SET locked_until = NULL, run_at = $2, last_error = $3,"
                    " done_at = CASE WHEN attempts >= $4 THEN $5::timestamptz END WHERE id = $1",
                    job.id,
                    retry,
                    repr(exc)[:500],
                    self.max_attempts,
                    now,
                )

    async def run_forever(self, *, idle_seconds: float | None = None) -> None:
        """Run due jobs until cancelled, looking again every ``idle_seconds`` (default
        ``poll_seconds``) when there are none."""
        if idle_seconds is None:
            idle_seconds = self.poll_seconds
        while True:
            try:
                if await self.run_once() == 0:
                    await asyncio.sleep(idle_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away; try again shortly
                log.exception("job worker loop failed")
                await asyncio.sleep(idle_seconds * 5)


def start_in_background(worker: Worker) -> Any:
    """Run ``worker`` as a task of the current loop; returns a stopper coroutine function."""
    task = asyncio.create_task(worker.run_forever())

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop


async def queue_depth(db: Database) -> int:
    """Jobs not yet done (due or scheduled), for the metrics gauge."""
    async with db.pool.acquire() as conn:
        value: int = await conn.fetchval("SELECT count(*) FROM jobs WHERE done_at IS NULL")
    return value


__all__ += ["Detached", "Handler", "enqueue_many", "queue_depth", "start_in_background"]
