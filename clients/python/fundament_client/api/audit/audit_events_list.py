import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.audit_event_list import AuditEventList
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant: str,
    *,
    action: None | str | Unset = UNSET,
    actor: None | str | Unset = UNSET,
    target: None | str | Unset = UNSET,
    at_from: datetime.date | datetime.datetime | None | Unset = UNSET,
    at_to: datetime.date | datetime.datetime | None | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(fundament_consistency, Unset):
        headers["Fundament-Consistency"] = fundament_consistency

    params: dict[str, Any] = {}

    json_action: None | str | Unset
    if isinstance(action, Unset):
        json_action = UNSET
    else:
        json_action = action
    params["action"] = json_action

    json_actor: None | str | Unset
    if isinstance(actor, Unset):
        json_actor = UNSET
    else:
        json_actor = actor
    params["actor"] = json_actor

    json_target: None | str | Unset
    if isinstance(target, Unset):
        json_target = UNSET
    else:
        json_target = target
    params["target"] = json_target

    json_at_from: None | str | Unset
    if isinstance(at_from, Unset):
        json_at_from = UNSET
    elif isinstance(at_from, datetime.datetime):
        json_at_from = at_from.isoformat()
    elif isinstance(at_from, datetime.date):
        json_at_from = at_from.isoformat()
    else:
        json_at_from = at_from
    params["at_from"] = json_at_from

    json_at_to: None | str | Unset
    if isinstance(at_to, Unset):
        json_at_to = UNSET
    elif isinstance(at_to, datetime.datetime):
        json_at_to = at_to.isoformat()
    elif isinstance(at_to, datetime.date):
        json_at_to = at_to.isoformat()
    else:
        json_at_to = at_to
    params["at_to"] = json_at_to

    params["limit"] = limit

    json_cursor: None | str | Unset
    if isinstance(cursor, Unset):
        json_cursor = UNSET
    else:
        json_cursor = cursor
    params["cursor"] = json_cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tenants/{tenant}/audit-events".format(
            tenant=quote(str(tenant), safe=""),
        ),
        "params": params,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AuditEventList | Problem | None:
    if response.status_code == 200:
        response_200 = AuditEventList.from_dict(response.json())

        return response_200

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
) -> Response[AuditEventList | Problem]:
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
    action: None | str | Unset = UNSET,
    actor: None | str | Unset = UNSET,
    target: None | str | Unset = UNSET,
    at_from: datetime.date | datetime.datetime | None | Unset = UNSET,
    at_to: datetime.date | datetime.datetime | None | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> Response[AuditEventList | Problem]:
    """List audit events (chain order)

     Filters: `action`, `actor` (key id), `target` (target id), and `at` as a half-open range `at_from` ≤
    at < `at_to`, each an RFC 3339 date-time with an offset or a date (meaning 00:00 UTC).

    Args:
        tenant (str):
        action (None | str | Unset):
        actor (None | str | Unset):
        target (None | str | Unset):
        at_from (datetime.date | datetime.datetime | None | Unset):
        at_to (datetime.date | datetime.datetime | None | Unset):
        limit (int | Unset): Page size, 1–200. Default: 50.
        cursor (None | str | Unset): Opaque cursor: a previous page's `next_cursor` from this same
            list (and, for records, the same `sort`). Anything else is a 400 `invalid-cursor`.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditEventList | Problem]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        action=action,
        actor=actor,
        target=target,
        at_from=at_from,
        at_to=at_to,
        limit=limit,
        cursor=cursor,
        fundament_consistency=fundament_consistency,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant: str,
    *,
    client: AuthenticatedClient,
    action: None | str | Unset = UNSET,
    actor: None | str | Unset = UNSET,
    target: None | str | Unset = UNSET,
    at_from: datetime.date | datetime.datetime | None | Unset = UNSET,
    at_to: datetime.date | datetime.datetime | None | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> AuditEventList | Problem | None:
    """List audit events (chain order)

     Filters: `action`, `actor` (key id), `target` (target id), and `at` as a half-open range `at_from` ≤
    at < `at_to`, each an RFC 3339 date-time with an offset or a date (meaning 00:00 UTC).

    Args:
        tenant (str):
        action (None | str | Unset):
        actor (None | str | Unset):
        target (None | str | Unset):
        at_from (datetime.date | datetime.datetime | None | Unset):
        at_to (datetime.date | datetime.datetime | None | Unset):
        limit (int | Unset): Page size, 1–200. Default: 50.
        cursor (None | str | Unset): Opaque cursor: a previous page's `next_cursor` from this same
            list (and, for records, the same `sort`). Anything else is a 400 `invalid-cursor`.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditEventList | Problem
    """

    return sync_detailed(
        tenant=tenant,
        client=client,
        action=action,
        actor=actor,
        target=target,
        at_from=at_from,
        at_to=at_to,
        limit=limit,
        cursor=cursor,
        fundament_consistency=fundament_consistency,
    ).parsed


async def asyncio_detailed(
    tenant: str,
    *,
    client: AuthenticatedClient,
    action: None | str | Unset = UNSET,
    actor: None | str | Unset = UNSET,
    target: None | str | Unset = UNSET,
    at_from: datetime.date | datetime.datetime | None | Unset = UNSET,
    at_to: datetime.date | datetime.datetime | None | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> Response[AuditEventList | Problem]:
    """List audit events (chain order)

     Filters: `action`, `actor` (key id), `target` (target id), and `at` as a half-open range `at_from` ≤
    at < `at_to`, each an RFC 3339 date-time with an offset or a date (meaning 00:00 UTC).

    Args:
        tenant (str):
        action (None | str | Unset):
        actor (None | str | Unset):
        target (None | str | Unset):
        at_from (datetime.date | datetime.datetime | None | Unset):
        at_to (datetime.date | datetime.datetime | None | Unset):
        limit (int | Unset): Page size, 1–200. Default: 50.
        cursor (None | str | Unset): Opaque cursor: a previous page's `next_cursor` from this same
            list (and, for records, the same `sort`). Anything else is a 400 `invalid-cursor`.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditEventList | Problem]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        action=action,
        actor=actor,
        target=target,
        at_from=at_from,
        at_to=at_to,
        limit=limit,
        cursor=cursor,
        fundament_consistency=fundament_consistency,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant: str,
    *,
    client: AuthenticatedClient,
    action: None | str | Unset = UNSET,
    actor: None | str | Unset = UNSET,
    target: None | str | Unset = UNSET,
    at_from: datetime.date | datetime.datetime | None | Unset = UNSET,
    at_to: datetime.date | datetime.datetime | None | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> AuditEventList | Problem | None:
    """List audit events (chain order)

     Filters: `action`, `actor` (key id), `target` (target id), and `at` as a half-open range `at_from` ≤
    at < `at_to`, each an RFC 3339 date-time with an offset or a date (meaning 00:00 UTC).

    Args:
        tenant (str):
        action (None | str | Unset):
        actor (None | str | Unset):
        target (None | str | Unset):
        at_from (datetime.date | datetime.datetime | None | Unset):
        at_to (datetime.date | datetime.datetime | None | Unset):
        limit (int | Unset): Page size, 1–200. Default: 50.
        cursor (None | str | Unset): Opaque cursor: a previous page's `next_cursor` from this same
            list (and, for records, the same `sort`). Anything else is a 400 `invalid-cursor`.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditEventList | Problem
    """

    return (
        await asyncio_detailed(
            tenant=tenant,
            client=client,
            action=action,
            actor=actor,
            target=target,
            at_from=at_from,
            at_to=at_to,
            limit=limit,
            cursor=cursor,
            fundament_consistency=fundament_consistency,
        )
    ).parsed
