"""Prometheus metrics: request rate, errors and latency per route template, database and
job queue gauges. Labels are bounded: method, route template and status class only;
never a tenant or record id.

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``fundament serve``)
makes every worker write its samples to files that any worker's ``/metrics`` aggregates.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import Counter as PromCounter
from prometheus_client.multiprocess import MultiProcessCollector

from fundament.platform import Exchange

log = logging.getLogger("fundament.metrics")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = PromCounter(
    "fundament_http_requests", "HTTP requests answered.", ["method", "route", "status_class"]
)
LATENCY = Histogram(
    "fundament_http_request_duration_seconds",
    "Server time per request, first byte in to last byte out.",
    ["method", "route", "status_class"],
    buckets=_LATENCY_BUCKETS,
)
DB_LATENCY = Histogram(
    "fundament_db_transaction_duration_seconds",
    "Database time per transaction (pool wait included).",
    buckets=_LATENCY_BUCKETS,
)
POOL = Gauge(
    "fundament_db_pool_connections",
    "Connections of the request pool.",
    ["state"],
    multiprocess_mode="livesum",
)
QUEUE = Gauge("fundament_jobs_queue_depth", "Background jobs not yet done.", multiprocess_mode="livemax")
USAGE_BUFFER = Gauge(
    "fundament_usage_buffered_rows", "Usage roll-up rows not yet flushed.", multiprocess_mode="livesum"
)


class RequestMetrics:
    """The edge observer; children are cached per label set (``labels()`` is not free)."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, exchange: Exchange) -> None:
        method = exchange.method if exchange.method in _METHODS else "OTHER"
        key = (method, exchange.route or "(unmatched)", exchange.status_class)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (REQUESTS.labels(*key), LATENCY.labels(*key))
        children[0].inc()
        children[1].observe(exchange.duration)


def observe_db(seconds: float) -> None:
    DB_LATENCY.observe(seconds)


Probe = Callable[[], Awaitable[None]]


def exposition(probes: list[Probe]) -> Callable[[], Awaitable[tuple[bytes, str]]]:
    async def render() -> tuple[bytes, str]:
        for probe in probes:
            try:
                await probe()
            except Exception as exc:  # a gauge we cannot read now must not fail the scrape
                log.debug("metrics probe failed: %s", exc)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

    return render
