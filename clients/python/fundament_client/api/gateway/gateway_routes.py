from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.gateway_route_list import GatewayRouteList
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    fundament_consistency: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(fundament_consistency, Unset):
        headers["Fundament-Consistency"] = fundament_consistency

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/gateway/routes",
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> GatewayRouteList | Problem | None:
    if response.status_code == 200:
        response_200 = GatewayRouteList.from_dict(response.json())

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
) -> Response[GatewayRouteList | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    fundament_consistency: str | Unset = UNSET,
) -> Response[GatewayRouteList | Problem]:
    """The gateway's routes, with the evidence to flip them

     Each route of the strangler-fig gateway's table in its order, then `(unmatched)` (what no route
    matched, sent to legacy): its mode, its share of the traffic, shadow comparisons and mismatches
    (beyond ignored and learned noise) with the latest examples, redacted of personal fields, and the
    p50/p99 of each side. The counts are this process's since it started. One page: `next_cursor` is
    always null. 404 when this server runs no gateway (`FUNDAMENT_GATEWAY_CONFIG`; docs/gateway.md).

    Args:
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[GatewayRouteList | Problem]
    """

    kwargs = _get_kwargs(
        fundament_consistency=fundament_consistency,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    fundament_consistency: str | Unset = UNSET,
) -> GatewayRouteList | Problem | None:
    """The gateway's routes, with the evidence to flip them

     Each route of the strangler-fig gateway's table in its order, then `(unmatched)` (what no route
    matched, sent to legacy): its mode, its share of the traffic, shadow comparisons and mismatches
    (beyond ignored and learned noise) with the latest examples, redacted of personal fields, and the
    p50/p99 of each side. The counts are this process's since it started. One page: `next_cursor` is
    always null. 404 when this server runs no gateway (`FUNDAMENT_GATEWAY_CONFIG`; docs/gateway.md).

    Args:
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        GatewayRouteList | Problem
    """

    return sync_detailed(
        client=client,
        fundament_consistency=fundament_consistency,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    fundament_consistency: str | Unset = UNSET,
) -> Response[GatewayRouteList | Problem]:
    """The gateway's routes, with the evidence to flip them

     Each route of the strangler-fig gateway's table in its order, then `(unmatched)` (what no route
    matched, sent to legacy): its mode, its share of the traffic, shadow comparisons and mismatches
    (beyond ignored and learned noise) with the latest examples, redacted of personal fields, and the
    p50/p99 of each side. The counts are this process's since it started. One page: `next_cursor` is
    always null. 404 when this server runs no gateway (`FUNDAMENT_GATEWAY_CONFIG`; docs/gateway.md).

    Args:
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[GatewayRouteList | Problem]
    """

    kwargs = _get_kwargs(
        fundament_consistency=fundament_consistency,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    fundament_consistency: str | Unset = UNSET,
) -> GatewayRouteList | Problem | None:
    """The gateway's routes, with the evidence to flip them

     Each route of the strangler-fig gateway's table in its order, then `(unmatched)` (what no route
    matched, sent to legacy): its mode, its share of the traffic, shadow comparisons and mismatches
    (beyond ignored and learned noise) with the latest examples, redacted of personal fields, and the
    p50/p99 of each side. The counts are this process's since it started. One page: `next_cursor` is
    always null. 404 when this server runs no gateway (`FUNDAMENT_GATEWAY_CONFIG`; docs/gateway.md).

    Args:
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        GatewayRouteList | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            fundament_consistency=fundament_consistency,
        )
    ).parsed
