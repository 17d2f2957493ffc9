"""Operations: liveness, readiness, Prometheus metrics, OpenTelemetry traces, JSON logs."""

from __future__ import annotations

from typing import Any

from fundament.ops.logs import JSONFormatter, log_request
from fundament.ops.metrics import POOL, QUEUE, USAGE_BUFFER, RequestMetrics, exposition, observe_db
from fundament.ops.tracing import (
    TracingMiddleware,
    connection_wrapper,
    current_trace_id,
    disable_tracing,
    enable_tracing,
    flush_traces,
)

__all__ = [
    "POOL",
    "QUEUE",
    "USAGE_BUFFER",
    "JSONFormatter",
    "RequestMetrics",
    "TracingMiddleware",
    "connection_wrapper",
    "current_trace_id",
    "disable_tracing",
    "enable_tracing",
    "exposition",
    "flush_traces",
    "install",
    "log_request",
    "observe_db",
]


def install(app: Any, *, metrics_token: str | None = None) -> None:
    """Mount ``/healthz``, ``/readyz`` and ``/metrics`` (operator key or ``metrics_token``)."""
    from fundament.ops.api import metrics_router, router

    app.include_router(router)
    app.include_router(metrics_router(metrics_token))
