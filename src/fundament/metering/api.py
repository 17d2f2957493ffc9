"""Usage (tenant admin) and FinOps (operator) routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from fundament.metering import Needs, capacity, finops
from fundament.metering.schemas import CapacityPlan, FinopsReport, Usage
from fundament.metering.usage import tenant_usage
from fundament.platform import (
    Admin,
    BadRequest,
    FieldError,
    Instant,
    Operator,
    database,
    doc_shape,
    json_response,
    services,
)

router = APIRouter(tags=["usage and cost"])

_MAX_RANGE = timedelta(days=400)


def _needs(request: Request) -> Needs:
    needs: Needs = services(request)
    return needs


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get(
    "/v1/tenants/{tenant}/usage",
    operation_id="usage_get",
    responses=doc_shape(Usage),
    summary="Metered usage of a tenant",
    description=(
        "Requests, errors, server time, database time and bytes in/out per feature (method and "
        "route template), in hourly or daily buckets, plus stored bytes. `from` and `to` are RFC "
        "3339 date-times with an offset, or dates (00:00 UTC); `from` defaults to 24 hours (hour) "
        "or 30 days (day) before `to`, which defaults to now. `from` must lie before `to`, at most "
        "400 days before it (else 400). This instance's unwritten usage is flushed first; other "
        "instances' usage appears within `FUNDAMENT_USAGE_FLUSH_SECONDS`."
    ),
)
async def get_usage(
    tenant: str,
    request: Request,
    ctx: Admin,
    from_: Annotated[
        Instant | None,
        Query(alias="from", description="Start (inclusive); before `to`, by at most 400 days."),
    ] = None,
    to: Annotated[Instant | None, Query(description="End (exclusive); default now.")] = None,
    granularity: Annotated[Literal["hour", "day"], Query()] = "hour",
) -> Response:
    end = _utc(to) or datetime.now(UTC)
    start = _utc(from_) or end - (timedelta(hours=24) if granularity == "hour" else timedelta(days=30))
    if start >= end:
        raise BadRequest("`from` must be before `to`.", errors=[FieldError("from", "must be before to")])
    if end - start > _MAX_RANGE:
        raise BadRequest("The range is at most 400 days.", errors=[FieldError("from", "range too long")])
    meter = _needs(request).meter
    if meter is not None:
        await meter.flush()
    # In the control database, where usage is kept whatever the tenant's cell.
    async with database(request).transaction(ctx, routed=False) as tx:
        body = await tenant_usage(tx, tenant, start=start, end=end, granularity=granularity)
    return json_response(body)


# --- FinOps (operator) -----------------------------------------------------------------------

#: Stated in the document and checked by FastAPI: a month the report can be built for.
MONTH_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"


@router.get(
    "/v1/finops/report",
    operation_id="finops_report_get",
    responses=doc_shape(FinopsReport),
    summary="Cost, revenue and margin per tenant for a month",
    description=(
        "Allocates the month's cost (the cost model's estimate, or the imported FOCUS bill) to "
        "tenants by each resource's driver, with largest-remainder rounding so shares add up to "
        "the total to the cent; revenue comes from each tenant's plan price. Only tenants that "
        "existed in the month take part (in the month a tenant was created, its revenue and even "
        "shares are prorated: `existed_share`); cost no tenant carries is `unallocated_eur`, "
        "explained by `unallocated_note`. Also cost per feature, "
        "per active key and user, and idle capacity with a right-sizing suggestion. `month` is "
        "`YYYY-MM` (default: the current month)."
    ),
)
async def finops_report(
    request: Request,
    ctx: Operator,
    month: Annotated[
        str | None,
        Query(
            pattern=MONTH_PATTERN,
            description="`YYYY-MM` from 1970-01 to 2999-12; default the current month.",
        ),
    ] = None,
) -> Response:
    month = month or finops.current_month()
    if not finops.MONTH.match(month):
        raise BadRequest("`month` must be YYYY-MM.", errors=[FieldError("month", "must be YYYY-MM")])
    needs = _needs(request)
    if needs.meter is not None:
        await needs.meter.flush()
    body = await finops.month_report(database(request), needs.plans, needs.cost_model, month)
    return json_response(body)


@router.get(
    "/v1/finops/capacity",
    operation_id="finops_capacity_get",
    responses=doc_shape(CapacityPlan),
    summary="Instances, HPA bounds and cost for a number of users",
    description=(
        "From the last `fundament bench capacity` measurement (or a documented reference figure "
        "until one exists): load = users × requests per user per minute / 60; instances = load / "
        "(requests/s per worker × workers × target utilisation), rounded up, at least the model's "
        "minimum; HPA max covers 3× the load. Includes a ready autoscaling/v2 manifest, monthly "
        "cost, cost per user and the marginal cost per user at 1k, 10k and 100k users. Defaults: "
        "`requests_per_user_per_minute`=6, `p99_ms`=200."
    ),
)
async def finops_capacity(
    request: Request,
    ctx: Operator,
    users: Annotated[int, Query(ge=1, le=1_000_000_000)],
    requests_per_user_per_minute: Annotated[float, Query(gt=0, le=100_000)] = 6.0,
    p99_ms: Annotated[float, Query(gt=0, le=600_000)] = 200.0,
) -> Response:
    async with database(request).transaction(ctx) as tx:
        measurement = await finops.latest_measurement(tx.conn)
    try:
        result = capacity.plan(
            users,
            requests_per_user_per_minute,
            p99_ms,
            measurement or finops.REFERENCE,
            _needs(request).cost_model,
        )
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    return json_response(result)
