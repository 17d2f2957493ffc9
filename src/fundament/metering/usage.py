"""Reading metered usage back: per tenant, per time bucket and feature."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Literal

from fundament.metering.meter import LATENCY_BOUNDS_MS, percentile
from fundament.metering.schemas import FeatureUsage, Usage, UsageBucket, UsageFigures
from fundament.platform import Tx

_QUERY = """
SELECT date_trunc($4, hour) AS bucket, feature,
       sum(requests)::bigint AS requests,
       sum(requests) FILTER (WHERE status_class IN ('4xx', '5xx'))::bigint AS errors,
       sum(requests) FILTER (WHERE status_class = '5xx')::bigint AS server_errors,
       sum(server_ms) AS server_ms, sum(db_ms) AS db_ms,
       sum(bytes_in)::bigint AS bytes_in, sum(bytes_out)::bigint AS bytes_out
FROM usage_hourly
WHERE tenant_id = $1 AND hour >= date_trunc('hour', $2::timestamptz) AND hour < $3
GROUP BY 1, 2 ORDER BY 1, 2
"""
# Histogram buckets one row per bucket index; rows flushed before histograms existed have none.
_LATENCY = """
SELECT date_trunc($4, hour) AS bucket, feature, h.i::int AS i, sum(h.n)::bigint AS n
FROM usage_hourly, unnest(latency) WITH ORDINALITY AS h(n, i)
WHERE tenant_id = $1 AND hour >= date_trunc('hour', $2::timestamptz) AND hour < $3
GROUP BY 1, 2, 3
"""
_STORAGE = """
SELECT DISTINCT ON (date_trunc($4, hour)) date_trunc($4, hour) AS bucket, records, stored_bytes
FROM storage_hourly
WHERE tenant_id = $1 AND hour >= date_trunc('hour', $2::timestamptz) AND hour < $3
ORDER BY date_trunc($4, hour), hour DESC
"""
_LATEST_STORAGE = (
    "SELECT records, stored_bytes, measured_at FROM storage_hourly"
    " WHERE tenant_id = $1 ORDER BY hour DESC LIMIT 1"
)
_LATEST_STORED = (
    "SELECT DISTINCT ON (tenant_id) tenant_id, stored_bytes FROM storage_hourly ORDER BY tenant_id, hour DESC"
)
_FIELDS = ("requests", "errors", "server_errors", "server_ms", "db_ms", "bytes_in", "bytes_out")


async def latest_stored_bytes(tx: Tx) -> dict[str, int]:
    """Each tenant's stored bytes as last sampled (tenants never sampled are left out);
    ``tx`` in the operator scope, in the control database, where the samples are."""
    return {r["tenant_id"]: r["stored_bytes"] for r in await tx.conn.fetch(_LATEST_STORED)}


def _zero() -> dict[str, float]:
    return dict.fromkeys(_FIELDS, 0)


def _add(into: dict[str, Any], row: Any) -> None:
    for f in _FIELDS:
        into[f] += row[f] or 0


def _rounded(values: dict[str, Any], histogram: list[int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {k: round(v, 3) if isinstance(v, float) else int(v) for k, v in values.items()}
    out["p99_ms"] = percentile(histogram, 0.99) if histogram else None
    return out


def _histogram() -> list[int]:
    return [0] * (len(LATENCY_BOUNDS_MS) + 1)


def _add_histogram(into: list[int], other: list[int]) -> None:
    for i, n in enumerate(other):
        into[i] += n


async def tenant_usage(
    tx: Tx, tenant_id: str, *, start: datetime, end: datetime, granularity: Literal["hour", "day"]
) -> Usage:
    rows = await tx.conn.fetch(_QUERY, tenant_id, start, end, granularity)
    storage = {r["bucket"]: r for r in await tx.conn.fetch(_STORAGE, tenant_id, start, end, granularity)}
    latest = await tx.conn.fetchrow(_LATEST_STORAGE, tenant_id)
    histograms: dict[tuple[datetime, str], list[int]] = defaultdict(_histogram)
    for r in await tx.conn.fetch(_LATENCY, tenant_id, start, end, granularity):
        if r["i"] <= len(LATENCY_BOUNDS_MS) + 1:
            histograms[(r["bucket"], r["feature"])][r["i"] - 1] += r["n"]
    total_histogram = _histogram()
    feature_histograms: dict[str, list[int]] = defaultdict(_histogram)
    bucket_histograms: dict[datetime, list[int]] = defaultdict(_histogram)
    for (stamp, feature), histogram in histograms.items():
        _add_histogram(total_histogram, histogram)
        _add_histogram(feature_histograms[feature], histogram)
        _add_histogram(bucket_histograms[stamp], histogram)
    totals = _zero()
    features: dict[str, dict[str, Any]] = defaultdict(_zero)
    buckets: dict[datetime, dict[str, Any]] = {}
    for r in rows:
        _add(totals, r)
        _add(features[r["feature"]], r)
        bucket = buckets.setdefault(r["bucket"], {"totals": _zero(), "features": {}})
        _add(bucket["totals"], r)
        bucket["features"][r["feature"]] = _rounded(
            {f: r[f] or 0 for f in _FIELDS}, histograms.get((r["bucket"], r["feature"]))
        )
    for stamp in storage:
        buckets.setdefault(stamp, {"totals": _zero(), "features": {}})
    out_buckets = []
    for stamp in sorted(buckets):
        b = buckets[stamp]
        sample = storage.get(stamp)
        out_buckets.append(
            UsageBucket(
                **_rounded(b["totals"], bucket_histograms.get(stamp)),
                start=stamp,
                stored_bytes=sample["stored_bytes"] if sample else None,
                records=sample["records"] if sample else None,
                features=[FeatureUsage(**v, feature=f) for f, v in sorted(b["features"].items())],
            )
        )
    return Usage(
        tenant_id=tenant_id,
        from_=start,
        to=end,
        granularity=granularity,
        totals=UsageFigures(**_rounded(totals, total_histogram)),
        stored_bytes=latest["stored_bytes"] if latest else 0,
        records=latest["records"] if latest else 0,
        storage_measured_at=latest["measured_at"] if latest else None,
        features=[
            FeatureUsage(**_rounded(v, feature_histograms.get(f)), feature=f)
            for f, v in sorted(features.items())
        ],
        buckets=out_buckets,
    )
