"""What the edge knows about one request, for the hooks that watch every request.

The edge creates one :class:`Exchange` per request and makes it the current one; later
stages fill in what only they know (the router the route template, authentication the
tenant, the database its time). When the response is sent, every registered observer
(metering, metrics, the access log) gets the finished exchange. Observers run on the hot
path: they must be cheap, must not block, and must not raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

_log = logging.getLogger("fundament")


@dataclass(slots=True)
class Exchange:
    method: str
    path: str
    request_id: str
    started: float
    trace_id: str | None = None
    #: Route template such as ``GET /v1/tenants/{tenant}``'s path part; None if unmatched.
    route: str | None = None
    #: The tenant the request acts for (path tenant, else the key's tenant).
    tenant_id: str | None = None
    #: The tenant key that made the request (operator keys are not metered per key).
    key_id: str | None = None
    #: The client's address: behind a trusted load balancer, from its X-Forwarded-For.
    client: str | None = None
    status: int = 0
    bytes_in: int = 0
    #: The request's Content-Length, if it sent one (known before the body is read).
    declared_bytes: int = 0
    bytes_out: int = 0
    db_seconds: float = 0.0
    duration: float = 0.0
    #: Extra response headers set by lifecycle hooks (rate-limit state, for one).
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    #: The WAL position (LSN) the request's reads must see: the client's
    #: ``Fundament-Consistency`` token, raised by each commit the request makes.
    consistency: int = 0
    #: The client's token was malformed: refused (400) once the request is authenticated,
    #: so a caller without a key learns nothing but 401.
    consistency_refused: bool = False
    #: The request's deadline (an ``asyncio.Timeout``) while it runs under one; a stream
    #: that is meant to stay open lifts it (:func:`lift_deadline`).
    deadline: Any = None

    @property
    def feature(self) -> str:
        """What metering calls a feature: method and route template."""
        return f"{self.method} {self.route or '(unmatched)'}"

    @property
    def status_class(self) -> str:
        return f"{self.status // 100}xx" if self.status else "none"


Observer = Callable[[Exchange], None]

current_exchange: ContextVar[Exchange | None] = ContextVar("fundament_exchange", default=None)


def lift_deadline() -> None:
    """Let the current request run past ``FUNDAMENT_REQUEST_TIMEOUT_SECONDS``: for a stream
    (server-sent events) whose end is the client's to choose, once it has been admitted."""
    exchange = current_exchange.get()
    if exchange is not None and exchange.deadline is not None:
        exchange.deadline.reschedule(None)


def add_db_time(seconds: float) -> None:
    exchange = current_exchange.get()
    if exchange is not None:
        exchange.db_seconds += seconds


def attribute_tenant(tenant_id: str | None, key_id: str | None = None) -> None:
    """Name the tenant (and key) the current request is for, once it is authenticated."""
    exchange = current_exchange.get()
    if exchange is not None and tenant_id:
        exchange.tenant_id = tenant_id
        if key_id is not None:
            exchange.key_id = key_id


def background(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run ``work`` as a task of its own, outside the request that started it: a task
    inherits its creator's context variables, and work a request sets off (sealing the
    audit trail, numbering change events) is not that request's: its transactions must not
    answer the request's commit position (a round trip each), add to its database time or
    log under its request id."""
    return asyncio.get_running_loop().create_task(work, context=contextvars.Context())


class TenantBatches:
    """Work per tenant run after commits, one run at a time per tenant, batched.

    ``kick(tenant)`` after a commit starts ``work(tenant)`` in the background a moment later
    (``delay``: concurrent writes of the tenant join one batch, one transaction for many
    rows), unless a run of that tenant is on; then that run goes round once more when done,
    so nothing committed during a run waits for the tenant's next write. A failing run is
    logged and left to the next kick (or a sweep). The audit trail's sealer and the change
    events' sequencer are two of these.
    """

    def __init__(
        self, work: Callable[[str], Coroutine[Any, Any, object]], *, delay: float, what: str
    ) -> None:
        self._work = work
        self._delay = delay
        self._what = what
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    def kick(self, tenant_id: str) -> None:
        if tenant_id in self._running:
            self._again.add(tenant_id)
            return
        self._running[tenant_id] = background(self._run(tenant_id))

    async def _run(self, tenant_id: str) -> None:
        try:
            await asyncio.sleep(self._delay)
            while True:
                self._again.discard(tenant_id)
                try:
                    await self._work(tenant_id)
                except Exception:
                    _log.exception("%s failed", self._what, extra={"tenant": tenant_id})
                    return
                if tenant_id not in self._again:
                    return
        finally:
            self._running.pop(tenant_id, None)

    async def close(self) -> None:
        """Wait for the runs under way (their commits are answers already given)."""
        for task in list(self._running.values()):
            with contextlib.suppress(Exception):
                await task
