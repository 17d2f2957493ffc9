from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.webhook_create import WebhookCreate
from ...models.webhook_created import WebhookCreated
from ...types import Response


def _get_kwargs(
    tenant: str,
    *,
    body: WebhookCreate,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tenants/{tenant}/webhooks".format(
            tenant=quote(str(tenant), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Problem | WebhookCreated | None:
    if response.status_code == 201:
        response_201 = WebhookCreated.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 405:
        response_405 = Problem.from_dict(response.json())

        return response_405

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())

        return response_429

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | WebhookCreated]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    tenant: str,
    *,
    client: AuthenticatedClient,
    body: WebhookCreate,
) -> Response[Problem | WebhookCreated]:
    """Create a webhook endpoint

     The signing secret (`whsec_…`) is returned only here (with `Cache-Control: no-store`).

    Each change the endpoint's `events` and `collections` select is POSTed as JSON `{"type",
    "timestamp", "data": <event>}` (Standard Webhooks v1) with the headers `webhook-id` (the event's id,
    the same on every retry: deduplicate on it), `webhook-timestamp` (Unix seconds) and `webhook-
    signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the secret's base64
    part; after a rotation, for 24 h, two of them separated by a space. Any Standard Webhooks library
    verifies it (`Webhook(secret).verify(body, headers)`). A 2xx answer within 15 s delivers; otherwise
    it is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (with jitter; a longer `Retry-After`
    wins), then failed. A 410 disables the endpoint.

    Args:
        tenant (str):
        body (WebhookCreate):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | WebhookCreated]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant: str,
    *,
    client: AuthenticatedClient,
    body: WebhookCreate,
) -> Problem | WebhookCreated | None:
    """Create a webhook endpoint

     The signing secret (`whsec_…`) is returned only here (with `Cache-Control: no-store`).

    Each change the endpoint's `events` and `collections` select is POSTed as JSON `{"type",
    "timestamp", "data": <event>}` (Standard Webhooks v1) with the headers `webhook-id` (the event's id,
    the same on every retry: deduplicate on it), `webhook-timestamp` (Unix seconds) and `webhook-
    signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the secret's base64
    part; after a rotation, for 24 h, two of them separated by a space. Any Standard Webhooks library
    verifies it (`Webhook(secret).verify(body, headers)`). A 2xx answer within 15 s delivers; otherwise
    it is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (with jitter; a longer `Retry-After`
    wins), then failed. A 410 disables the endpoint.

    Args:
        tenant (str):
        body (WebhookCreate):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | WebhookCreated
    """

    return sync_detailed(
        tenant=tenant,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    tenant: str,
    *,
    client: AuthenticatedClient,
    body: WebhookCreate,
) -> Response[Problem | WebhookCreated]:
    """Create a webhook endpoint

     The signing secret (`whsec_…`) is returned only here (with `Cache-Control: no-store`).

    Each change the endpoint's `events` and `collections` select is POSTed as JSON `{"type",
    "timestamp", "data": <event>}` (Standard Webhooks v1) with the headers `webhook-id` (the event's id,
    the same on every retry: deduplicate on it), `webhook-timestamp` (Unix seconds) and `webhook-
    signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the secret's base64
    part; after a rotation, for 24 h, two of them separated by a space. Any Standard Webhooks library
    verifies it (`Webhook(secret).verify(body, headers)`). A 2xx answer within 15 s delivers; otherwise
    it is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (with jitter; a longer `Retry-After`
    wins), then failed. A 410 disables the endpoint.

    Args:
        tenant (str):
        body (WebhookCreate):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | WebhookCreated]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant: str,
    *,
    client: AuthenticatedClient,
    body: WebhookCreate,
) -> Problem | WebhookCreated | None:
    """Create a webhook endpoint

     The signing secret (`whsec_…`) is returned only here (with `Cache-Control: no-store`).

    Each change the endpoint's `events` and `collections` select is POSTed as JSON `{"type",
    "timestamp", "data": <event>}` (Standard Webhooks v1) with the headers `webhook-id` (the event's id,
    the same on every retry: deduplicate on it), `webhook-timestamp` (Unix seconds) and `webhook-
    signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the secret's base64
    part; after a rotation, for 24 h, two of them separated by a space. Any Standard Webhooks library
    verifies it (`Webhook(secret).verify(body, headers)`). A 2xx answer within 15 s delivers; otherwise
    it is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (with jitter; a longer `Retry-After`
    wins), then failed. A 410 disables the endpoint.

    Args:
        tenant (str):
        body (WebhookCreate):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | WebhookCreated
    """

    return (
        await asyncio_detailed(
            tenant=tenant,
            client=client,
            body=body,
        )
    ).parsed
