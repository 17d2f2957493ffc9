"""Usage metering: every request, aggregated in memory, flushed in batches.

The meter is an observer of the kernel's edge: it sees each finished request with its
tenant, feature (method + route template), status, server and database time and bytes.
It adds them to an in-memory roll-up keyed by tenant × hour × feature × status class, and
a background task writes the roll-up every ``flush_seconds`` in one statement per table
(never one INSERT per request). A crash loses at most one flush interval; a graceful
shutdown flushes. A failed flush keeps its rows for the next one.

Stored bytes per tenant are measured every ``storage_seconds`` (one small query per
tenant, inside that tenant's row-level security scope).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime

from fundament import audit, records, tenancy
from fundament.platform import Database, Exchange, RequestContext

log = logging.getLogger("fundament.metering")

_MAX_BUFFERED = 200_000

#: Upper bounds (milliseconds) of the latency histogram kept per roll-up row, for p99; the
#: last bucket holds everything slower. Fixed, so histograms of any rows add up bucket by bucket
#: (a t-digest per row would be finer, but could not be merged in one SQL upsert).
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000,
)  # fmt: skip

# Histograms travel as array literals (text): unnest() of a two-dimensional array would
# flatten it. A row's histogram and the stored one add element by element.
_FLUSH_USAGE = """
INSERT INTO usage_hourly AS u
    (tenant_id, hour, feature, status_class, requests, server_ms, db_ms, bytes_in, bytes_out, latency)
SELECT r.tenant_id, r.hour, r.feature, r.status_class, r.requests, r.server_ms, r.db_ms,
       r.bytes_in, r.bytes_out, r.latency::bigint[]
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::bigint[],
            $6::float8[], $7::float8[], $8::bigint[], $9::bigint[], $10::text[])
         AS r(tenant_id, hour, feature, status_class, requests, server_ms, db_ms, bytes_in, bytes_out,
              latency)
ON CONFLICT (tenant_id, hour, feature, status_class) DO UPDATE SET
    requests = u.requests + EXCLUDED.requests,
    server_ms = u.server_ms + EXCLUDED.server_ms,
    db_ms = u.db_ms + EXCLUDED.db_ms,
    bytes_in = u.bytes_in + EXCLUDED.bytes_in,
    bytes_out = u.bytes_out + EXCLUDED.bytes_out,
    latency = ARRAY(
        SELECT coalesce(a, 0) + coalesce(b, 0)
        FROM unnest(u.latency, EXCLUDED.latency) WITH ORDINALITY AS h(a, b, i) ORDER BY i
    )
"""
_FLUSH_COLLECTIONS = """
INSERT INTO usage_collections_hourly AS u
    (tenant_id, hour, feature, collection, requests, errors, server_ms, db_ms)
SELECT r.* FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::bigint[],
                       $6::bigint[], $7::float8[], $8::float8[])
         AS r(tenant_id, hour, feature, collection, requests, errors, server_ms, db_ms)
ON CONFLICT (tenant_id, hour, feature, collection) DO UPDATE SET
    requests = u.requests + EXCLUDED.requests,
    errors = u.errors + EXCLUDED.errors,
    server_ms = u.server_ms + EXCLUDED.server_ms,
    db_ms = u.db_ms + EXCLUDED.db_ms
"""
_FLUSH_KEYS = """
INSERT INTO usage_keys AS k (tenant_id, month, key_id, requests, last_seen)
SELECT r.* FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[], $5::timestamptz[])
         AS r(tenant_id, month, key_id, requests, last_seen)
ON CONFLICT (tenant_id, month, key_id) DO UPDATE SET
    requests = k.requests + EXCLUDED.requests,
    last_seen = greatest(k.last_seen, EXCLUDED.last_seen)
"""
_STORE_SAMPLE = """
INSERT INTO storage_hourly (tenant_id, hour, records, stored_bytes, measured_at)
VALUES ($1, date_trunc('hour', $2::timestamptz), $3, $4, $2)
ON CONFLICT (tenant_id, hour) DO UPDATE SET
    records = EXCLUDED.records, stored_bytes = EXCLUDED.stored_bytes, measured_at = EXCLUDED.measured_at
