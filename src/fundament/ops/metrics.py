"""Prometheus metrics: request rate, errors and latency per route template, database and
job queue gauges. Labels are bounded: method, route template and status class only;
never a tenant or record id.

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``fundament serve``)
makes every worker write its samples to files that any worker's ``/metrics`` aggregates.
"""

from __future__ import annotations

import logging
import math
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

from fundament.platform import REPLICA_READ_OUTCOMES, Exchange, ReplicaObservation

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

# Set by each process's replica monitor on every poll (not at scrape time), so with several
# workers every process's view is current; the worst one is what counts.
REPLICA_LAG = Gauge(
    "fundament_db_replica_lag_seconds",
    "How far behind the primary a read replica's state is, at most (0: caught up at the last poll).",
    ["replica"],
    multiprocess_mode="livemax",
)
REPLICA_LAG_BYTES = Gauge(
    "fundament_db_replica_lag_bytes",
    "WAL the primary has written that a read replica has not replayed.",
    ["replica"],
    multiprocess_mode="livemax",
)
REPLICA_HEALTHY = Gauge(
    "fundament_db_replica_healthy",
    "1 while a read replica serves reads, 0 while it is skipped (down, promoted, or lagging "
    "past FUNDAMENT_REPLICA_MAX_LAG_SECONDS).",
    ["replica"],
    multiprocess_mode="livemin",
)
REPLICA_PAUSED = Gauge(
    "fundament_db_replica_replay_paused",
    "1 while a read replica's WAL replay is paused (pg_wal_replay_pause()).",
    ["replica"],
    multiprocess_mode="livemax",
)
STANDBYS = Gauge(
    "fundament_db_primary_standbys",
    "Standbys streaming from the primary, by its pg_stat_replication.",
    multiprocess_mode="livemax",
)
STANDBY_REPLAY_LAG = Gauge(
    "fundament_db_primary_standby_replay_lag_seconds",
    "The largest replay_lag the primary reports in pg_stat_replication (shown only to roles "
    "with pg_read_all_stats: otherwise absent).",
    multiprocess_mode="livemax",
)
READS = PromCounter(
    "fundament_db_reads",
    "Read-only transactions with replicas configured, by where they ran: `replica`, or the "
    "primary because the replica asked had not replayed the request's token (`primary_behind`), "
    "no replica was healthy (`primary_no_replica`), or the replica failed under it "
    "(`primary_failover`).",
    ["served"],
)


def observe_replicas(observation: ReplicaObservation) -> None:
    """The replica monitor's observer: one poll's findings into the gauges."""
    for replica in observation.replicas:
        lag = replica.lag_seconds
        # Not measurable (no answer, never caught up): NaN, Prometheus' "unknown".
        REPLICA_LAG.labels(replica.name).set(lag if math.isfinite(lag) else math.nan)
        REPLICA_LAG_BYTES.labels(replica.name).set(replica.lag_bytes)
        REPLICA_HEALTHY.labels(replica.name).set(1 if replica.healthy else 0)
        REPLICA_PAUSED.labels(replica.name).set(1 if replica.paused else 0)
    if observation.standbys is not None:
        STANDBYS.set(observation.standbys)
    if observation.primary_replay_lag is not None:
        STANDBY_REPLAY_LAG.set(observation.primary_replay_lag)
    for served in REPLICA_READ_OUTCOMES:
        count = observation.reads.get(served, 0)
        if count:
            READS.labels(served).inc(count)


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
