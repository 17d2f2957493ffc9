"""Audit routes (admin): list with filters, verify the chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from fundament.audit import Needs, Sealer, service
from fundament.platform import (
    Instant,
    ListParams,
    RequestContext,
    database,
    json_response,
    list_params,
    require_role,
    services,
)

router = APIRouter(prefix="/v1/tenants/{tenant}/audit-events", tags=["audit"])
Admin = Annotated[RequestContext, Depends(require_role("admin"))]


def _sealer(request: Request) -> Sealer:
    needs: Needs = services(request)
    return needs.audit_sealer


class Ref(BaseModel):
    type: str
    id: str | None


class AuditEvent(BaseModel):
    id: str
    seq: int
    at: datetime
    actor: Ref
    action: str = Field(examples=["record.created"])
    target: Ref
    request_id: str | None
    details: dict[str, Any] = Field(description="Names of what changed; never personal values.")
    prev_hash: str
    hash: str


class AuditEventList(BaseModel):
    items: list[AuditEvent]
    next_cursor: str | None


class ChainVerification(BaseModel):
    valid: bool
    count: int
    head: str | None = Field(description="Hash of the last event (hex).")
    broken_seq: int | None = Field(default=None, description="First seq that fails, if any.")
    reason: str | None = None


@router.get(
    "",
    operation_id="audit_events_list",
    response_model=AuditEventList,
    summary="List audit events (chain order)",
    description="Filters: `action`, `actor` (key id), `target` (target id), and `at` as a "
    "half-open range `at_from` ≤ at < `at_to`, each an RFC 3339 date-time with an offset or a "
    "date (meaning 00:00 UTC).",
)
async def list_audit_events(
    tenant: str,
    request: Request,
    ctx: Admin,
    page: Annotated[ListParams, Depends(list_params)],
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    at_from: Instant | None = None,
    at_to: Instant | None = None,
) -> Response:
    await _sealer(request).seal(tenant)  # readers see every committed write
    async with database(request).transaction(ctx) as tx:
        result = await service.list_events(
            tx,
            limit=page.limit,
            cursor=page.cursor,
            action=action,
            actor=actor,
            target=target,
            since=at_from,
            until=at_to,
        )
    return json_response(result.to_json())


@router.get(
    "/verify",
    operation_id="audit_events_verify",
    response_model=ChainVerification,
    summary="Verify the hash chain",
)
async def verify_audit_chain(tenant: str, request: Request, ctx: Admin) -> Response:
    await _sealer(request).seal(tenant)
    async with database(request).transaction(ctx) as tx:
        result = await service.verify_tenant(tx.conn, tenant)
    return json_response(result.to_json())
