from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.record import Record
from ...models.record_write import RecordWrite
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant: str,
    name: str,
    *,
    body: RecordWrite,
    idempotency_key: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tenants/{tenant}/collections/{name}/records".format(
            tenant=quote(str(tenant), safe=""),
            name=quote(str(name), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | Record | None:
    if response.status_code == 201:
        response_201 = Record.from_dict(response.json())

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | Record]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    tenant: str,
    name: str,
    *,
    client: AuthenticatedClient,
    body: RecordWrite,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Problem | Record]:
    """Create a record

     Send `Idempotency-Key` to make retries safe: the same key and body return the first answer without a
    second write; the same key with another body is a 422.

    Args:
        tenant (str):
        name (str): Collection name.
        idempotency_key (None | str | Unset): 1–255 printable ASCII characters; a retry with the
            same key and body answers as the first time.
        body (RecordWrite): The body of POST and PUT: the record's fields under `data`. (PATCH
            differs: its body is
            the merge patch of `data` itself, unwrapped; see RecordDataPatch.)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Record]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        name=name,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant: str,
    name: str,
    *,
    client: AuthenticatedClient,
    body: RecordWrite,
    idempotency_key: None | str | Unset = UNSET,
) -> Problem | Record | None:
    """Create a record

     Send `Idempotency-Key` to make retries safe: the same key and body return the first answer without a
    second write; the same key with another body is a 422.

    Args:
        tenant (str):
        name (str): Collection name.
        idempotency_key (None | str | Unset): 1–255 printable ASCII characters; a retry with the
            same key and body answers as the first time.
        body (RecordWrite): The body of POST and PUT: the record's fields under `data`. (PATCH
            differs: its body is
            the merge patch of `data` itself, unwrapped; see RecordDataPatch.)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Record
    """

    return sync_detailed(
        tenant=tenant,
        name=name,
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    tenant: str,
    name: str,
    *,
    client: AuthenticatedClient,
    body: RecordWrite,
    idempotency_key: None | str | Unset = UNSET,
) -> Response[Problem | Record]:
    """Create a record

     Send `Idempotency-Key` to make retries safe: the same key and body return the first answer without a
    second write; the same key with another body is a 422.

    Args:
        tenant (str):
        name (str): Collection name.
        idempotency_key (None | str | Unset): 1–255 printable ASCII characters; a retry with the
            same key and body answers as the first time.
        body (RecordWrite): The body of POST and PUT: the record's fields under `data`. (PATCH
            differs: its body is
            the merge patch of `data` itself, unwrapped; see RecordDataPatch.)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Record]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        name=name,
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant: str,
    name: str,
    *,
    client: AuthenticatedClient,
    body: RecordWrite,
    idempotency_key: None | str | Unset = UNSET,
) -> Problem | Record | None:
    """Create a record

     Send `Idempotency-Key` to make retries safe: the same key and body return the first answer without a
    second write; the same key with another body is a 422.

    Args:
        tenant (str):
        name (str): Collection name.
        idempotency_key (None | str | Unset): 1–255 printable ASCII characters; a retry with the
            same key and body answers as the first time.
        body (RecordWrite): The body of POST and PUT: the record's fields under `data`. (PATCH
            differs: its body is
            the merge patch of `data` itself, unwrapped; see RecordDataPatch.)

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Record
    """

    return (
        await asyncio_detailed(
            tenant=tenant,
            name=name,
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