"""

UsageKey = tuple[str, int, str, str]  # tenant, hour (epoch hours), feature, status class
KeysKey = tuple[str, int, str]  # tenant, hour, key id
CollectionKey = tuple[str, int, str, str]  # tenant, hour, feature, collection
_HISTOGRAM = 5  # where a usage row's histogram starts, after its five sums


def percentile(histogram: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0 < q <= 1) of a :data:`LATENCY_BOUNDS_MS` histogram, in ms,
    interpolated linearly inside its bucket as Prometheus' histogram_quantile does (so within
    one bucket's width of the truth); None without observations. Past the last bound it
    answers that bound: the histogram cannot say how much slower."""
    total = sum(histogram)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(histogram):
        if count and seen + count >= rank:
            if i >= len(LATENCY_BOUNDS_MS):
                return float(LATENCY_BOUNDS_MS[-1])
            low = LATENCY_BOUNDS_MS[i - 1] if i else 0.0
            return round(low + (LATENCY_BOUNDS_MS[i] - low) * (rank - seen) / count, 3)
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])


@functools.lru_cache(maxsize=1024)
def _name_segment(route: str) -> tuple[int, int]:
    """Where a route's ``{name}`` under ``/collections/`` is (segment index, segment count);
    (-1, 0) for other routes. Cached: routes are few, requests many."""
    if "/collections/{name}" not in route:
        return -1, 0
    template = route.split("/")
    return template.index("{name}"), len(template)


def _collection(route: str | None, path: str) -> str:
    """The collection named by a request to a route under ``/collections/{name}`` ("" else)."""
    if route is None:
        return ""
    index, count = _name_segment(route)
    if index < 0:
        return ""
    parts = path.split("/")
    return parts[index] if len(parts) == count else ""


