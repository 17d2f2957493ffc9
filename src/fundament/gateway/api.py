"""The migration report (operator)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fundament.gateway import Needs
from fundament.gateway.schemas import GatewayRouteList
from fundament.platform import NotFound, Operator, doc_shape, json_response, services

router = APIRouter(prefix="/v1/gateway", tags=["gateway"])


@router.get(
    "/routes",
    operation_id="gateway_routes",
    responses=doc_shape(GatewayRouteList),
    summary="The gateway's routes, with the evidence to flip them",
    description=(
        "Each route of the strangler-fig gateway's table in its order, then `(unmatched)` (what no "
        "route matched, sent to legacy): its mode, its share of the traffic, shadow comparisons and "
        "mismatches (beyond ignored and learned noise) with the latest examples, redacted of personal "
        "fields, and the p50/p99 of each side. The counts are this process's since it started. One "
        "page: `next_cursor` is always null. 404 when this server runs no gateway "
        "(`FUNDAMENT_GATEWAY_CONFIG`; docs/gateway.md)."
    ),
)
async def list_routes(request: Request, ctx: Operator) -> Response:
    needs: Needs = services(request)
    if needs.gateway is None:
        raise NotFound("This server runs no gateway: start it with FUNDAMENT_GATEWAY_CONFIG.")
    return json_response(needs.gateway.report())
