"""Audit routes (admin): list with filters, verify the chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from fundament.audit import Needs, Sealer, service
from fundament.audit.schemas import AuditEventList, ChainVerification
from fundament.platform import (
    Admin,
    Instant,
    ListParams,
    database,
    doc_shape,
    json_response,
    list_params,
    services,
    shape,
)

router = APIRouter(prefix="/v1/tenants/{tenant}/audit-events", tags=["audit"])


def _sealer(request: Request) -> Sealer:
    needs: Needs = services(request)
    return needs.audit_sealer


@router.get(
    "",
    operation_id="audit_events_list",
    responses=doc_shape(AuditEventList),
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
    return json_response(shape(AuditEventList, result))


@router.get(
    "/verify",
    operation_id="audit_events_verify",
    responses=doc_shape(ChainVerification),
    summary="Verify the hash chain",
)
async def verify_audit_chain(tenant: str, request: Request, ctx: Admin) -> Response:
    await _sealer(request).seal(tenant)
    async with database(request).transaction(ctx) as tx:
        result = await service.verify_tenant(tx.conn, tenant)
    return json_response(result)