class UsageMeter:
    def __init__(self, db: Database, *, flush_seconds: float = 10.0, storage_seconds: float = 300.0) -> None:
        self._db = db
        self.flush_seconds = flush_seconds
        self.storage_seconds = storage_seconds
        self._usage: dict[UsageKey, list[float]] = {}
        self._keys: dict[KeysKey, list[float]] = {}
        self._collections: dict[CollectionKey, list[float]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def observe(self, exchange: Exchange) -> None:
        tenant = exchange.tenant_id
        if tenant is None:
            return
        now = time.time()
        hour = int(now // 3600)
        key = (tenant, hour, exchange.feature, exchange.status_class)
        row = self._usage.get(key)
        if row is None:
            if len(self._usage) >= _MAX_BUFFERED:
                self.dropped += 1
                return
            row = self._usage[key] = [0, 0.0, 0.0, 0, 0, *[0] * (len(LATENCY_BOUNDS_MS) + 1)]
        server_ms = exchange.duration * 1000.0
        db_ms = exchange.db_seconds * 1000.0
        row[0] += 1
        row[1] += server_ms
        row[2] += db_ms
        row[3] += exchange.bytes_in
        row[4] += exchange.bytes_out
        row[_HISTOGRAM + bisect.bisect_left(LATENCY_BOUNDS_MS, server_ms)] += 1
        collection = _collection(exchange.route, exchange.path)
        if collection:
            ckey = (tenant, hour, key[2], collection)
            crow = self._collections.get(ckey)
            if crow is None and len(self._collections) >= _MAX_BUFFERED:
                # Only the per-collection split is lost: the request and its key still count.
                self.dropped += 1
            else:
                if crow is None:
                    crow = self._collections[ckey] = [0, 0, 0.0, 0.0]
                crow[0] += 1
                crow[1] += exchange.status >= 400
                crow[2] += server_ms
                crow[3] += db_ms
        if exchange.key_id is not None:
            kkey = (tenant, hour, exchange.key_id)
            seen = self._keys.get(kkey)
            if seen is None:
                self._keys[kkey] = [1, now]
            else:
                seen[0] += 1
                seen[1] = now

    @property
    def buffered(self) -> int:
        return len(self._usage)

    async def flush(self) -> int:
        """Write what is buffered; return the number of roll-up rows written."""
        async with self._lock:
            usage, self._usage = self._usage, {}
            keys, self._keys = self._keys, {}
            collections, self._collections = self._collections, {}
            if not usage and not keys and not collections:
                return 0
            try:
                await self._write(usage, keys, collections)
            except Exception:
                self._merge_back(usage, keys, collections)
                raise
            return len(usage)

    async def _write(
        self,
        usage: dict[UsageKey, list[float]],
        keys: dict[KeysKey, list[float]],
        collections: dict[CollectionKey, list[float]],
    ) -> None:
        months: dict[tuple[str, date, str], list[float]] = {}
        for (tenant, hour, key_id), (count, last) in keys.items():
            month = datetime.fromtimestamp(hour * 3600, UTC).date().replace(day=1)
            acc = months.setdefault((tenant, month, key_id), [0, 0.0])
            acc[0] += count
            acc[1] = max(acc[1], last)
        async with self._db.operator_transaction("metering.flush") as tx:
            # Tenants offboarded since their requests are left out (their usage went with
            # them); the others cannot be offboarded before this commits.
            held = await tenancy.hold_tenants(tx.conn, {k[0] for k in usage} | {k[0] for k in months})
            # Sorted, so concurrent flushes of several instances lock rows in one order.
            rows = sorted(item for item in usage.items() if item[0][0] in held)
            key_rows = sorted(item for item in months.items() if item[0][0] in held)
            collection_rows = sorted(item for item in collections.items() if item[0][0] in held)
            if rows:
                await tx.conn.execute(
                    _FLUSH_USAGE,
                    [k[0] for k, _ in rows],
                    [datetime.fromtimestamp(k[1] * 3600, UTC) for k, _ in rows],
                    [k[2] for k, _ in rows],
                    [k[3] for k, _ in rows],
                    [int(v[0]) for _, v in rows],
                    [v[1] for _, v in rows],
                    [v[2] for _, v in rows],
                    [int(v[3]) for _, v in rows],
                    [int(v[4]) for _, v in rows],
                    ["{" + ",".join(str(int(c)) for c in v[_HISTOGRAM:]) + "}" for _, v in rows],
                )
            if collection_rows:
                await tx.conn.execute(
                    _FLUSH_COLLECTIONS,
                    [k[0] for k, _ in collection_rows],
                    [datetime.fromtimestamp(k[1] * 3600, UTC) for k, _ in collection_rows],
                    [k[2] for k, _ in collection_rows],
                    [k[3] for k, _ in collection_rows],
                    [int(v[0]) for _, v in collection_rows],
                    [int(v[1]) for _, v in collection_rows],
                    [v[2] for _, v in collection_rows],
                    [v[3] for _, v in collection_rows],
                )
            if key_rows:
                await tx.conn.execute(
                    _FLUSH_KEYS,
                    [k[0] for k, _ in key_rows],
                    [k[1] for k, _ in key_rows],
                    [k[2] for k, _ in key_rows],
                    [int(v[0]) for _, v in key_rows],
                    [datetime.fromtimestamp(v[1], UTC) for _, v in key_rows],
                )

    def _merge_back(
        self,
        usage: dict[UsageKey, list[float]],
        keys: dict[KeysKey, list[float]],
        collections: dict[CollectionKey, list[float]],
    ) -> None:
        for buffer, failed in ((self._usage, usage), (self._collections, collections)):
            for key, values in failed.items():
                row = buffer.get(key)
                if row is None:
                    if len(buffer) >= _MAX_BUFFERED:
                        self.dropped += 1
                        continue
                    buffer[key] = values
                else:
                    for i, v in enumerate(values):
                        row[i] += v
        for kkey, (count, last) in keys.items():
            seen = self._keys.setdefault(kkey, [0, 0.0])
            seen[0] += count
            seen[1] = max(seen[1], last)

    async def measure_storage(self, now: datetime | None = None) -> int:
        """Sample records and stored bytes (records and audit trail, as the quota counts
        them) of every tenant; return how many were sampled."""
        now = now or datetime.now(UTC)
        async with self._db.operator_transaction("metering.storage") as tx:
            tenants = await tenancy.all_tenant_ids(tx)
        for tenant_id in tenants:
            ctx = RequestContext(request_id="metering")
            try:
                # Measured on the tenant's cell; the sample is kept in the control database.
                cell = await self._db.cell_of(tenant_id)
                async with cell.transaction(ctx, tenant_id=tenant_id, routed=False) as tx:
                    if not await tenancy.hold_tenants(tx.conn, (tenant_id,)):
                        continue  # offboarded since the list was read
                    count, size = await records.footprint(tx)
                    size += await audit.footprint(tx)
                    if cell is self._db:
                        await tx.conn.execute(_STORE_SAMPLE, tenant_id, now, count, size)
                        continue
                async with self._db.transaction(ctx, tenant_id=tenant_id, routed=False) as tx:
                    if await tenancy.hold_tenants(tx.conn, (tenant_id,)):
                        await tx.conn.execute(_STORE_SAMPLE, tenant_id, now, count, size)
            except Exception:  # one tenant's failure must not stop the rest
                log.warning("storage sample for %s failed", tenant_id, exc_info=True)
        return len(tenants)

    # --- background loop ------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        next_storage = time.monotonic() + min(5.0, self.storage_seconds)
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("usage flush failed (kept for the next one): %s", exc)
            if time.monotonic() >= next_storage:
                next_storage = time.monotonic() + self.storage_seconds
                try:
                    await self.measure_storage()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("storage measurement failed: %s", exc)

    async def close(self) -> None:
        """Stop the loop and write what is left (graceful shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("final usage flush failed; %d roll-up rows lost", len(self._usage))
