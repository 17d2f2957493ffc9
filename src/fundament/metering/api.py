"""Usage (tenant admin) and FinOps (operator) routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from fundament.metering.usage import tenant_usage
from fundament.platform import (
    BadRequest,
    FieldError,
    RequestContext,
    StrictRoute,
    database,
    json_response,
    require_role,
)

router = APIRouter(tags=["usage and cost"], route_class=StrictRoute)
Admin = Annotated[RequestContext, Depends(require_role("admin"))]

_MAX_RANGE = timedelta(days=400)


class UsageFigures(BaseModel):
    requests: int
    errors: int = Field(description="Answers with status 4xx or 5xx.")
    server_errors: int = Field(description="Answers with status 5xx.")
    server_ms: float = Field(description="Server time, milliseconds.")
    db_ms: float = Field(description="Database time (transactions, pool wait included), milliseconds.")
    bytes_in: int
    bytes_out: int


class FeatureUsage(UsageFigures):
    feature: str = Field(examples=["GET /v1/tenants/{tenant}/collections/{name}/records/{record_id}"])


class UsageBucket(UsageFigures):
    start: datetime
    stored_bytes: int | None = Field(description="Last storage sample in this bucket, if any.")
    records: int | None
    features: list[FeatureUsage]


class Usage(BaseModel):
    tenant_id: str
    from_: datetime = Field(alias="from")
    to: datetime
    granularity: Literal["hour", "day"]
    totals: UsageFigures
    stored_bytes: int = Field(description="Latest measurement of the tenant's stored record bytes.")
    records: int
    storage_measured_at: datetime | None
    features: list[FeatureUsage]
    buckets: list[UsageBucket]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get(
    "/v1/tenants/{tenant}/usage",
    response_model=Usage,
    summary="Metered usage of a tenant",
    description=(
        "Requests, errors, server time, database time and bytes in/out per feature (method and "
        "route template), in hourly or daily buckets, plus stored bytes. `from` defaults to 24 "
        "hours (hour) or 30 days (day) before `to`, which defaults to now; the range is at most "
        "400 days. This instance's unwritten usage is flushed first; other instances' usage "
        "appears within `FUNDAMENT_USAGE_FLUSH_SECONDS`."
    ),
)
async def get_usage(
    tenant: str,
    request: Request,
    ctx: Admin,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: Annotated[datetime | None, Query()] = None,
    granularity: Annotated[Literal["hour", "day"], Query()] = "hour",
) -> Response:
    end = _utc(to) or datetime.now(UTC)
    start = _utc(from_) or end - (timedelta(hours=24) if granularity == "hour" else timedelta(days=30))
    if start >= end:
        raise BadRequest("`from` must be before `to`.", errors=[FieldError("from", "must be before to")])
    if end - start > _MAX_RANGE:
        raise BadRequest("The range is at most 400 days.", errors=[FieldError("from", "range too long")])
    meter = request.app.state.meter
    if meter is not None:
        await meter.flush()
    async with database(request).transaction(ctx) as tx:
        body: dict[str, Any] = await tenant_usage(tx, tenant, start=start, end=end, granularity=granularity)
    return json_response(body)
