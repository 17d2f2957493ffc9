"""Tenant routes (operator; a tenant key may read its own tenant)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from fundament.platform import (
    Admin,
    Forbidden,
    ListParams,
    Operator,
    Owner,
    Viewer,
    database,
    doc_responses,
    doc_shape,
    json_response,
    list_params,
    services,
    shape,
)
from fundament.tenancy import Needs, service
from fundament.tenancy.schemas import (
    CorsSettings,
    OffboardingAccepted,
    Tenant,
    TenantCreate,
    TenantList,
    TenantPatch,
)

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])



def _needs(request: Request) -> Needs:
    needs: Needs = services(request)
    return needs


@router.post(
    "",
    operation_id="tenants_create",
    status_code=201,
    responses=doc_shape(Tenant, 201) | doc_responses(409),
    summary="Create a tenant",
)
async def create_tenant(body: TenantCreate, request: Request, ctx: Operator) -> Response:
    tenant_id = service.new_tenant_id()
    needs = _needs(request)
    plans = needs.plans
    region = body.region or needs.default_region
    cell_name = await needs.placement.choose(region)
    control = database(request)
    async with control.transaction(ctx, tenant_id=tenant_id, routed=False) as tx:
        tenant = await service.create_tenant(
            tx,
            name=body.name,
            slug=body.slug,
            region=region,
            plan=body.plan or plans.default,
            plans=plans,
            cell=cell_name,
        )
        cell = needs.cells.database(cell_name)
        if cell is not control:
            # Before the registry commits: a tenant is never listed without its cell's copy
            # (a failed commit leaves only an unreferenced copy behind).
            needs.cells.remember(tenant_id, cell)
            async with cell.transaction(ctx, tenant_id=tenant_id, routed=False) as anchor:
                await service.anchor_tenant(anchor, tenant)
                # The tenant's audit trail starts on its cell, where the rest of it goes.
                anchor.events.extend(tx.events)
                tx.events.clear()
    return json_response(shape(Tenant, tenant), 201, {"Location": f"/v1/tenants/{tenant.id}"})


@router.get(
    "",
    operation_id="tenants_list",
    responses=doc_shape(TenantList),
    summary="List tenants (ordered by id)",
)
async def list_tenants(
    request: Request, ctx: Operator, page: Annotated[ListParams, Depends(list_params)]
) -> Response:
    async with database(request).transaction(ctx, routed=False) as tx:
        result = await service.list_tenants(tx, limit=page.limit, cursor=page.cursor)
    return json_response(shape(TenantList, result))


@router.get("/{tenant}", operation_id="tenants_get", responses=doc_shape(Tenant), summary="Get a tenant")
async def get_tenant(tenant: str, request: Request, ctx: Viewer) -> Response:
    async with database(request).transaction(ctx, routed=False) as tx:
        found = await service.get_tenant(tx, tenant)
    return json_response(shape(Tenant, found))


@router.patch(
    "/{tenant}",
    operation_id="tenants_update",
    responses=doc_shape(Tenant),
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
    control = database(request)
    async with control.transaction(ctx, routed=False) as tx:
        updated = await service.update_tenant(tx, tenant, changes=changes, plans=_needs(request).plans)
        cell = await control.cell_of(tenant)
        if cell is not control:  # before the registry commits: both change, or neither
            async with cell.transaction(ctx, tenant_id=tenant, routed=False) as copy:
                await service.refresh_anchor(copy, updated)
    return json_response(shape(Tenant, updated))


@router.delete(
    "/{tenant}",
    operation_id="tenants_delete",
    status_code=202,
    responses=doc_shape(OffboardingAccepted, 202),
    summary="Offboard a tenant",
    description="Deletes all the tenant's data and revokes its keys; afterwards the tenant is 404.",
)
async def delete_tenant(tenant: str, request: Request, ctx: Owner) -> Response:
    # The cascade locks every table of the tenant in PostgreSQL's order, which can deadlock
    # with a write of the same tenant in flight; the loser is retried (or gets a 503).
    control = database(request)
    cell = await control.cell_of(tenant)
    if cell is not control:
        # The tenant's data first, on its cell; the registry's row last, so a failure in
        # between leaves a tenant that a retried DELETE offboards again.
        await cell.run(ctx, lambda tx: service.drop_anchor(tx, tenant), routed=False)
    await control.run(ctx, lambda tx: service.offboard_tenant(tx, tenant), routed=False)
    return json_response(OffboardingAccepted(tenant, "offboarded"), 202)


_CORS = (
    "The browser origins (CORS) allowed to call this tenant's paths, `/v1/tenants/{tenant}` and "
    "below, from a web page. For an allowed `Origin`, a preflight (`OPTIONS`, which needs no key) "
    "answers 204 with `Access-Control-Allow-Origin: <that origin>` (never `*`), `Vary: Origin`, the "
    "path's methods, the request headers a client may send (`Authorization`, `Content-Type`, "
    "`Idempotency-Key`, `If-Match`, `If-None-Match`, `X-Request-Id`, `traceparent`, `tracestate`) and "
    "`Access-Control-Max-Age: 600`; every other answer, errors and 429s included, carries "
    "`Access-Control-Allow-Origin` and exposes `ETag`, `Location`, `RateLimit-*`, `Retry-After`, "
    "`X-Request-Id`, `Idempotent-Replayed`, `Content-Disposition` and `Allow`. Another origin gets no "
    "`Access-Control-Allow-*` headers, so the browser refuses. Credentials are never allowed: send "
    "the key in `Authorization`. The operator's origins (FUNDAMENT_CORS_OPERATOR_ORIGINS) are "
    "allowed on every tenant besides these."
)


@router.get(
    "/{tenant}/cors",
    response_model=CorsSettings,
    operation_id="tenants_cors_get",
    summary="Get the tenant's allowed browser origins (CORS)",
    description=_CORS,
)
async def get_cors(tenant: str, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx, routed=False) as tx:
        found = await service.get_tenant(tx, tenant)
    return json_response(CorsSettings.model_construct(allowed_origins=list(found.cors_origins)))


@router.put(
    "/{tenant}/cors",
    response_model=CorsSettings,
    operation_id="tenants_cors_replace",
    summary="Replace the tenant's allowed browser origins (CORS)",
    description=_CORS
    + " The list given replaces the one before (an empty list allows none); every instance applies "
    "it within about a second, and a browser may reuse a preflight answered before for up to 600 s. "
    "An origin that is not exact (`*`, a path, a scheme other than http/https, `null`, a bad host or "
    "port) is refused with 422 naming it.",
)
async def put_cors(tenant: str, body: CorsSettings, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx, routed=False) as tx:
        updated = await service.set_cors_origins(tx, tenant, body.allowed_origins)
    return json_response(CorsSettings.model_construct(allowed_origins=list(updated.cors_origins)))
