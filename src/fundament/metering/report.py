"""The monthly FinOps report: what each tenant and feature costs, earns and leaves idle.

Pure computation: the caller reads usage from the database and the bill from a FOCUS import,
and passes plain values in. Money leaves as strings with two decimals ("12.34").
"""

from __future__ import annotations

import calendar
import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from fundament.metering.allocation import ALLOCATION_METHOD, allocate
from fundament.metering.capacity import PEAK_FACTOR
from fundament.metering.costmodel import SHARED_TEAM, UNASSIGNED_TEAM, CostModel, Resource
from fundament.metering.schemas import FinopsReport

__all__ = [
    "SHARED_FEATURE",
    "UNMATCHED",
    "FeatureUsage",
    "TenantUsage",
    "build_report",
    "render_csv",
    "render_table",
]

UNMATCHED = "unmatched"  # resource line for bill lines no model resource claims
SHARED_FEATURE = "(shared)"  # feature line for costs no single feature causes

DRIVER_TEXT = {
    "server_time": "split by server time: the milliseconds the API servers spent on each tenant's requests",
    "db_time": "split by database time: the milliseconds of database work for each tenant's requests",
    "stored_bytes": "split by data stored: the bytes each tenant keeps in the database",
    "requests": "split by number of requests",
    "even": "split equally between all tenants (by the part of the month each existed)",
    "revenue": "split by what each tenant pays (its plan price for the part of the month it existed); "
    "equally if nobody pays",
}
# Drivers measured per feature (route), with the usage field they read; the others belong to
# the tenant as a whole.
_FEATURE_DRIVERS = {"server_time": "server_ms", "db_time": "db_ms", "requests": "requests"}
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass
class FeatureUsage:
    """One tenant's metered use of one feature ("METHOD /route/template") in the month."""

    feature: str
    requests: int
    errors: int
    server_ms: float
    db_ms: float
    bytes_in: int
    bytes_out: int
    #: The collection a collection route acted on ("" for other routes): teams may own it.
    collection: str = ""


@dataclass
class TenantUsage:
    """One tenant's month: usage per feature, what it stores and pays, who was active.

    ``existed_share`` is the part of the month the tenant existed (0 < share <= 1): a tenant
    created on the 21st of a 30-day month has 10/30. Its revenue (the plan price) and its
    share of costs split evenly are prorated by it; a month before the tenant existed is not
    its month at all (the caller leaves it out).
    """

    tenant_id: str
    slug: str
    plan: str
    monthly_price_eur: Decimal  # from the plans file
    features: list[FeatureUsage] = field(default_factory=list)
    stored_bytes: int = 0
    active_keys: int = 0
    active_users: int = 0
    existed_share: Fraction = Fraction(1)

    def revenue(self) -> Fraction:
        """What the tenant pays for this month: its plan price for the part it existed."""
        return Fraction(self.monthly_price_eur) * self.existed_share


