"""Routes for a tenant's API keys and users (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from fundament.identity import service
from fundament.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    OperatorKeyCreate,
    OperatorKeyCreated,
    OperatorKeyList,
    User,
    UserCreate,
    UserList,
    UserPatch,
)
from fundament.platform import (
    Admin,
    ListParams,
    Operator,
    database,
    doc_responses,
    doc_shape,
    json_response,
    list_params,
    shape,
)

router = APIRouter(prefix="/v1/tenants/{tenant}")
operator_router = APIRouter(prefix="/v1/operator-keys", tags=["operator keys"])

Page = Annotated[ListParams, Depends(list_params)]
NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "/api-keys",
    operation_id="api_keys_create",
    status_code=201,
    tags=["api keys"],
    responses=doc_shape(ApiKeyCreated, 201) | doc_responses(quotas=("max_api_keys",)),
    summary="Create a tenant API key",
    description="The secret `key` is returned only here (with `Cache-Control: no-store`). "
    "A key cannot be given a role above the caller's own.",
)
async def create_api_key(tenant: str, body: ApiKeyCreate, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        created = await service.create_api_key(tx, name=body.name, role=body.role, expires_at=body.expires_at)
    headers = {**NO_STORE, "Location": f"/v1/tenants/{tenant}/api-keys/{created.id}"}
    return json_response(created, 201, headers)


@router.get(
    "/api-keys",
    operation_id="api_keys_list",
    responses=doc_shape(ApiKeyList),
    tags=["api keys"],
    summary="List active keys",
)
async def list_api_keys(tenant: str, request: Request, ctx: Admin, page: Page) -> Response:
    async with database(request).transaction(ctx) as tx:
        result = await service.list_api_keys(tx, limit=page.limit, cursor=page.cursor)
    return json_response(shape(ApiKeyList, result))


@router.delete(
    "/api-keys/{key_id}",
    operation_id="api_keys_revoke",
    status_code=204,
    tags=["api keys"],
    summary="Revoke a key",
    response_class=Response,
    description="Takes effect at once on every instance.",
)
async def revoke_api_key(tenant: str, key_id: str, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        await service.revoke_api_key(tx, key_id)
    return Response(status_code=204)


@router.post(
    "/users",
    operation_id="users_create",
    status_code=201,
    tags=["users"],
    responses=doc_shape(User, 201) | doc_responses(409, quotas=("max_users",)),
    summary="Create a user",
)
async def create_user(tenant: str, body: UserCreate, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        user = await service.create_user(tx, email=body.email, name=body.name, role=body.role)
    return json_response(user, 201, {"Location": f"/v1/tenants/{tenant}/users/{user.id}"})


@router.get(
    "/users",
    operation_id="users_list",
    responses=doc_shape(UserList),
    tags=["users"],
    summary="List users",
)
async def list_users(tenant: str, request: Request, ctx: Admin, page: Page) -> Response:
    async with database(request).transaction(ctx) as tx:
        result = await service.list_users(tx, limit=page.limit, cursor=page.cursor)
    return json_response(shape(UserList, result))


@router.get(
    "/users/{user_id}",
    operation_id="users_get",
    responses=doc_shape(User),
    tags=["users"],
    summary="Get a user",
)
async def get_user(tenant: str, user_id: str, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        user = await service.get_user(tx, user_id)
    return json_response(user)


@router.patch(
    "/users/{user_id}",
    operation_id="users_update",
    tags=["users"],
    responses=doc_shape(User) | doc_responses(409),
    summary="Change a user (JSON Merge Patch)",
)
async def patch_user(tenant: str, user_id: str, body: UserPatch, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        user = await service.update_user(tx, user_id, changes=body.model_dump(exclude_unset=True))
    return json_response(user)


@router.delete(
    "/users/{user_id}",
    operation_id="users_delete",
    status_code=204,
    tags=["users"],
    summary="Delete a user",
    response_class=Response,
)
async def delete_user(tenant: str, user_id: str, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        await service.delete_user(tx, user_id)
    return Response(status_code=204)


@operator_router.post(
    "",
    status_code=201,
    responses=doc_shape(OperatorKeyCreated, 201),
    operation_id="operator_keys_create",
    summary="Create an operator key",
    description="An operator key acts on every tenant. The secret `key` is returned only here "
    "(with `Cache-Control: no-store`); give it an `expires_at` and rotate it by creating the "
    "next one before revoking this one.",
)
async def create_operator_key(body: OperatorKeyCreate, request: Request, ctx: Operator) -> Response:
    async with database(request).transaction(ctx) as tx:
        created = await service.issue_operator_key(tx, name=body.name, expires_at=body.expires_at)
    headers = {**NO_STORE, "Location": f"/v1/operator-keys/{created.id}"}
    return json_response(created, 201, headers)


@operator_router.get(
    "",
    responses=doc_shape(OperatorKeyList),
    operation_id="operator_keys_list",
    summary="List operator keys",
    description="Keys not revoked, expired ones included, ordered by id; never a secret.",
)
async def list_operator_keys(request: Request, ctx: Operator, page: Page) -> Response:
    async with database(request).transaction(ctx) as tx:
        result = await service.list_operator_keys(tx.conn, limit=page.limit, cursor=page.cursor)
    return json_response(shape(OperatorKeyList, result))


@operator_router.delete(
    "/{key_id}",
    status_code=204,
    response_class=Response,
    operation_id="operator_keys_revoke",
    summary="Revoke an operator key",
    description="Takes effect at once on every instance; the key gets 401 from then on. "
    "Revoking the key that makes the request is allowed (`fundament operator-key create` "
    "makes a new one).",
)
async def revoke_operator_key(key_id: str, request: Request, ctx: Operator) -> Response:
    async with database(request).transaction(ctx) as tx:
        await service.withdraw_operator_key(tx, key_id)
    return Response(status_code=204)
