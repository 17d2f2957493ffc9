from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.finops_report import FinopsReport
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    month: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(fundament_consistency, Unset):
        headers["Fundament-Consistency"] = fundament_consistency

    params: dict[str, Any] = {}

    json_month: None | str | Unset
    if isinstance(month, Unset):
        json_month = UNSET
    else:
        json_month = month
    params["month"] = json_month

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/finops/report",
        "params": params,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> FinopsReport | Problem | None:
    if response.status_code == 200:
        response_200 = FinopsReport.from_dict(response.json())

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
) -> Response[FinopsReport | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    month: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> Response[FinopsReport | Problem]:
    """Cost, revenue and margin per tenant for a month

     Allocates the month's cost (the cost model's estimate, or the imported FOCUS bill) to tenants by
    each resource's driver, with largest-remainder rounding so shares add up to the total to the cent;
    revenue comes from each tenant's plan price. Only tenants that existed in the month take part (in
    the month a tenant was created, its revenue and even shares are prorated: `existed_share`); cost no
    tenant carries is `unallocated_eur`, explained by `unallocated_note`. Also cost per feature, per
    active key and user, and idle capacity with a right-sizing suggestion. `month` is `YYYY-MM`
    (default: the current month).

    Args:
        month (None | str | Unset): `YYYY-MM` from 1970-01 to 2999-12; default the current month.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FinopsReport | Problem]
    """

    kwargs = _get_kwargs(
        month=month,
        fundament_consistency=fundament_consistency,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    month: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> FinopsReport | Problem | None:
    """Cost, revenue and margin per tenant for a month

     Allocates the month's cost (the cost model's estimate, or the imported FOCUS bill) to tenants by
    each resource's driver, with largest-remainder rounding so shares add up to the total to the cent;
    revenue comes from each tenant's plan price. Only tenants that existed in the month take part (in
    the month a tenant was created, its revenue and even shares are prorated: `existed_share`); cost no
    tenant carries is `unallocated_eur`, explained by `unallocated_note`. Also cost per feature, per
    active key and user, and idle capacity with a right-sizing suggestion. `month` is `YYYY-MM`
    (default: the current month).

    Args:
        month (None | str | Unset): `YYYY-MM` from 1970-01 to 2999-12; default the current month.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FinopsReport | Problem
    """

    return sync_detailed(
        client=client,
        month=month,
        fundament_consistency=fundament_consistency,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    month: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> Response[FinopsReport | Problem]:
    """Cost, revenue and margin per tenant for a month

     Allocates the month's cost (the cost model's estimate, or the imported FOCUS bill) to tenants by
    each resource's driver, with largest-remainder rounding so shares add up to the total to the cent;
    revenue comes from each tenant's plan price. Only tenants that existed in the month take part (in
    the month a tenant was created, its revenue and even shares are prorated: `existed_share`); cost no
    tenant carries is `unallocated_eur`, explained by `unallocated_note`. Also cost per feature, per
    active key and user, and idle capacity with a right-sizing suggestion. `month` is `YYYY-MM`
    (default: the current month).

    Args:
        month (None | str | Unset): `YYYY-MM` from 1970-01 to 2999-12; default the current month.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FinopsReport | Problem]
    """

    kwargs = _get_kwargs(
        month=month,
        fundament_consistency=fundament_consistency,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    month: None | str | Unset = UNSET,
    fundament_consistency: str | Unset = UNSET,
) -> FinopsReport | Problem | None:
    """Cost, revenue and margin per tenant for a month

     Allocates the month's cost (the cost model's estimate, or the imported FOCUS bill) to tenants by
    each resource's driver, with largest-remainder rounding so shares add up to the total to the cent;
    revenue comes from each tenant's plan price. Only tenants that existed in the month take part (in
    the month a tenant was created, its revenue and even shares are prorated: `existed_share`); cost no
    tenant carries is `unallocated_eur`, explained by `unallocated_note`. Also cost per feature, per
    active key and user, and idle capacity with a right-sizing suggestion. `month` is `YYYY-MM`
    (default: the current month).

    Args:
        month (None | str | Unset): `YYYY-MM` from 1970-01 to 2999-12; default the current month.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FinopsReport | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            month=month,
            fundament_consistency=fundament_consistency,
        )
    ).parsed