def _cents(amount: Decimal | Fraction) -> int:
    if isinstance(amount, Fraction):
        # Half up, like the Decimal branch (round() on a Fraction would round half to even).
        sign = 1 if amount >= 0 else -1
        return sign * math.floor(abs(amount) * 100 + Fraction(1, 2))
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _eur(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _eur_per(cents: int, count: int) -> str | None:
    if count <= 0:
        return None
    return str((Decimal(cents) / 100 / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _driver_weight(driver: str) -> Callable[[TenantUsage], Fraction]:
    def server(t: TenantUsage) -> Fraction:
        return sum((Fraction(f.server_ms) for f in t.features), Fraction(0))

    def db(t: TenantUsage) -> Fraction:
        return sum((Fraction(f.db_ms) for f in t.features), Fraction(0))

    return {
        "server_time": server,
        "db_time": db,
        "stored_bytes": lambda t: Fraction(t.stored_bytes),
        "requests": lambda t: Fraction(sum(f.requests for f in t.features)),
        "even": lambda t: t.existed_share,
        "revenue": lambda t: t.revenue(),
    }[driver]


def _resource_costs(
    model: CostModel, actual_costs: dict[str, Decimal] | None, unmatched_eur: Decimal
) -> list[tuple[Resource, int]]:
    if actual_costs is not None:
        unknown = sorted(set(actual_costs) - {r.name for r in model.resources})
        if unknown:
            raise ValueError(f"actual costs for resources not in the cost model: {', '.join(unknown)}")
    lines: list[tuple[Resource, int]] = []
    for resource in model.resources:
        amount = (
            resource.monthly_cost_eur if actual_costs is None else actual_costs.get(resource.name, Decimal(0))
        )
        lines.append((resource, _cents(amount)))
    if unmatched_eur:
        lines.append((Resource(UNMATCHED, unmatched_eur, "even", (), "shared"), _cents(unmatched_eur)))
    for resource, cents in lines:
        if cents < 0:
            # Shares are never negative; a net credit must be netted against a cost by hand.
            raise ValueError(
                f"resource {resource.name!r} has a negative net cost ({_eur(cents)}): credits exceed "
                "charges this month; net them against another resource before allocating"
            )
    return lines


def _capacity(
    model: CostModel,
    month_hours: float,
    used_requests: int,
    rps_per_worker: float | None,
    compute_cents: int,
) -> dict[str, Any]:
    seconds = Fraction(str(month_hours)) * 3600
    if rps_per_worker is None:
        return {
            "known": False,
            "paid_capacity_requests": None,
            "usable_capacity_requests": None,
            "used_requests": used_requests,
            "idle_share": None,
            "idle_cost_eur": None,
            "instances_running": model.instances_running,
            "instances_suggested": None,
            "suggestion": (
                "Capacity unknown: no measured requests/s per worker. Run `fundament bench capacity` "
                "on the instance type you pay for, then the report shows idle capacity and a right size."
            ),
        }
    per_instance = Fraction(str(rps_per_worker)) * model.instance.workers
    target = Fraction(str(model.target_utilisation))
    paid = per_instance * model.instances_running * seconds
    idle = max(Fraction(0), 1 - Fraction(used_requests) / paid) if paid else Fraction(0)
    average_rps = Fraction(used_requests) / seconds
    peak_rps = average_rps * PEAK_FACTOR
    suggested = max(model.min_replicas, math.ceil(peak_rps / (per_instance * target)))
    running = model.instances_running
    why = (
        f"average load {float(average_rps):.2f} req/s, "
        f"peak assumed {PEAK_FACTOR}× = {float(peak_rps):.2f} req/s; "
        f"one {model.instance.name} serves {float(per_instance):.0f} req/s, planned at "
        f"{model.target_utilisation:.0%} = {float(per_instance * target):.0f} req/s; "
        f"at least {model.min_replicas} instances for failover."
    )
    price = model.instance.monthly_cost_eur
    if suggested < running:
        saving = (running - suggested) * price
        suggestion = (
            f"Run {suggested} instance{'s' if suggested > 1 else ''} instead of {running}: {why} "
            f"Saves about {_eur(_cents(saving))} {model.currency} a month."
        )
    elif suggested > running:
        extra = (suggested - running) * price
        suggestion = (
            f"Run {suggested} instances instead of {running}: {why} "
            f"Costs about {_eur(_cents(extra))} {model.currency} a month more."
        )
    else:
        suggestion = f"Keep {running} instances: {why}"
    return {
        "known": True,
        "rps_per_worker": rps_per_worker,
        "paid_capacity_requests": int(paid),
        "usable_capacity_requests": int(paid * target),
        "used_requests": used_requests,
        "idle_share": round(float(idle), 4),
        "idle_cost_eur": _eur(int(compute_cents * idle)),
        "instances_running": running,
        "instances_suggested": suggested,
        "suggestion": suggestion,
        "explanation": (
            "Paid capacity is the requests the running instances could serve flat out all month "
            "(requests/s per worker × workers × instances × seconds). Idle share is the part not used; "
            f"it includes the {1 - model.target_utilisation:.0%} headroom kept on purpose for peaks and "
            "failover. Idle cost is that share of the compute bill. The suggestion sizes for an assumed "
            f"peak of {PEAK_FACTOR}× the monthly average, because the meter keeps totals, not peaks."
        ),
    }


def build_report(
    month: str,
    model: CostModel,
    tenants: list[TenantUsage],
    *,
    actual_costs: dict[str, Decimal] | None = None,
    unmatched_eur: Decimal = Decimal(0),
    capacity_rps_per_worker: float | None = None,
    hours_in_month: float | None = None,
) -> FinopsReport:
    """Allocate the month's costs to tenants and features: the report as the API answers it.

    Costs are the model's estimates, or ``actual_costs`` per resource from a FOCUS import
    (missing resources cost 0; ``unmatched_eur`` becomes an "unmatched" line split evenly).
    Each resource is split between tenants with :func:`allocate` by its driver, so tenant
    costs add up to the total to the cent. ``unallocated_eur`` is non-zero only when there
    are no tenants (none existed in the month): then ``unallocated_note`` says so. Raises
    ``ValueError`` for a bad month, duplicate tenant ids, resources unknown to the model, a
    negative net cost, a non-positive capacity or month length, or an ``existed_share``
    outside (0, 1].
    """
    if not _MONTH.fullmatch(month):
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    ids = [t.tenant_id for t in tenants]
    if len(set(ids)) != len(ids):
        raise ValueError("tenant ids must be unique")
    if hours_in_month is None:
        year, mon = (int(p) for p in month.split("-"))
        hours_in_month = calendar.monthrange(year, mon)[1] * 24.0
    for t in tenants:
        if not (0 < t.existed_share <= 1):
            raise ValueError(f"existed_share of {t.tenant_id!r} must be in (0, 1], got {t.existed_share}")
    if not (math.isfinite(hours_in_month) and hours_in_month > 0):
        raise ValueError(f"hours_in_month must be positive, got {hours_in_month!r}")
    if capacity_rps_per_worker is not None and not (
        math.isfinite(capacity_rps_per_worker) and capacity_rps_per_worker > 0
    ):
        raise ValueError(f"capacity_rps_per_worker must be positive, got {capacity_rps_per_worker!r}")

    lines = _resource_costs(model, actual_costs, unmatched_eur)
    shares: dict[str, dict[str, int]] = {t.tenant_id: {} for t in tenants}
    for resource, cents in lines:
        if not tenants:
            continue
        weigh = _driver_weight(resource.driver)
        split = allocate(cents, {t.tenant_id: weigh(t) for t in tenants})
        for tenant_id, share in split.items():
            shares[tenant_id][resource.name] = share

    # Per feature: the same driver over every tenant's use of each feature.
    feature_usage: dict[str, dict[str, Any]] = {}
    for t in tenants:
        for f in t.features:
            agg = feature_usage.setdefault(
                f.feature, {"requests": 0, "errors": 0, "server_ms": Fraction(0), "db_ms": Fraction(0)}
            )
            agg["requests"] += f.requests
            agg["errors"] += f.errors
            agg["server_ms"] += Fraction(f.server_ms)
            agg["db_ms"] += Fraction(f.db_ms)
    feature_cents: dict[str, int] = dict.fromkeys(feature_usage, 0)
    feature_cents[SHARED_FEATURE] = 0
    for resource, cents in lines:
        measure = _FEATURE_DRIVERS.get(resource.driver)
        weights = {name: agg[measure] for name, agg in feature_usage.items()} if measure else {}
        if sum(weights.values()):
            for name, share in allocate(cents, weights).items():
                feature_cents[name] += share
        else:
            feature_cents[SHARED_FEATURE] += cents

    teams = _teams(model, tenants, lines)

    total_cents = sum(c for _, c in lines)
    revenue_total = 0
    tenant_rows = []
    for t in tenants:
        cost = sum(shares[t.tenant_id].values())
        revenue = _cents(t.revenue())
        revenue_total += revenue
        margin = revenue - cost
        tenant_rows.append(
            {
                "tenant_id": t.tenant_id,
                "slug": t.slug,
                "plan": t.plan,
                "existed_share": round(float(t.existed_share), 4),
                "usage": {
                    "requests": sum(f.requests for f in t.features),
                    "errors": sum(f.errors for f in t.features),
                    "server_ms": round(sum(f.server_ms for f in t.features), 3),
                    "db_ms": round(sum(f.db_ms for f in t.features), 3),
                    "bytes_in": sum(f.bytes_in for f in t.features),
                    "bytes_out": sum(f.bytes_out for f in t.features),
                    "stored_bytes": t.stored_bytes,
                },
                "costs": {r.name: _eur(shares[t.tenant_id][r.name]) for r, _ in lines},
                "teams": _tenant_teams(model, t, shares[t.tenant_id], lines),
                "cost_eur": _eur(cost),
                "revenue_eur": _eur(revenue),
                "margin_eur": _eur(margin),
                "margin_pct": round(margin * 100 / revenue, 1) if revenue else None,
                "active_keys": t.active_keys,
                "active_users": t.active_users,
                "cost_per_active_key_eur": _eur_per(cost, t.active_keys),
                "cost_per_active_user_eur": _eur_per(cost, t.active_users),
            }
        )
    allocated = sum(sum(s.values()) for s in shares.values())

    features: dict[str, Any] = {}
    for name in sorted(feature_usage, key=lambda n: (-feature_cents[n], n)):
        agg = feature_usage[name]
        features[name] = {
            "requests": agg["requests"],
            "errors": agg["errors"],
            "cost_eur": _eur(feature_cents[name]),
            "cost_per_1000_requests_eur": _eur_per(feature_cents[name] * 1000, agg["requests"]),
        }
    features[SHARED_FEATURE] = {
        "requests": 0,
        "errors": 0,
        "cost_eur": _eur(feature_cents[SHARED_FEATURE]),
        "cost_per_1000_requests_eur": None,
    }

    used_drivers = list(dict.fromkeys(r.driver for r, _ in lines))
    method = "\n".join(
        [ALLOCATION_METHOD]
        + [f"- {d}: {DRIVER_TEXT[d]}." for d in used_drivers]
        + [
            f"- Per feature, costs split by server time, database time or requests are split the same way "
            f"across every tenant's use of each feature; costs split by storage, equally or by revenue "
            f"belong to no single feature and are shown as {SHARED_FEATURE!r}.",
            f"- Per team, the same costs are split the same way across the use of each team's features "
            f"(the cost model's [[teams]]: route patterns and collections); features no team claims "
            f"belong to {UNASSIGNED_TEAM!r}, and costs no feature causes are {SHARED_TEAM!r} again.",
            "- A tenant takes part only in the months it existed; in the month it was created, its "
            "revenue (plan price) and its share of costs split equally are prorated to the part of "
            "the month from its creation on. A month in which no tenant existed leaves the whole "
            "cost unallocated.",
        ]
    )
    compute_cents = sum(c for r, c in lines if r.kind == "compute")
    used_requests = sum(f.requests for t in tenants for f in t.features)
    return FinopsReport(
        month=month,
        currency=model.currency,
        cost_source="FOCUS import" if actual_costs is not None else f"estimate (cost model: {model.source})",
        method=method,
        total_cost_eur=_eur(total_cents),
        total_revenue_eur=_eur(revenue_total),
        total_margin_eur=_eur(revenue_total - total_cents),
        unallocated_eur=_eur(total_cents - allocated),
        unallocated_note=None
        if total_cents == allocated
        else "No tenant existed in this month: the whole cost is the platform's own (idle), "
        "allocated to nobody.",
        resources=[
            {"name": r.name, "kind": r.kind, "driver": r.driver, "cost_eur": _eur(c)} for r, c in lines
        ],
        tenants=tenant_rows,
        features=features,
        teams=teams,
        capacity=_capacity(model, hours_in_month, used_requests, capacity_rps_per_worker, compute_cents),
    )


def _tenant_teams(
    model: CostModel, tenant: TenantUsage, shares: dict[str, int], lines: list[tuple[Resource, int]]
) -> dict[str, str]:
    """One tenant's cost by owning team: its share of each feature-driven cost split by its
    own use of each team's features, the rest "(shared)". Adds up to the tenant's cost to the
    cent; over all tenants each team comes to the report's team figure within rounding."""
    names = [*(t.name for t in model.teams), UNASSIGNED_TEAM]
    use = {n: dict.fromkeys(_FEATURE_DRIVERS.values(), Fraction(0)) for n in names}
    for f in tenant.features:
        agg = use[model.team_of(f.feature, f.collection)]
        agg["requests"] += f.requests
        agg["server_ms"] += Fraction(f.server_ms)
        agg["db_ms"] += Fraction(f.db_ms)
    cents = dict.fromkeys([*names, SHARED_TEAM], 0)
    for resource, _ in lines:
        share = shares.get(resource.name, 0)
        measure = _FEATURE_DRIVERS.get(resource.driver)
        weights = {n: agg[measure] for n, agg in use.items()} if measure else {}
        if sum(weights.values()):
            for name, part in allocate(share, weights).items():
                cents[name] += part
        else:
            cents[SHARED_TEAM] += share
    return {name: _eur(c) for name, c in cents.items()}


def _teams(model: CostModel, tenants: list[TenantUsage], lines: list[tuple[Resource, int]]) -> dict[str, Any]:
    """Cost per owning team: each feature-driven cost split over the teams' use, directly (not
    summed from the features' rounded cents), so each team is within a cent of its exact share."""
    usage: dict[str, dict[str, Any]] = {
        name: {
            "requests": 0,
            "errors": 0,
            "server_ms": Fraction(0),
            "db_ms": Fraction(0),
            "features": set(),
            "collections": set(),
        }
        for name in [*(t.name for t in model.teams), UNASSIGNED_TEAM]
    }
    for t in tenants:
        for f in t.features:
            agg = usage[model.team_of(f.feature, f.collection)]
            agg["requests"] += f.requests
            agg["errors"] += f.errors
            agg["server_ms"] += Fraction(f.server_ms)
            agg["db_ms"] += Fraction(f.db_ms)
            if f.requests:
                agg["features"].add(f.feature)
            if f.collection:
                agg["collections"].add(f.collection)
    cents: dict[str, int] = dict.fromkeys([*usage, SHARED_TEAM], 0)
    for resource, amount in lines:
        measure = _FEATURE_DRIVERS.get(resource.driver)
        weights = {name: agg[measure] for name, agg in usage.items()} if measure else {}
        if sum(weights.values()):
            for name, share in allocate(amount, weights).items():
                cents[name] += share
        else:
            cents[SHARED_TEAM] += amount
    owned = sorted((n for n in usage if n != UNASSIGNED_TEAM), key=lambda n: (-cents[n], n))
    out: dict[str, Any] = {}
    for name in [*owned, UNASSIGNED_TEAM]:
        agg = usage[name]
        out[name] = {
            "requests": agg["requests"],
            "errors": agg["errors"],
            "server_ms": round(float(agg["server_ms"]), 3),
            "db_ms": round(float(agg["db_ms"]), 3),
            "cost_eur": _eur(cents[name]),
            "cost_per_1000_requests_eur": _eur_per(cents[name] * 1000, agg["requests"]),
            "features": sorted(agg["features"]),
            "collections": sorted(agg["collections"]),
        }
    out[SHARED_TEAM] = {
        "requests": 0,
        "errors": 0,
        "server_ms": 0.0,
        "db_ms": 0.0,
        "cost_eur": _eur(cents[SHARED_TEAM]),
        "cost_per_1000_requests_eur": None,
        "features": [],
        "collections": [],
    }
    return out


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _opt(value: Any) -> str:
    return "-" if value is None else str(value)


def render_table(report: dict[str, Any]) -> str:
    """The report (as plain values, ``msgspec.to_builtins``) as a text table."""
    """The report as aligned plain text for a terminal."""
    cur = report["currency"]
    out = [
        f"FinOps report {report['month']} ({cur}; costs: {report['cost_source']})",
        f"Total cost {report['total_cost_eur']}  revenue {report['total_revenue_eur']}  "
        f"margin {report['total_margin_eur']}",
        "",
        "Resources",
    ]
    out += _table(
        ["resource", "kind", "driver", "cost"],
        [[r["name"], r["kind"], r["driver"], r["cost_eur"]] for r in report["resources"]],
        {3},
    )
    out += ["", "Tenants"]
    out += _table(
        ["tenant", "plan", "requests", "cost", "revenue", "margin", "margin %", "per key", "per user"],
        [
            [
                t["slug"],
                t["plan"],
                str(t["usage"]["requests"]),
                t["cost_eur"],
                t["revenue_eur"],
                t["margin_eur"],
                _opt(t["margin_pct"]),
                _opt(t["cost_per_active_key_eur"]),
                _opt(t["cost_per_active_user_eur"]),
            ]
            for t in report["tenants"]
        ],
        set(range(2, 9)),
    )
    names = [r["name"] for r in report["resources"]]
    out += ["", "Cost per tenant and resource"]
    out += _table(
        ["tenant", *names],
        [[t["slug"], *(t["costs"][n] for n in names)] for t in report["tenants"]],
        set(range(1, len(names) + 1)),
    )
    out += ["", "Features"]
    out += _table(
        ["feature", "requests", "errors", "cost", "per 1000 req"],
        [
            [name, str(f["requests"]), str(f["errors"]), f["cost_eur"], _opt(f["cost_per_1000_requests_eur"])]
            for name, f in report["features"].items()
        ],
        {1, 2, 3, 4},
    )
    if "teams" in report:
        out += ["", "Teams"]
        out += _table(
            ["team", "requests", "errors", "cost", "per 1000 req", "features"],
            [
                [
                    name,
                    str(t["requests"]),
                    str(t["errors"]),
                    t["cost_eur"],
                    _opt(t["cost_per_1000_requests_eur"]),
                    str(len(t["features"])),
                ]
                for name, t in report["teams"].items()
            ],
            {1, 2, 3, 4, 5},
        )
    cap = report["capacity"]
    out += ["", "Capacity"]
    if cap["known"]:
        out += [
            f"paid capacity {cap['paid_capacity_requests']} requests, used {cap['used_requests']}, "
            f"idle {cap['idle_share']:.2%} (about {cap['idle_cost_eur']} {cur} of compute)",
        ]
    out += [cap["suggestion"], "", "Method", report["method"]]
    if report["unallocated_eur"] != "0.00":
        out += ["", f"Unallocated: {report['unallocated_eur']} {cur}. {report['unallocated_note']}"]
    return "\n".join(out) + "\n"


def render_csv(report: dict[str, Any]) -> str:
    """One row per tenant × resource, a total row per tenant and a grand total row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["month", "tenant_id", "slug", "plan", "resource", "driver", "cost_eur", "revenue_eur", "margin_eur"]
    )
    month = report["month"]
    drivers = {r["name"]: r["driver"] for r in report["resources"]}
    for t in report["tenants"]:
        for name, cost in t["costs"].items():
            writer.writerow([month, t["tenant_id"], t["slug"], t["plan"], name, drivers[name], cost, "", ""])
        writer.writerow(
            [
                month,
                t["tenant_id"],
                t["slug"],
                t["plan"],
                "TOTAL",
                "",
                t["cost_eur"],
                t["revenue_eur"],
                t["margin_eur"],
            ]
        )
    writer.writerow(
        [
            month,
            "TOTAL",
            "",
            "",
            "TOTAL",
            "",
            report["total_cost_eur"],
            report["total_revenue_eur"],
            report["total_margin_eur"],
        ]
    )
    return buffer.getvalue()
