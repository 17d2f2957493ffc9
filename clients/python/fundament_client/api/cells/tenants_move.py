from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.move_request import MoveRequest
from ...models.problem import Problem
from ...models.tenant_move import TenantMove
from ...types import Response


def _get_kwargs(
    tenant: str,
    *,
    body: MoveRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tenants/{tenant}/move".format(
            tenant=quote(str(tenant), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | TenantMove | None:
    if response.status_code == 202:
        response_202 = TenantMove.from_dict(response.json())

        return response_202

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

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

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
    *,
    client: AuthenticatedClient,
    body: MoveRequest,
) -> Response[Problem | TenantMove]:
    """Move a tenant to another cell of its region (online)

     Starts a move, answered as a job to poll at `Location`. The tenant keeps serving throughout: its
    rows are copied to the target cell, then caught up; its writes wait (they are not refused) for at
    most about a second while the last changes are copied, the target's row counts and audit chain are
    verified and the directory switches; every instance then sends its requests to the target, and the
    source's rows are deleted. A move that fails leaves the tenant whole on the source. 422 for a cell
    that does not exist, the tenant's own cell, or a cell of another region (residency); 409 if a move
    of the tenant is running. CLI: `fundament tenants move TENANT --to CELL [--wait]`.

    Args:
        tenant (str):
        body (MoveRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | TenantMove]
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
    body: MoveRequest,
) -> Problem | TenantMove | None:
    """Move a tenant to another cell of its region (online)

     Starts a move, answered as a job to poll at `Location`. The tenant keeps serving throughout: its
    rows are copied to the target cell, then caught up; its writes wait (they are not refused) for at
    most about a second while the last changes are copied, the target's row counts and audit chain are
    verified and the directory switches; every instance then sends its requests to the target, and the
    source's rows are deleted. A move that fails leaves the tenant whole on the source. 422 for a cell
    that does not exist, the tenant's own cell, or a cell of another region (residency); 409 if a move
    of the tenant is running. CLI: `fundament tenants move TENANT --to CELL [--wait]`.

    Args:
        tenant (str):
        body (MoveRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | TenantMove
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
    body: MoveRequest,
) -> Response[Problem | TenantMove]:
    """Move a tenant to another cell of its region (online)

     Starts a move, answered as a job to poll at `Location`. The tenant keeps serving throughout: its
    rows are copied to the target cell, then caught up; its writes wait (they are not refused) for at
    most about a second while the last changes are copied, the target's row counts and audit chain are
    verified and the directory switches; every instance then sends its requests to the target, and the
    source's rows are deleted. A move that fails leaves the tenant whole on the source. 422 for a cell
    that does not exist, the tenant's own cell, or a cell of another region (residency); 409 if a move
    of the tenant is running. CLI: `fundament tenants move TENANT --to CELL [--wait]`.

    Args:
        tenant (str):
        body (MoveRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | TenantMove]
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
    body: MoveRequest,
) -> Problem | TenantMove | None:
    """Move a tenant to another cell of its region (online)

     Starts a move, answered as a job to poll at `Location`. The tenant keeps serving throughout: its
    rows are copied to the target cell, then caught up; its writes wait (they are not refused) for at
    most about a second while the last changes are copied, the target's row counts and audit chain are
    verified and the directory switches; every instance then sends its requests to the target, and the
    source's rows are deleted. A move that fails leaves the tenant whole on the source. 422 for a cell
    that does not exist, the tenant's own cell, or a cell of another region (residency); 409 if a move
    of the tenant is running. CLI: `fundament tenants move TENANT --to CELL [--wait]`.

    Args:
        tenant (str):
        body (MoveRequest):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | TenantMove
    """

    return (
        await asyncio_detailed(
            tenant=tenant,
            client=client,
            body=body,
        )
    ).parsed
