"""FinOps with the database: gather a month's usage, imported bills and the capacity
measurement, and hand them to the pure computations (report, capacity)."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import asyncpg
import msgspec
import orjson

from fundament import identity, tenancy
from fundament.metering.capacity import Measurement
from fundament.metering.costmodel import CostModel
from fundament.metering.focus import Charge, costs_by_resource
from fundament.metering.report import FeatureUsage, TenantUsage, build_report
from fundament.metering.schemas import FinopsReport
from fundament.platform import Database, RequestContext, Tx

MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")

#: Used until `fundament bench capacity` has measured this deployment: one worker of the
#: reference run in docs/benchmarks.md (GET-by-id, 2 vCPUs shared with PostgreSQL and the
#: load generator), rounded down. Reports say when they use it.
REFERENCE = Measurement(
    rps_per_worker=1000.0,
    p99_ms=60.0,
    workers_per_instance=2,
    measured_at="reference",
    machine="reference figure (docs/benchmarks.md), not measured here",
)

_FEATURES = """
SELECT tenant_id, feature,
       sum(requests)::bigint AS requests,
       coalesce(sum(requests) FILTER (WHERE status_class IN ('4xx', '5xx')), 0)::bigint AS errors,
       sum(server_ms) AS server_ms, sum(db_ms) AS db_ms,
       sum(bytes_in)::bigint AS bytes_in, sum(bytes_out)::bigint AS bytes_out
FROM usage_hourly WHERE hour >= $1 AND hour < $2
GROUP BY 1, 2 ORDER BY 1, 2
"""
# The same use split by collection, for routes under /collections/{name} (teams may own one).
_COLLECTIONS = """
SELECT tenant_id, feature, collection, sum(requests)::bigint AS requests, sum(errors)::bigint AS errors,
       sum(server_ms) AS server_ms, sum(db_ms) AS db_ms
FROM usage_collections_hourly WHERE hour >= $1 AND hour < $2
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
# Stored bytes are billed like storage is: the average held over the month.
_STORAGE = """
SELECT tenant_id, avg(stored_bytes)::bigint AS stored_bytes
FROM storage_hourly WHERE hour >= $1 AND hour < $2 GROUP BY 1
"""
_KEYS = "SELECT tenant_id, count(*)::bigint AS n FROM usage_keys WHERE month = $1 GROUP BY 1"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def current_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


async def gather_usage(tx: Tx, month: str, prices: Mapping[str, Decimal]) -> list[TenantUsage]:
    """Every tenant's usage of ``month``; ``tx`` must be an operator transaction."""
    start, end = month_bounds(month)
    # A tenant created after the month is no part of it; one created during it, for the
    # part from its creation on (offboarded tenants are gone with their usage).
    tenants = await tenancy.tenants_created_before(tx, end)
    month_seconds = int((end - start).total_seconds())
    usage: dict[str, TenantUsage] = {
        t.id: TenantUsage(
            t.id,
            t.slug,
            t.plan,
            prices.get(t.plan, Decimal(0)),
            existed_share=Fraction(int((end - max(start, t.created_at)).total_seconds()), month_seconds)
            or Fraction(1, month_seconds),
        )
        for t in tenants
    }
    split: dict[tuple[str, str], list[FeatureUsage]] = {}
    for r in await tx.conn.fetch(_COLLECTIONS, start, end):
        split.setdefault((r["tenant_id"], r["feature"]), []).append(
            FeatureUsage(
                r["feature"], r["requests"], r["errors"], r["server_ms"], r["db_ms"], 0, 0, r["collection"]
            )
        )
    for r in await tx.conn.fetch(_FEATURES, start, end):
        found = usage.get(r["tenant_id"])
        if found is None:
            continue
        parts = split.get((r["tenant_id"], r["feature"]), [])
        found.features.extend(parts)
        # What no collection row explains (use flushed before collections were metered, or by
        # an instance that does not meter them yet) stays on the route, with no collection.
        found.features.append(
            FeatureUsage(
                r["feature"],
                max(0, r["requests"] - sum(p.requests for p in parts)),
                max(0, r["errors"] - sum(p.errors for p in parts)),
                max(0.0, r["server_ms"] - sum(p.server_ms for p in parts)),
                max(0.0, r["db_ms"] - sum(p.db_ms for p in parts)),
                r["bytes_in"],
                r["bytes_out"],
            )
        )
    for r in await tx.conn.fetch(_STORAGE, start, end):
        if r["tenant_id"] in usage:
            usage[r["tenant_id"]].stored_bytes = r["stored_bytes"]
    for r in await tx.conn.fetch(_KEYS, start.date()):
        if r["tenant_id"] in usage:
            usage[r["tenant_id"]].active_keys = r["n"]
    return list(usage.values())


