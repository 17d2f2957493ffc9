"""Operations: liveness, readiness, Prometheus metrics, OpenTelemetry traces, JSON logs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fundament.ops.logs import JSONFormatter, flush_access_log, log_request
from fundament.ops.metrics import (
    POOL,
    QUEUE,
    USAGE_BUFFER,
    RequestMetrics,
    exposition,
    observe_db,
    observe_replicas,
)
from fundament.ops.tracing import (
    TracingMiddleware,
    connection_wrapper,
    current_trace_id,
    disable_tracing,
    enable_tracing,
    flush_traces,
)
from fundament.platform import Database

__all__ = [
    "POOL",
    "QUEUE",
    "USAGE_BUFFER",
    "JSONFormatter",
    "Needs",
    "RequestMetrics",
    "TracingMiddleware",
    "connection_wrapper",
    "current_trace_id",
    "disable_tracing",
    "enable_tracing",
    "exposition",
    "flush_access_log",
    "flush_traces",
    "install",
    "log_request",
    "observe_db",
    "observe_replicas",
]


class Needs(Protocol):
    """What the probes and ``/metrics`` read from the services object."""

    @property
    def db(self) -> Database: ...

    @property
    def shutting_down(self) -> bool:
        """Set on SIGTERM: /readyz answers 503 so the load balancer stops sending."""
        ...

    @property
    def expected_migration(self) -> str:
        """The head revision of this release's migrations."""
        ...

    @property
    def known_migrations(self) -> frozenset[str]:
        """Every revision this release has a migration for."""
        ...

    @property
    def metrics(self) -> Callable[[], Awaitable[tuple[bytes, str]]] | None:
        """Renders the exposition: ``(body, content type)``; None when metrics are off."""
        ...


def install(app: Any, *, metrics_token: str | None = None) -> None:
    """Mount ``/healthz``, ``/readyz`` and ``/metrics`` (operator key or ``metrics_token``)."""
    from fundament.ops.api import metrics_router, router

    app.include_router(router)
    app.include_router(metrics_router(metrics_token))
