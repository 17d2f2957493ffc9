"""The operator's pages: tenants, usage over time, the month's FinOps report, the capacity planner.

Like every console page they are clients of the v1 API (``c.api``), called with the operator's
key: ``GET /v1/tenants``, ``GET /v1/tenants/{t}/usage``, ``GET /v1/finops/report`` and
``GET /v1/finops/capacity``. Figures are drawn with :mod:`fundament.console.charts`; each
chart carries its figures as a table too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from math import nan
from typing import Any, TypeVar

from markupsafe import Markup
from starlette.responses import Response

from fundament.console.charts import Series, bar_chart, line_chart, stacked_bars
from fundament.console.core import Console, Pages

pages = Pages("operator")
Row = TypeVar("Row")

#: Charts (and their data tables) show the largest this many rows and one "N other …" row;
#: the FinOps page's tenant table below them lists every tenant.
TOP = 10
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
# The planner draws this many points from users/N to users.
_PLAN_POINTS = 10
PLANNER_DEFAULTS = {"users": "10000", "requests_per_user_per_minute": "6", "p99_ms": "200"}


def _eur(value: float) -> str:
    return f"{value:,.2f}"


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def _money(text: Any) -> float:
    try:
        return float(Decimal(str(text)))
    except (InvalidOperation, ValueError):
        return 0.0


async def _all_tenants(c: Console) -> list[dict[str, Any]]:
    """Every tenant, following the API's cursor (bounded: the console is not a bulk export)."""
    items: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(50):
        page = await c.api.get("/v1/tenants", {"limit": "200", "cursor": cursor})
        items.extend(page["items"])
        cursor = page.get("next_cursor") or ""
        if not cursor:
            break
    return items


def _largest(
    items: list[Row], value: Callable[[Row], float], name: Callable[[Row], str], noun: str
) -> list[tuple[str, list[Row]]]:
    """The :data:`TOP` largest items by ``value`` each on its own, then the rest as one group
    ("N other tenants"), so a chart stays readable with a thousand tenants."""
    ranked = sorted(items, key=value, reverse=True)
    if len(ranked) <= TOP + 1:
        return [(name(i), [i]) for i in ranked]
    return [*((name(i), [i]) for i in ranked[:TOP]), (f"{len(ranked) - TOP} other {noun}", ranked[TOP:])]


# --- tenants ------------------------------------------------------------------------------


@pages.page("/operator")
async def start(c: Console) -> Response:
    """Where an operator lands after sign-in. Not itself the tenants page: the layout marks a
    nav link current for every path under it, and every operator page is under /operator."""
    return c.redirect("/operator/tenants")


@pages.page("/operator/tenants", nav="Tenants")
async def tenants(c: Console) -> Response:
    listing = await c.api.get("/v1/tenants", {"limit": "200", "cursor": c.query.get("cursor", "")})
    return c.render(
        "operator_home.html", title="Tenants", tenants=listing["items"], next_cursor=listing["next_cursor"]
    )


# --- usage --------------------------------------------------------------------------------