async def actual_costs(tx: Tx, model: CostModel, month: str) -> tuple[dict[str, Decimal], Decimal] | None:
    """The imported bill of ``month`` per resource, or None if none was imported."""
    start, end = month_bounds(month)
    rows = await tx.conn.fetch(
        "SELECT period_start, service_name, resource_id, billed_cost, currency, tags"
        " FROM focus_charges WHERE period_start >= $1 AND period_start < $2",
        start,
        end,
    )
    if not rows:
        return None
    charges = [
        Charge(
            r["period_start"],
            r["service_name"],
            r["resource_id"],
            r["billed_cost"],
            r["currency"],
            orjson.loads(r["tags"]) if isinstance(r["tags"], str) else dict(r["tags"]),
        )
        for r in rows
    ]
    return costs_by_resource(charges, model, month)


async def latest_measurement(conn: asyncpg.Connection) -> Measurement | None:
    row = await conn.fetchrow(
        "SELECT measured_at, machine, rps_per_worker, p99_ms, workers FROM capacity_measurements"
        " ORDER BY measured_at DESC LIMIT 1"
    )
    if row is None:
        return None
    return Measurement(
        rps_per_worker=row["rps_per_worker"],
        p99_ms=row["p99_ms"],
        workers_per_instance=row["workers"],
        measured_at=row["measured_at"].isoformat(),
        machine=row["machine"],
    )


async def store_measurement(
    conn: asyncpg.Connection, m: Measurement, *, target_p99_ms: float, details: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO capacity_measurements"
        " (measured_at, machine, rps_per_worker, p99_ms, target_p99_ms, workers, details)"
        " VALUES (now(), $1, $2, $3, $4, $5, $6::jsonb)",
        m.machine,
        m.rps_per_worker,
        m.p99_ms,
        target_p99_ms,
        m.workers_per_instance,
        orjson.dumps(details).decode(),
    )


async def import_charges(conn: asyncpg.Connection, charges: list[Charge], *, source: str) -> dict[str, Any]:
    """Store a FOCUS export; months it covers replace what was imported for them before,
    so importing the same file twice does not count the bill twice."""
    months = sorted({c.period_start.astimezone(UTC).strftime("%Y-%m") for c in charges})
    async with conn.transaction():
        for month in months:
            start, end = month_bounds(month)
            await conn.execute(
                "DELETE FROM focus_charges WHERE period_start >= $1 AND period_start < $2", start, end
            )
        await conn.executemany(
            "INSERT INTO focus_charges"
            " (imported_at, source, period_start, service_name, resource_id, billed_cost, currency, tags)"
            " VALUES (now(), $1, $2, $3, $4, $5, $6, $7::jsonb)",
            [
                (
                    source,
                    c.period_start,
                    c.service_name,
                    c.resource_id,
                    c.billed_cost,
                    c.currency,
                    orjson.dumps(c.tags).decode(),
                )
                for c in charges
            ],
        )
    total = sum((c.billed_cost for c in charges), Decimal(0))
    return {"charges": len(charges), "months": months, "billed_total": str(total)}


def report(
    month: str,
    model: CostModel,
    tenants: list[TenantUsage],
    bill: tuple[dict[str, Decimal], Decimal] | None,
    measurement: Measurement | None,
) -> FinopsReport:
    year, mon = int(month[:4]), int(month[5:7])
    now = datetime.now(UTC)
    hours = calendar.monthrange(year, mon)[1] * 24.0
    if (year, mon) == (now.year, now.month):
        # A month in progress: capacity paid so far is the hours elapsed, not the whole month.
        start, _ = month_bounds(month)
        hours = max(1.0, (now - start).total_seconds() / 3600)
    out = build_report(
        month,
        model,
        tenants,
        actual_costs=bill[0] if bill else None,
        unmatched_eur=bill[1] if bill else Decimal(0),
        capacity_rps_per_worker=(measurement or REFERENCE).rps_per_worker,
        hours_in_month=hours,
    )
    return msgspec.structs.replace(out, capacity_measurement=asdict(measurement or REFERENCE))


async def month_report(
    db: Database, plans: Mapping[str, Any], model: CostModel, month: str
) -> FinopsReport:
    """The FinOps report of ``month``, across every tenant: for an operator (the caller
    checks; the CLI is one)."""
    async with db.operator_transaction("finops.report") as tx:
        tenants = await gather_usage(tx, month, {name: p.monthly_price_eur for name, p in plans.items()})
        bill = await actual_costs(tx, model, month)
        measurement = await latest_measurement(tx.conn)
    ctx = RequestContext(request_id="finops.report")
    for t in tenants:
        async with db.transaction(ctx, tenant_id=t.tenant_id) as tx:
            t.active_users = await identity.count_users(tx)
    return report(month, model, tenants, bill, measurement)
