import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.usage import Usage
from ...models.usage_get_granularity import UsageGetGranularity
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant: str,
    *,
    from_: datetime.date | datetime.datetime | None | Unset = UNSET,
    to: datetime.date | datetime.datetime | None | Unset = UNSET,
    granularity: UsageGetGranularity | Unset = UsageGetGranularity.HOUR,
    fundament_consistency: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(fundament_consistency, Unset):
        headers["Fundament-Consistency"] = fundament_consistency

    params: dict[str, Any] = {}

    json_from_: None | str | Unset
    if isinstance(from_, Unset):
        json_from_ = UNSET
    elif isinstance(from_, datetime.datetime):
        json_from_ = from_.isoformat()
    elif isinstance(from_, datetime.date):
        json_from_ = from_.isoformat()
    else:
        json_from_ = from_
    params["from"] = json_from_

    json_to: None | str | Unset
    if isinstance(to, Unset):
        json_to = UNSET
    elif isinstance(to, datetime.datetime):
        json_to = to.isoformat()
    elif isinstance(to, datetime.date):
        json_to = to.isoformat()
    else:
        json_to = to
    params["to"] = json_to

    json_granularity: str | Unset = UNSET
    if not isinstance(granularity, Unset):
        json_granularity = granularity.value

    params["granularity"] = json_granularity

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/tenants/{tenant}/usage".format(
            tenant=quote(str(tenant), safe=""),
        ),
        "params": params,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | Usage | None:
    if response.status_code == 200:
        response_200 = Usage.from_dict(response.json())

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | Usage]:
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
    from_: datetime.date | datetime.datetime | None | Unset = UNSET,
    to: datetime.date | datetime.datetime | None | Unset = UNSET,
    granularity: UsageGetGranularity | Unset = UsageGetGranularity.HOUR,
    fundament_consistency: str | Unset = UNSET,
) -> Response[Problem | Usage]:
    """Metered usage of a tenant

     Requests, errors, server time, database time and bytes in/out per feature (method and route
    template), in hourly or daily buckets, plus stored bytes. `from` and `to` are RFC 3339 date-times
    with an offset, or dates (00:00 UTC); `from` defaults to 24 hours (hour) or 30 days (day) before
    `to`, which defaults to now. `from` must lie before `to`, at most 400 days before it (else 400).
    This instance's unwritten usage is flushed first; other instances' usage appears within
    `FUNDAMENT_USAGE_FLUSH_SECONDS`.

    Args:
        tenant (str):
        from_ (datetime.date | datetime.datetime | None | Unset): Start (inclusive); before `to`,
            by at most 400 days.
        to (datetime.date | datetime.datetime | None | Unset): End (exclusive); default now.
        granularity (UsageGetGranularity | Unset):  Default: UsageGetGranularity.HOUR.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Usage]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        from_=from_,
        to=to,
        granularity=granularity,
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
    from_: datetime.date | datetime.datetime | None | Unset = UNSET,
    to: datetime.date | datetime.datetime | None | Unset = UNSET,
    granularity: UsageGetGranularity | Unset = UsageGetGranularity.HOUR,
    fundament_consistency: str | Unset = UNSET,
) -> Problem | Usage | None:
    """Metered usage of a tenant

     Requests, errors, server time, database time and bytes in/out per feature (method and route
    template), in hourly or daily buckets, plus stored bytes. `from` and `to` are RFC 3339 date-times
    with an offset, or dates (00:00 UTC); `from` defaults to 24 hours (hour) or 30 days (day) before
    `to`, which defaults to now. `from` must lie before `to`, at most 400 days before it (else 400).
    This instance's unwritten usage is flushed first; other instances' usage appears within
    `FUNDAMENT_USAGE_FLUSH_SECONDS`.

    Args:
        tenant (str):
        from_ (datetime.date | datetime.datetime | None | Unset): Start (inclusive); before `to`,
            by at most 400 days.
        to (datetime.date | datetime.datetime | None | Unset): End (exclusive); default now.
        granularity (UsageGetGranularity | Unset):  Default: UsageGetGranularity.HOUR.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Usage
    """

    return sync_detailed(
        tenant=tenant,
        client=client,
        from_=from_,
        to=to,
        granularity=granularity,
        fundament_consistency=fundament_consistency,
    ).parsed


async def asyncio_detailed(
    tenant: str,
    *,
    client: AuthenticatedClient,
    from_: datetime.date | datetime.datetime | None | Unset = UNSET,
    to: datetime.date | datetime.datetime | None | Unset = UNSET,
    granularity: UsageGetGranularity | Unset = UsageGetGranularity.HOUR,
    fundament_consistency: str | Unset = UNSET,
) -> Response[Problem | Usage]:
    """Metered usage of a tenant

     Requests, errors, server time, database time and bytes in/out per feature (method and route
    template), in hourly or daily buckets, plus stored bytes. `from` and `to` are RFC 3339 date-times
    with an offset, or dates (00:00 UTC); `from` defaults to 24 hours (hour) or 30 days (day) before
    `to`, which defaults to now. `from` must lie before `to`, at most 400 days before it (else 400).
    This instance's unwritten usage is flushed first; other instances' usage appears within
    `FUNDAMENT_USAGE_FLUSH_SECONDS`.

    Args:
        tenant (str):
        from_ (datetime.date | datetime.datetime | None | Unset): Start (inclusive); before `to`,
            by at most 400 days.
        to (datetime.date | datetime.datetime | None | Unset): End (exclusive); default now.
        granularity (UsageGetGranularity | Unset):  Default: UsageGetGranularity.HOUR.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Usage]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        from_=from_,
        to=to,
        granularity=granularity,
        fundament_consistency=fundament_consistency,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant: str,
    *,
    client: AuthenticatedClient,
    from_: datetime.date | datetime.datetime | None | Unset = UNSET,
    to: datetime.date | datetime.datetime | None | Unset = UNSET,
    granularity: UsageGetGranularity | Unset = UsageGetGranularity.HOUR,
    fundament_consistency: str | Unset = UNSET,
) -> Problem | Usage | None:
    """Metered usage of a tenant

     Requests, errors, server time, database time and bytes in/out per feature (method and route
    template), in hourly or daily buckets, plus stored bytes. `from` and `to` are RFC 3339 date-times
    with an offset, or dates (00:00 UTC); `from` defaults to 24 hours (hour) or 30 days (day) before
    `to`, which defaults to now. `from` must lie before `to`, at most 400 days before it (else 400).
    This instance's unwritten usage is flushed first; other instances' usage appears within
    `FUNDAMENT_USAGE_FLUSH_SECONDS`.

    Args:
        tenant (str):
        from_ (datetime.date | datetime.datetime | None | Unset): Start (inclusive); before `to`,
            by at most 400 days.
        to (datetime.date | datetime.datetime | None | Unset): End (exclusive); default now.
        granularity (UsageGetGranularity | Unset):  Default: UsageGetGranularity.HOUR.
        fundament_consistency (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Usage
    """

    return (
        await asyncio_detailed(
            tenant=tenant,
            client=client,
            from_=from_,
            to=to,
            granularity=granularity,
            fundament_consistency=fundament_consistency,
        )
    ).parsed
