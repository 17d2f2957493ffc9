from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.tenant_move import TenantMove
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant: str,
    move_id: str,
    *,
    fundament_consistency: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(fundament_consistency, Unset):
        headers["Fundament-Consistency"] = fundament_consistency

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tenants/{tenant}/moves/{move_id}".format(
            tenant=quote(str(tenant), safe=""),
            move_id=quote(str(move_id), safe=""),
        ),
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | TenantMove | None:
    if response.status_code == 200:
        response_200 = TenantMove.from_dict(response.json())

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
) -> Response[Problem | TenantMove]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    tenant: str,
    move_id: str,
    *,
    client: AuthenticatedClient,
    fundament_consistency: str | Unset = UNSET,
) -> Response[Problem | TenantMove]:
    """A tenant's move

    Args:
        tenant (str):
        move_id (str):
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | TenantMove]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        move_id=move_id,
        fundament_consistency=fundament_consistency,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant: str,
    move_id: str,
    *,
    client: AuthenticatedClient,
    fundament_consistency: str | Unset = UNSET,
) -> Problem | TenantMove | None:
    """A tenant's move

    Args:
        tenant (str):
        move_id (str):
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | TenantMove
    """

    return sync_detailed(
        tenant=tenant,
        move_id=move_id,
        client=client,
        fundament_consistency=fundament_consistency,
    ).parsed


async def asyncio_detailed(
    tenant: str,
    move_id: str,
    *,
    client: AuthenticatedClient,
    fundament_consistency: str | Unset = UNSET,
) -> Response[Problem | TenantMove]:
    """A tenant's move

    Args:
        tenant (str):
        move_id (str):
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | TenantMove]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        move_id=move_id,
        fundament_consistency=fundament_consistency,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant: str,
    move_id: str,
    *,
    client: AuthenticatedClient,
    fundament_consistency: str | Unset = UNSET,
) -> Problem | TenantMove | None:
    """A tenant's move

    Args:
        tenant (str):
        move_id (str):
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | TenantMove
    """

    return (
        await asyncio_detailed(
            tenant=tenant,
            move_id=move_id,
            client=client,
            fundament_consistency=fundament_consistency,
        )
    ).parsed
