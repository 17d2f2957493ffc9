"""Routes for collections (admin writes, viewer reads) and records (member writes)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import Response

from fundament.platform import (
    IDEMPOTENCY_KEY_SCHEMA,
    Admin,
    LaneFull,
    ListParams,
    Member,
    RequestContext,
    StoredResponse,
    TooManyRequests,
    Viewer,
    check_idempotency_key,
    database,
    doc_responses,
    doc_shape,
    encode,
    json_response,
    list_params,
    request_fingerprint,
    run_idempotent,
    services,
    shape,
)
from fundament.records import Needs, RecordsState, service
from fundament.records import collections as colls
from fundament.records.schemas import (
    Collection,
    CollectionCreate,
    CollectionList,
    CollectionPatch,
    Record,
    RecordDataPatch,
    RecordList,
    RecordWrite,
)

router = APIRouter(prefix="/v1/tenants/{tenant}/collections")

Page = Annotated[ListParams, Depends(list_params)]
Name = Annotated[str, Path(max_length=63, description="Collection name.")]
RecordId = Annotated[str, Path(max_length=64, description="Record id (`rec_…`).")]
IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="Optimistic concurrency: an ETag from a read.")
]


def _state(request: Request) -> RecordsState:
    needs: Needs = services(request)
    return needs.records


def _record_headers(tenant: str, name: str, row: Record) -> dict[str, str]:
    return {
        "ETag": row.etag,
        "Location": f"/v1/tenants/{tenant}/collections/{name}/records/{row.id}",
    }


# --- collections ------------------------------------------------------------------------


@router.post(
    "",
    operation_id="collections_create",
    status_code=201,
    tags=["collections"],
    responses=doc_shape(Collection, 201) | doc_responses(409, quotas=("max_collections",)),
    summary="Create a collection",
)
async def create_collection(tenant: str, body: CollectionCreate, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        coll = await colls.create_collection(tx, body.model_dump(by_alias=True))
    return json_response(
        shape(Collection, coll), 201, {"Location": f"/v1/tenants/{tenant}/collections/{coll.name}"}
    )


@router.get(
    "",
    operation_id="collections_list",
    responses=doc_shape(CollectionList),
    tags=["collections"],
    summary="List collections",
)
async def list_collections(tenant: str, request: Request, ctx: Viewer, page: Page) -> Response:
    async with database(request).transaction(ctx) as tx:
        result = await colls.list_collections(tx, limit=page.limit, cursor=page.cursor)
    return json_response(shape(CollectionList, result))


@router.get(
    "/{name}",
    operation_id="collections_get",
    responses=doc_shape(Collection),
    tags=["collections"],
    summary="Get a collection",
)
async def get_collection(tenant: str, name: Name, request: Request, ctx: Viewer) -> Response:
    async with database(request).transaction(ctx) as tx:
        coll = await colls.get_collection(tx, name)
    return json_response(shape(Collection, coll))


@router.patch(
    "/{name}",
    operation_id="collections_update",
    tags=["collections"],
    responses=doc_shape(Collection) | doc_responses(409),
    summary="Change a collection (JSON Merge Patch)",
    description="A schema change that existing records would fail is refused with 409; the "
    "problem's `record_ids` names up to 10 of them.",
)
async def patch_collection(
    tenant: str, name: Name, body: CollectionPatch, request: Request, ctx: Admin
) -> Response:
    patch = body.model_dump(by_alias=True, exclude_unset=True)
    # A new schema is checked against every record, new indexes are filled into every
    # record: work of the size of the collection, in the same lane as scans.
    heavy = "schema" in patch or "indexes" in patch
    async with _lane(_state(request), tenant, heavy), database(request).transaction(ctx) as tx:
        coll = await colls.update_collection(tx, name, patch)
    return json_response(shape(Collection, coll))


@contextlib.asynccontextmanager
async def _lane(state: Any, tenant: str, heavy: bool) -> AsyncIterator[None]:
    """Work the size of a whole collection runs in the tenant's lane (one at a time, a
    bounded share of the time); a full lane answers 429 at once."""
    if not heavy:
        yield
        return
    try:
        async with state.scans.slot(tenant):
            yield
    except LaneFull as full:
        raise TooManyRequests(
            f"This tenant already has {full.waiting} requests running or waiting that read or "
            "rewrite a whole collection (lists no declared index serves, schema and index "
            "changes); they run one at a time. Retry later; for lists, declare an index (the "
            "collection's `indexes`) for the fields you filter and sort by.",
            headers={"Retry-After": str(full.retry_after)},
            extra={"limit": "scans"},
        ) from None


@router.delete(
    "/{name}",
    operation_id="collections_delete",
    status_code=204,
    response_class=Response,
    tags=["collections"],
    summary="Delete a collection and its records",
)
async def delete_collection(tenant: str, name: Name, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        await colls.delete_collection(tx, name)
    return Response(status_code=204)


# --- records ----------------------------------------------------------------------------


@router.post(
    "/{name}/records",
    operation_id="records_create",
    status_code=201,
    tags=["records"],
    responses=doc_shape(Record, 201) | doc_responses(quotas=("max_records", "max_stored_bytes")),
    summary="Create a record",
    description="Send `Idempotency-Key` to make retries safe: the same key and body return "
    "the first answer without a second write; the same key with another body is a 422.",
)
async def create_record(
    tenant: str,
    name: Name,
    body: RecordWrite,
    request: Request,
    ctx: Member,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="1–255 printable ASCII characters; a retry with the same key and body "
            "answers as the first time.",
            json_schema_extra=IDEMPOTENCY_KEY_SCHEMA,
        ),
    ] = None,
) -> Response:
    state = _state(request)
    coll = await state.cache.get(ctx, tenant, name)

    async def produce() -> StoredResponse:
        row = await service.create_record(tx, state.cache, coll, body.data)
        return StoredResponse(201, _record_headers(tenant, name, row), encode(row))

    async with database(request).transaction(ctx) as tx:
        if idempotency_key is None:
            result = await produce()
        else:
            fingerprint = request_fingerprint("POST", request.url.path, await request.body())
            result = await run_idempotent(
                tx,
                key=check_idempotency_key(idempotency_key),
                scope=f"POST {request.url.path}",
                fingerprint=fingerprint,
                produce=produce,
            )
    headers = dict(result.headers)
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(result.body, result.status, headers, media_type="application/json")


@router.get(
    "/{name}/records",
    operation_id="records_list",
    responses=doc_shape(RecordList),
    tags=["records"],
    summary="List records",
    description="`filter` is a SCIM filter (RFC 7644 §3.4.2.2) over fields of `data` and "
    "`id`, `created_at`, `updated_at`; string comparisons are case-sensitive. `sort` is a "
    "comma-separated list of fields, `-` for descending (default `created_at`).",
)
async def list_records(
    tenant: str,
    name: Name,
    request: Request,
    ctx: Viewer,
    page: Page,
    filter: Annotated[str | None, Query(max_length=2000, examples=["score gt 10"])] = None,
    sort: Annotated[str | None, Query(max_length=300, examples=["-score,created_at"])] = None,
) -> Response:
    state = _state(request)
    cache = state.cache
    coll = await cache.get(ctx, tenant, name)
    # A scan of the collection runs in its tenant's lane, entered before it takes a
    # connection: one tenant's maximal filters cannot take the database from the others.
    heavy = service.scans(coll, filter, sort)
    async with _lane(state, tenant, heavy), database(request).transaction(ctx) as tx:
        result = await service.list_records(
            tx, cache, coll, limit=page.limit, cursor=page.cursor, filter=filter, sort=sort
        )
    return json_response(result)


@router.get(
    "/{name}/records/{record_id}",
    operation_id="records_get",
    tags=["records"],
    responses=doc_shape(Record) | doc_responses(304),
    summary="Get a record",
)
async def get_record(
    tenant: str,
    name: Name,
    record_id: RecordId,
    request: Request,
    ctx: Viewer,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    await _state(request).cache.get(ctx, tenant, name)
    async with database(request).transaction(ctx) as tx:
        row = await service.get_record(tx, name, record_id)
    if service.if_none_match_hits(if_none_match, row.etag):
        return Response(status_code=304, headers={"ETag": row.etag})
    return json_response(row, headers={"ETag": row.etag})


@router.put(
    "/{name}/records/{record_id}",
    operation_id="records_replace",
    tags=["records"],
    responses=doc_shape(Record) | doc_responses(412, quotas=("max_stored_bytes",)),
    summary="Replace a record",
)
async def put_record(
    tenant: str,
    name: Name,
    record_id: RecordId,
    body: RecordWrite,
    request: Request,
    ctx: Member,
    if_match: IfMatch = None,
) -> Response:
    return await _rewrite(request, ctx, tenant, name, record_id, service.replace_record, body.data, if_match)


@router.patch(
    "/{name}/records/{record_id}",
    operation_id="records_update",
    tags=["records"],
    responses=doc_shape(Record) | doc_responses(412, quotas=("max_stored_bytes",)),
    summary="Change a record (JSON Merge Patch of data)",
    description="The body is an RFC 7396 merge patch applied to `data`; send it as "
    "`application/merge-patch+json` (`application/json` is accepted too). The result must "
    "pass the schema.",
)
async def patch_record(
    tenant: str,
    name: Name,
    record_id: RecordId,
    request: Request,
    ctx: Member,
    patch: Annotated[RecordDataPatch, Body(media_type="application/merge-patch+json")],
    if_match: IfMatch = None,
) -> Response:
    return await _rewrite(request, ctx, tenant, name, record_id, service.patch_record, patch.root, if_match)


async def _rewrite(
    request: Request,
    ctx: RequestContext,
    tenant: str,
    name: str,
    record_id: str,
    write: Callable[..., Awaitable[Record]],
    data: Any,
    if_match: str | None,
) -> Response:
    """PUT and PATCH: ``write`` (replace or merge) the record in one transaction."""
    state = _state(request)
    coll = await state.cache.get(ctx, tenant, name)
    async with database(request).transaction(ctx) as tx:
        row = await write(tx, state.cache, coll, record_id, data, if_match=if_match)
    return json_response(row, headers={"ETag": row.etag})


@router.delete(
    "/{name}/records/{record_id}",
    operation_id="records_delete",
    status_code=204,
    response_class=Response,
    tags=["records"],
    responses=doc_responses(412),
    summary="Delete a record",
)
async def delete_record(
    tenant: str,
    name: Name,
    record_id: RecordId,
    request: Request,
    ctx: Member,
    if_match: IfMatch = None,
) -> Response:
    await _state(request).cache.get(ctx, tenant, name)
    async with database(request).transaction(ctx) as tx:
        await service.delete_record(tx, name, record_id, if_match=if_match)
    return Response(status_code=204)
