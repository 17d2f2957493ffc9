from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.capacity_plan import CapacityPlan
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    users: int,
    requests_per_user_per_minute: float | Unset = 6.0,
    p99_ms: float | Unset = 200.0,
    fundament_consistency: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(fundament_consistency, Unset):
        headers["Fundament-Consistency"] = fundament_consistency

    params: dict[str, Any] = {}

    params["users"] = users

    params["requests_per_user_per_minute"] = requests_per_user_per_minute

    params["p99_ms"] = p99_ms

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/finops/capacity",
        "params": params,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> CapacityPlan | Problem | None:
    if response.status_code == 200:
        response_200 = CapacityPlan.from_dict(response.json())

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
) -> Response[CapacityPlan | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    users: int,
    requests_per_user_per_minute: float | Unset = 6.0,
    p99_ms: float | Unset = 200.0,
    fundament_consistency: str | Unset = UNSET,
) -> Response[CapacityPlan | Problem]:
    """Instances, HPA bounds and cost for a number of users

     From the last `fundament bench capacity` measurement (or a documented reference figure until one
    exists): load = users × requests per user per minute / 60; instances = load / (requests/s per worker
    × workers × target utilisation), rounded up, at least the model's minimum; HPA max covers 3× the
    load. Includes a ready autoscaling/v2 manifest, monthly cost, cost per user and the marginal cost
    per user at 1k, 10k and 100k users. Defaults: `requests_per_user_per_minute`=6, `p99_ms`=200.

    Args:
        users (int):
        requests_per_user_per_minute (float | Unset):  Default: 6.0.
        p99_ms (float | Unset):  Default: 200.0.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CapacityPlan | Problem]
    """

    kwargs = _get_kwargs(
        users=users,
        requests_per_user_per_minute=requests_per_user_per_minute,
        p99_ms=p99_ms,
        fundament_consistency=fundament_consistency,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    users: int,
    requests_per_user_per_minute: float | Unset = 6.0,
    p99_ms: float | Unset = 200.0,
    fundament_consistency: str | Unset = UNSET,
) -> CapacityPlan | Problem | None:
    """Instances, HPA bounds and cost for a number of users

     From the last `fundament bench capacity` measurement (or a documented reference figure until one
    exists): load = users × requests per user per minute / 60; instances = load / (requests/s per worker
    × workers × target utilisation), rounded up, at least the model's minimum; HPA max covers 3× the
    load. Includes a ready autoscaling/v2 manifest, monthly cost, cost per user and the marginal cost
    per user at 1k, 10k and 100k users. Defaults: `requests_per_user_per_minute`=6, `p99_ms`=200.

    Args:
        users (int):
        requests_per_user_per_minute (float | Unset):  Default: 6.0.
        p99_ms (float | Unset):  Default: 200.0.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CapacityPlan | Problem
    """

    return sync_detailed(
        client=client,
        users=users,
        requests_per_user_per_minute=requests_per_user_per_minute,
        p99_ms=p99_ms,
        fundament_consistency=fundament_consistency,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    users: int,
    requests_per_user_per_minute: float | Unset = 6.0,
    p99_ms: float | Unset = 200.0,
    fundament_consistency: str | Unset = UNSET,
) -> Response[CapacityPlan | Problem]:
    """Instances, HPA bounds and cost for a number of users

     From the last `fundament bench capacity` measurement (or a documented reference figure until one
    exists): load = users × requests per user per minute / 60; instances = load / (requests/s per worker
    × workers × target utilisation), rounded up, at least the model's minimum; HPA max covers 3× the
    load. Includes a ready autoscaling/v2 manifest, monthly cost, cost per user and the marginal cost
    per user at 1k, 10k and 100k users. Defaults: `requests_per_user_per_minute`=6, `p99_ms`=200.

    Args:
        users (int):
        requests_per_user_per_minute (float | Unset):  Default: 6.0.
        p99_ms (float | Unset):  Default: 200.0.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CapacityPlan | Problem]
    """

    kwargs = _get_kwargs(
        users=users,
        requests_per_user_per_minute=requests_per_user_per_minute,
        p99_ms=p99_ms,
        fundament_consistency=fundament_consistency,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    users: int,
    requests_per_user_per_minute: float | Unset = 6.0,
    p99_ms: float | Unset = 200.0,
    fundament_consistency: str | Unset = UNSET,
) -> CapacityPlan | Problem | None:
    """Instances, HPA bounds and cost for a number of users

     From the last `fundament bench capacity` measurement (or a documented reference figure until one
    exists): load = users × requests per user per minute / 60; instances = load / (requests/s per worker
    × workers × target utilisation), rounded up, at least the model's minimum; HPA max covers 3× the
    load. Includes a ready autoscaling/v2 manifest, monthly cost, cost per user and the marginal cost
    per user at 1k, 10k and 100k users. Defaults: `requests_per_user_per_minute`=6, `p99_ms`=200.

    Args:
        users (int):
        requests_per_user_per_minute (float | Unset):  Default: 6.0.
        p99_ms (float | Unset):  Default: 200.0.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CapacityPlan | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            users=users,
            requests_per_user_per_minute=requests_per_user_per_minute,
            p99_ms=p99_ms,
            fundament_consistency=fundament_consistency,
        )
    ).parsed
