"""Tenant routes (operator; a tenant key may read its own tenant)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from fundament.platform import (
    Forbidden,
    ListParams,
    RequestContext,
    StrictRoute,
    database,
    doc_responses,
    json_response,
    list_params,
    require_role,
)
from fundament.tenancy import service
from fundament.tenancy.plans import Catalogue
from fundament.tenancy.schemas import (
    OffboardingAccepted,
    Tenant,
    TenantCreate,
    TenantList,
    TenantPatch,
)

router = APIRouter(prefix="/v1/tenants", tags=["tenants"], route_class=StrictRoute)

Operator = Annotated[RequestContext, Depends(require_role("operator"))]
Viewer = Annotated[RequestContext, Depends(require_role("viewer"))]
Owner = Annotated[RequestContext, Depends(require_role("owner"))]


def _plans(request: Request) -> Catalogue:
    plans: Catalogue = request.app.state.plans
    return plans


@router.post(
    "",
    status_code=201,
    response_model=Tenant,
    responses=doc_responses(409),
    summary="Create a tenant",
)
async def create_tenant(body: TenantCreate, request: Request, ctx: Operator) -> Response:
    tenant_id = service.new_tenant_id()
    async with database(request).transaction(ctx, tenant_id=tenant_id) as tx:
        tenant = await service.create_tenant(
            tx, name=body.name, slug=body.slug, region=body.region, plan=body.plan, plans=_plans(request)
        )
    return json_response(tenant.to_json(), 201, {"Location": f"/v1/tenants/{tenant.id}"})


@router.get("", response_model=TenantList, summary="List tenants (ordered by id)")
async def list_tenants(
    request: Request, ctx: Operator, page: Annotated[ListParams, Depends(list_params)]
) -> Response:
    async with database(request).transaction(ctx) as tx:
        result = await service.list_tenants(tx, limit=page.limit, cursor=page.cursor)
    return json_response(result.to_json(lambda t: t.to_json()))


@router.get("/{tenant}", response_model=Tenant, summary="Get a tenant")
async def get_tenant(tenant: str, request: Request, ctx: Viewer) -> Response:
    async with database(request).transaction(ctx) as tx:
        found = await service.get_tenant(tx, tenant)
    return json_response(found.to_json())


@router.patch(
    "/{tenant}",
    response_model=Tenant,
    summary="Change a tenant (JSON Merge Patch)",
    description=(
        "Operators may change `name`, `plan` and `status`; a tenant's owner may change "
        "`name` only (plan and status are commercial decisions of the operator). `region` is "
        "fixed at creation: sending a different region is refused with 422."
    ),
)
async def patch_tenant(tenant: str, body: TenantPatch, request: Request, ctx: Owner) -> Response:
    changes = body.model_dump(exclude_unset=True)
    assert ctx.principal is not None
    if not ctx.principal.is_operator and ({"plan", "status"} & changes.keys()):
        raise Forbidden("Only an operator may change a tenant's plan or status.")
    async with database(request).transaction(ctx) as tx:
        updated = await service.update_tenant(tx, tenant, changes=changes, plans=_plans(request))
    return json_response(updated.to_json())


@router.delete(
    "/{tenant}",
    status_code=202,
    response_model=OffboardingAccepted,
    summary="Offboard a tenant",
    description="Deletes all the tenant's data and revokes its keys; afterwards the tenant is 404.",
)
async def delete_tenant(tenant: str, request: Request, ctx: Owner) -> Response:
    # The cascade locks every table of the tenant in PostgreSQL's order, which can deadlock
    # with a write of the same tenant in flight; the loser is retried (or gets a 503).
    await database(request).run(ctx, lambda tx: service.offboard_tenant(tx, tenant))
    return json_response({"id": tenant, "status": "offboarded"}, 202)
