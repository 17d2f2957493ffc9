"""Webhook routes (admin): endpoints, secret rotation, the delivery log and replays."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from fundament.events import Needs, feed, service
from fundament.events.schemas import (
    Delivery,
    DeliveryList,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookPatch,
    WebhookSecret,
)
from fundament.platform import (
    Admin,
    ListParams,
    RequestContext,
    Viewer,
    bearer_token,
    database,
    doc_responses,
    doc_shape,
    json_response,
    lift_deadline,
    list_params,
    refuse_removal,
    services,
)

router = APIRouter(prefix="/v1/tenants/{tenant}/webhooks", tags=["webhooks"])
Page = Annotated[ListParams, Depends(list_params)]
WebhookId = Annotated[str, Path(max_length=64)]
DeliveryId = Annotated[str, Path(max_length=64)]
NO_STORE = {"Cache-Control": "no-store"}


def _config(request: Request) -> service.WebhookConfig:
    needs: Needs = services(request)
    return needs.events.config


@router.post(
    "",
    operation_id="webhooks_create",
    status_code=201,
    responses=doc_shape(WebhookCreated, 201) | doc_responses(quotas=("max_webhooks",)),
    summary="Create a webhook endpoint",
    description="The signing secret (`whsec_…`) is returned only here (with `Cache-Control: no-store`).\n\n"
    "Each change the endpoint's `events` and `collections` select is POSTed as JSON "
    '`{"type", "timestamp", "data": <event>}` (Standard Webhooks v1) with the headers `webhook-id` '
    "(the event's id, the same on every retry: deduplicate on it), `webhook-timestamp` (Unix "
    "seconds) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of \"<id>.<timestamp>.<body>\">` keyed "
    "with the secret's base64 part; after a rotation, for 24 h, two of them separated by a space. "
    "Any Standard Webhooks library verifies it (`Webhook(secret).verify(body, headers)`). A 2xx "
    "answer within 15 s delivers; otherwise it is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h "
    "and 10 h (with jitter; a longer `Retry-After` wins), then failed. A 410 disables the endpoint.",
)
async def create_webhook(tenant: str, body: WebhookCreate, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        created = await service.create_webhook(tx, _config(request), body.model_dump())
    headers = {"Location": f"/v1/tenants/{tenant}/webhooks/{created.id}", **NO_STORE}
    return json_response(created, 201, headers)


@router.get(
    "", operation_id="webhooks_list", responses=doc_shape(WebhookList), summary="List webhook endpoints"
)
async def list_webhooks(tenant: str, request: Request, ctx: Admin, page: Page) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.list_webhooks(tx, limit=page.limit, cursor=page.cursor))


@router.get(
    "/{webhook_id}", operation_id="webhooks_get", responses=doc_shape(Webhook), summary="A webhook endpoint"
)
async def get_webhook(tenant: str, webhook_id: WebhookId, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.get_webhook(tx, webhook_id))


@router.patch(
    "/{webhook_id}",
    operation_id="webhooks_update",
    responses=doc_shape(Webhook),
    summary="Change a webhook endpoint (JSON Merge Patch)",
    description="Enabling an endpoint that a 410 disabled clears its `disabled_reason`.",
)
async def patch_webhook(
    tenant: str, webhook_id: WebhookId, body: WebhookPatch, request: Request, ctx: Admin
) -> Response:
    changes = body.model_dump(exclude_unset=True)
    refuse_removal(changes, ("url", "events", "enabled"))
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.update_webhook(tx, _config(request), webhook_id, changes))


@router.delete(
    "/{webhook_id}",
    operation_id="webhooks_delete",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook endpoint",
    description="Its pending deliveries are dropped with it.",
)
async def delete_webhook(tenant: str, webhook_id: WebhookId, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        await service.delete_webhook(tx, webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    operation_id="webhooks_rotate_secret",
    responses=doc_shape(WebhookSecret),
    summary="Rotate an endpoint's signing secret",
    description="For 24 hours deliveries carry two signatures, the new secret's and the old one's.",
)
async def rotate_secret(tenant: str, webhook_id: WebhookId, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        rotated = await service.rotate_secret(tx, _config(request), webhook_id)
    return json_response(rotated, 200, NO_STORE)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="webhooks_deliveries_list",
    responses=doc_shape(DeliveryList),
    summary="An endpoint's delivery log",
)
async def list_deliveries(
    tenant: str, webhook_id: WebhookId, request: Request, ctx: Admin, page: Page
) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(
            await service.list_deliveries(tx, webhook_id, limit=page.limit, cursor=page.cursor)
        )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    operation_id="webhooks_deliveries_replay",
    status_code=202,
    responses=doc_shape(Delivery, 202),
    summary="Send a delivery again",
    description="From the first attempt of the schedule, with the same `webhook-id`.",
)
async def replay(
    tenant: str, webhook_id: WebhookId, delivery_id: DeliveryId, request: Request, ctx: Admin
) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.replay(tx, webhook_id, delivery_id), 202)


feeds_router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["events"])
_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`text/event-stream`: per event `id: <seq>`, `event: <type>`, `data: <event JSON>` "
        "(a ChangeEvent); a comment every 15 s keeps it open. It ends when the key is revoked "
        "(within a second) or after an hour; reconnect with `Last-Event-ID` to resume exactly after "
        "the last event seen.",
        # Each event as the SSE fields a client reads (schemathesis checks every event).
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The event's `seq`."},
                        "event": {"type": "string", "description": "The event's `type`."},
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "The event as JSON: `id`, `seq`, `type`, `collection`, "
                            "`record_id`, `at`, `data`.",
                        },
                    },
                }
            }
        },
    },
    429: {"description": "The tenant has as many streams open as its plan allows (`max_open_streams`)."},
}
FilterParam = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="A SCIM filter in the records' grammar, on the record after the change: only "
        "record events whose record matches are sent (a delete's record is its `id` only).",
    ),
]
AfterParam = Annotated[
    int | None,
    Query(ge=0, le=2**62, description="Resume after this seq (`Last-Event-ID` wins). Absent: new ones only."),
]
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)]


async def _stream(
    request: Request,
    ctx: RequestContext,
    *,
    collection: str | None,
    filter_text: str | None,
    after: int | None,
    last_event_id: str | None,
) -> Response:
    needs: Needs = services(request)
    tenant_id = str(ctx.tenant_id)
    fields = None
    if collection is not None:
        fields = (await needs.records.cache.get(ctx, tenant_id, collection)).fields
    query = feed.build_query(tenant_id, collection, filter_text, fields)
    start = feed.resume_after(last_event_id, after)
    feeds = needs.events.feeds
    if start is None:
        start = await feed.head(feeds.db, ctx)
    plan = await needs.events.config.plans.plan_of(tenant_id)
    token = bearer_token(request)
    authenticator = needs.authenticator
    feeds.check(tenant_id, plan.max_open_streams if plan is not None else 1)
    # Admitted: from here the stream is the client's to end, not the request deadline's.
    lift_deadline()
    return StreamingResponse(
        feed.stream(feeds, ctx, query, start, lambda: authenticator.authenticate(token)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@feeds_router.get(
    "/collections/{name}/events",
    operation_id="collection_events_stream",
    response_class=Response,
    responses=_STREAM_DOC,
    summary="Stream a collection's changes (server-sent events)",
)
async def collection_events(
    tenant: str,
    name: Annotated[str, Path(max_length=63)],
    request: Request,
    ctx: Viewer,
    filter: FilterParam = None,
    after: AfterParam = None,
    last_event_id: LastEventId = None,
) -> Response:
    return await _stream(
        request, ctx, collection=name, filter_text=filter, after=after, last_event_id=last_event_id
    )


@feeds_router.get(
    "/events",
    operation_id="tenant_events_stream",
    response_class=Response,
    responses=_STREAM_DOC,
    summary="Stream every change of the tenant (server-sent events)",
)
async def tenant_events(
    tenant: str,
    request: Request,
    ctx: Admin,
    filter: FilterParam = None,
    after: AfterParam = None,
    last_event_id: LastEventId = None,
) -> Response:
    return await _stream(
        request, ctx, collection=None, filter_text=filter, after=after, last_event_id=last_event_id
    )