def _bucket_points(usage: Mapping[str, Any], granularity: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Every hour (or day) of the range, with the API's bucket where it has one and zeros
    where nothing was metered, so gaps read as quiet time rather than disappearing."""
    step = timedelta(hours=1) if granularity == "hour" else timedelta(days=1)
    start = datetime.fromisoformat(usage["from"]).astimezone(UTC)
    end = datetime.fromisoformat(usage["to"]).astimezone(UTC)
    start = start.replace(minute=0, second=0, microsecond=0)
    if granularity == "day":
        start = start.replace(hour=0)
    found = {datetime.fromisoformat(b["start"]).astimezone(UTC): b for b in usage["buckets"]}
    labels: list[str] = []
    buckets: list[dict[str, Any]] = []
    at = start
    while at < end and len(labels) < 800:
        labels.append(at.strftime("%d %H:%M" if granularity == "hour" else "%m-%d"))
        buckets.append(found.get(at, {}))
        at += step
    return labels, buckets


def _usage_charts(usage: Mapping[str, Any], granularity: str, feature: str) -> list[Markup]:
    labels, buckets = _bucket_points(usage, granularity)
    unit = "hour" if granularity == "hour" else "day"
    if feature:
        # One feature's figures in each bucket (a bucket lists the features used in it).
        buckets = [next((f for f in b.get("features", ()) if f["feature"] == feature), {}) for b in buckets]
        unit = f"{unit}, {feature}"

    def values(name: str) -> list[float]:
        return [float(b.get(name) or 0) for b in buckets]

    charts = [
        line_chart(
            f"Requests and errors per {unit}",
            labels,
            [Series("requests", values("requests")), Series("errors", values("errors"))],
            area=True,
            ident="usage-requests",
        ),
        line_chart(
            f"p99 server time per {unit} (ms)",
            labels,
            # No requests, no p99: a gap, not a zero.
            [Series("p99 ms", [nan if b.get("p99_ms") is None else float(b["p99_ms"]) for b in buckets])],
            fmt=_ms,
            ident="usage-p99",
        ),
        line_chart(
            f"Server and database time per {unit} (ms)",
            labels,
            [Series("server ms", values("server_ms")), Series("database ms", values("db_ms"))],
            area=True,
            fmt=_ms,
            ident="usage-time",
        ),
    ]
    features = sorted(usage["features"], key=lambda f: -f["requests"])
    if features:
        names = [f["feature"] for f in features]
        charts += [
            bar_chart(
                "Requests and errors per feature",
                names,
                [
                    Series("requests", [f["requests"] for f in features]),
                    Series("errors", [f["errors"] for f in features]),
                ],
                head="feature",
                ident="feature-requests",
            ),
            bar_chart(
                "p99 server time per feature (ms)",
                names,
                [Series("p99 ms", [f["p99_ms"] or 0 for f in features])],
                fmt=_ms,
                head="feature",
                ident="feature-p99",
            ),
            bar_chart(
                "Server and database time per feature (ms)",
                names,
                [
                    Series("server ms", [f["server_ms"] for f in features]),
                    Series("database ms", [f["db_ms"] for f in features]),
                ],
                fmt=_ms,
                head="feature",
                ident="feature-time",
            ),
        ]
    return charts


@pages.page("/operator/usage", nav="Usage")
async def usage(c: Console) -> Response:
    everyone = await _all_tenants(c)
    granularity = c.query.get("granularity", "hour")
    if granularity not in ("hour", "day"):
        granularity = "hour"
    chosen = c.query.get("tenant", "") or (everyone[0]["id"] if everyone else "")
    tenant = next((t for t in everyone if t["id"] == chosen), None)
    charts: list[Markup] = []
    answer = None
    feature = c.query.get("feature", "")
    if tenant is not None:
        answer = await c.api.get(f"/v1/tenants/{tenant['id']}/usage", {"granularity": granularity})
        if feature not in {f["feature"] for f in answer["features"]}:
            feature = ""
        charts = _usage_charts(answer, granularity, feature)
    return c.render(
        "operator_usage.html",
        title="Usage",
        tenants=everyone,
        chosen=tenant,
        granularity=granularity,
        feature=feature,
        usage=answer,
        charts=charts,
    )


# --- FinOps -------------------------------------------------------------------------------


def _finops_charts(report: Mapping[str, Any]) -> dict[str, Markup]:
    tenants = list(report["tenants"])
    groups = _largest(tenants, lambda t: _money(t["cost_eur"]), lambda t: t["slug"], "tenants")
    labels = [label for label, _ in groups]
    costs = [sum(_money(t["cost_eur"]) for t in group) for _, group in groups]
    margins = [sum(_money(t["margin_eur"]) for t in group) for _, group in groups]
    by_resource = [
        Series(r["name"], [sum(_money(t["costs"][r["name"]]) for t in group) for _, group in groups])
        for r in report["resources"]
    ]
    # "(shared)" stays last and on its own: it is no feature's, however large.
    used = [(n, f) for n, f in report["features"].items() if n != "(shared)"]
    feature_groups = _largest(used, lambda i: _money(i[1]["cost_eur"]), lambda i: i[0], "features")
    feature_labels = [label for label, _ in feature_groups]
    feature_costs = [sum(_money(f["cost_eur"]) for _, f in group) for _, group in feature_groups]
    if "(shared)" in report["features"]:
        feature_labels.append("(shared)")
        feature_costs.append(_money(report["features"]["(shared)"]["cost_eur"]))
    teams = report.get("teams") or {}
    by_team = [
        Series(name, [sum(_money(t.get("teams", {}).get(name, 0)) for t in group) for _, group in groups])
        for name in teams
    ]
    capacity = report["capacity"]
    compute = sum(_money(r["cost_eur"]) for r in report["resources"] if r["kind"] == "compute")
    idle_cost = _money(capacity.get("idle_cost_eur") or 0)
    currency = report["currency"]
    charts = {
        "tenants": bar_chart(
            f"Cost and margin per tenant ({currency})",
            labels,
            [Series("cost", costs), Series("margin", margins)],
            fmt=_eur,
            head="tenant",
            desc="Each tenant's allocated cost and its margin (plan revenue minus cost); "
            "a negative margin is drawn left of zero.",
            ident="finops-tenants",
        ),
        "resources": stacked_bars(
            f"Where each tenant's cost goes ({currency})",
            labels,
            by_resource,
            fmt=_eur,
            head="tenant",
            ident="finops-resources",
        ),
        "features": bar_chart(
            f"Cost per feature ({currency})",
            feature_labels,
            [Series("cost", feature_costs)],
            fmt=_eur,
            head="feature",
            ident="finops-features",
        ),
        "teams": bar_chart(
            f"Cost per team ({currency})",
            list(teams),
            [Series("cost", [_money(t["cost_eur"]) for t in teams.values()])],
            fmt=_eur,
            head="team",
            desc="Cost of each owning team's features (the cost model's teams); 'unassigned' is what "
            "no team claims, '(shared)' what no feature causes.",
            ident="finops-teams",
        ),
        "tenant_teams": stacked_bars(
            f"Each tenant's cost by team ({currency})",
            labels,
            by_team,
            fmt=_eur,
            head="tenant",
            desc="Each tenant's cost split by the teams whose features it used; '(shared)' is its share "
            "of costs no feature causes.",
            ident="finops-tenant-teams",
        ),
    }
    if capacity.get("known"):
        charts["idle"] = stacked_bars(
            f"Compute cost: used and idle ({currency})",
            ["compute this month"],
            [Series("used", [max(0.0, compute - idle_cost)]), Series("idle", [idle_cost])],
            fmt=_eur,
            head="resource",
            ident="finops-idle",
        )
    return charts


@pages.page("/operator/finops", nav="FinOps")
async def finops(c: Console) -> Response:
    month = c.query.get("month", "")
    if month and not _MONTH.match(month):
        month = ""
    report = await c.api.get("/v1/finops/report", {"month": month})
    tenants = sorted(report["tenants"], key=lambda t: -_money(t["cost_eur"]))
    return c.render(
        "operator_finops.html",
        title=f"FinOps {report['month']}",
        report=report,
        tenants=tenants,
        charts=_finops_charts(report),
        month=report["month"],
    )


# --- capacity -----------------------------------------------------------------------------


def _plan_users(users: int) -> list[int]:
    points = sorted({max(1, round(users * i / _PLAN_POINTS)) for i in range(1, _PLAN_POINTS + 1)})
    return points


def _form_errors(values: Mapping[str, str]) -> dict[str, list[str]]:
    """The planner's fields checked as the API checks them, so mistakes show next to the field."""
    errors: dict[str, list[str]] = {}
    try:
        if not 1 <= int(values["users"]) <= 1_000_000_000:
            raise ValueError
    except ValueError:
        errors["users"] = ["Enter a whole number from 1 to 1,000,000,000."]
    for name, high in (("requests_per_user_per_minute", 100_000), ("p99_ms", 600_000)):
        try:
            number = float(values[name])
        except ValueError:
            number = float("nan")
        if not 0 < number <= high:  # NaN fails too
            errors[name] = [f"Enter a number above 0, at most {high:,}."]
    return errors


@pages.page("/operator/capacity", methods=("GET", "POST"), nav="Capacity")
async def capacity(c: Console) -> Response:
    values = dict(PLANNER_DEFAULTS)
    if c.request.method == "POST":
        form = await c.form()
        values.update({k: form.get(k, "").strip() for k in PLANNER_DEFAULTS})
    errors = _form_errors(values)
    plan: dict[str, Any] | None = None
    charts: list[Markup] = []
    problem = None
    if not errors:
        points = []
        for n in _plan_users(int(values["users"])):
            answer = await c.api.call("GET", "/v1/finops/capacity", params={**values, "users": str(n)})
            if not answer.ok:
                problem = answer.problem
                break
            points.append(answer.body)
        if points and problem is None:
            plan = points[-1]
            labels = [f"{p['users']:,}" for p in points]
            charts = [
                line_chart(
                    "Instances needed against users",
                    labels,
                    [
                        Series("instances", [p["instances"] for p in points]),
                        Series("HPA max", [p["hpa_max_replicas"] for p in points]),
                    ],
                    head="users",
                    ident="capacity-instances",
                ),
                line_chart(
                    f"Monthly cost against users ({plan['currency']})",
                    labels,
                    [
                        Series("total", [_money(p["monthly_cost_eur"]) for p in points]),
                        Series("compute", [_money(p["compute_monthly_cost_eur"]) for p in points]),
                    ],
                    area=True,
                    fmt=_eur,
                    head="users",
                    ident="capacity-cost",
                ),
            ]
    status = 422 if errors else 200
    return c.render(
        "operator_capacity.html",
        status=status,
        title="Capacity planner",
        values=values,
        errors=errors,
        plan=plan,
        charts=charts,
        problem=problem,
    )
