"""Server-sent event streams of a tenant's changes, read from the outbox.

A stream reads ``events`` in the tenant's own (read-only) transaction, so row-level
security applies to every event it sends, deletes included; ``seq`` is its ``id:``, and
resuming after a seq (``Last-Event-ID``) reads on from the outbox, so a client that
reconnects misses nothing and sees nothing twice. Between reads it waits to be woken: by
this instance's sequencer, or by another instance's through the invalidation channel
(``events:<tenant>``; NOTIFY only wakes, the outbox is what is read), and at least every
second, when it also checks that its key is still valid (a revoked key's stream ends
within a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from fundament import records
from fundament.events.outbox import WAKE_PREFIX, change_event
from fundament.platform import (
    BadRequest,
    Database,
    Problem,
    RequestContext,
    T,
    TooManyRequests,
    encode,
)

#: Events read per query; a client far behind catches up in pages of this many.
_PAGE = 200


@dataclass
class _Tenant:
    open: int = 0
    wakers: set[asyncio.Event] = field(default_factory=set)


class Feeds:
    """The open streams of this instance, by tenant: their bound and their wake-ups."""

    def __init__(self, db: Database, *, keepalive_seconds: float = 15.0, max_seconds: float = 3600.0) -> None:
        self.db = db
        self.keepalive_seconds = keepalive_seconds
        self.max_seconds = max_seconds
        #: How often a stream looks without being woken, and checks its key.
        self.check_seconds = 1.0
        self._tenants: dict[str, _Tenant] = {}
        db.on_invalidate(self._on_message)

    def _on_message(self, message: str) -> None:
        if message == "*":  # the listener reconnected: anything may have been missed
            for tenant_id in list(self._tenants):
                self.wake(tenant_id)
        elif message.startswith(WAKE_PREFIX):
            self.wake(message[len(WAKE_PREFIX) :])

    def wake(self, tenant_id: str) -> None:
        state = self._tenants.get(tenant_id)
        if state is not None:
            for waker in state.wakers:
                waker.set()

    def open_streams(self, tenant_id: str) -> int:
        state = self._tenants.get(tenant_id)
        return state.open if state else 0

    def check(self, tenant_id: str, limit: int) -> None:
        """429 when the tenant has ``limit`` streams open here. Checked before the answer
        starts, counted once the stream runs (:meth:`admit`): a stream whose client left
        before it started then holds no slot; streams opened in the same instant may pass
        the bound by a few."""
        if self.open_streams(tenant_id) >= limit:
            raise TooManyRequests(
                f"The plan allows {limit} open event streams per instance; close one first.",
                headers={"Retry-After": "5"},
                type=T.RATE_LIMITED,
            )

    @contextlib.contextmanager
    def admit(self, tenant_id: str) -> Iterator[asyncio.Event]:
        """A running stream's slot and wake-up."""
        state = self._tenants.setdefault(tenant_id, _Tenant())
        waker = asyncio.Event()
        state.open += 1
        state.wakers.add(waker)
        try:
            yield waker
        finally:
            state.open -= 1
            state.wakers.discard(waker)
            if not state.open:
                self._tenants.pop(tenant_id, None)


def resume_after(last_event_id: str | None, after: int | None) -> int | None:
    """Where a stream resumes: ``Last-Event-ID`` (what a reconnecting browser sends) wins."""
    if last_event_id is not None:
        text = last_event_id.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise BadRequest("Last-Event-ID must be the seq of an event this stream sent.")
        return int(text)
    return after


@dataclass
class Query:
    """The read a stream repeats: its SQL and parameters (``args[1]`` is the seq to read after)."""

    sql: str
    args: list[Any]


def build_query(tenant_id: str, collection: str | None, filter_text: str | None, fields: Any) -> Query:
    args: list[Any] = [tenant_id, 0]
    where = "tenant_id = $1 AND seq > $2"
    if collection is not None:
        args.append(collection)
        where += " AND collection = $3"
    matches = "TRUE"
    if filter_text:
        # Over the record after the change, with the records' own grammar and columns.
        matches = records.change_filter_sql(filter_text, args, fields)
    sql = (
        "SELECT seq AS event_seq, event_id, at AS event_at, type, collection, record_id,"
        f" data::text AS data, {matches} AS matches FROM (SELECT seq, id AS event_id, at, type,"
        " collection, record_id, data, record_id AS id, at AS created_at, at AS updated_at"
        f" FROM events WHERE {where} ORDER BY seq LIMIT {_PAGE}) AS r"
        " ORDER BY seq"
    )
    return Query(sql, args)


async def head(db: Database, ctx: RequestContext) -> int:
    """The tenant's newest seq (a stream with nothing to resume from starts there)."""
    async with db.transaction(ctx, read_only=True) as tx:
        value: int = await tx.conn.fetchval(
            "SELECT coalesce(max(seq), 0) FROM events WHERE tenant_id = $1", tx.tenant_id
        )
    return value


def _message(rec: asyncpg.Record) -> bytes:
    event = change_event(rec)
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.seq, event.type.encode(), encode(event))


async def stream(
    feeds: Feeds, ctx: RequestContext, query: Query, after: int, still_valid: Any
) -> AsyncIterator[bytes]:
    """The stream's messages from after ``after`` on, until the client leaves, its key
    stops being valid, or it has been open ``feeds.max_seconds`` (the client resumes)."""
    with feeds.admit(str(ctx.tenant_id)) as waker:
        async for chunk in _messages(feeds, ctx, query, after, waker, still_valid):
            yield chunk


async def _messages(
    feeds: Feeds, ctx: RequestContext, query: Query, after: int, waker: asyncio.Event, still_valid: Any
) -> AsyncIterator[bytes]:
    began = last_sent = last_check = time.monotonic()
    yield b": stream open\n\n"
    while True:
        waker.clear()  # before reading: a wake-up during the read is not lost
        async with feeds.db.transaction(ctx, read_only=True) as tx:
            rows = await tx.conn.fetch(query.sql, *[query.args[0], after, *query.args[2:]])
        if rows:
            after = rows[-1]["event_seq"]
            chunk = b"".join(_message(r) for r in rows if r["matches"])
            if chunk:
                yield chunk
                last_sent = time.monotonic()
            if len(rows) == _PAGE:
                continue
        left = began + feeds.max_seconds - time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waker.wait(), max(0.0, min(feeds.check_seconds, left)))
        now = time.monotonic()
        if now - last_check >= feeds.check_seconds:
            last_check = now
            try:
                await still_valid()
            except Problem:  # revoked, expired, or not to be checked now: the client reconnects
                return
        if now - began >= feeds.max_seconds:
            yield b"retry: 1000\n\n"
            return
        if now - last_sent >= feeds.keepalive_seconds:
            yield b": keep-alive\n\n"
            last_sent = now
