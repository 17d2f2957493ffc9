from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.record import Record
from ...models.record_data_patch import RecordDataPatch
from ...types import UNSET, Response, Unset


def _get_kwargs(
    tenant: str,
    name: str,
    record_id: str,
    *,
    body: RecordDataPatch,
    if_match: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(if_match, Unset):
        headers["If-Match"] = if_match

    _kwargs: dict[str, Any] = {
        "method": "patch",
        "url": "/v1/tenants/{tenant}/collections/{name}/records/{record_id}".format(
            tenant=quote(str(tenant), safe=""),
            name=quote(str(name), safe=""),
            record_id=quote(str(record_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/merge-patch+json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | Record | None:
    if response.status_code == 200:
        response_200 = Record.from_dict(response.json())

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

    if response.status_code == 412:
        response_412 = Problem.from_dict(response.json())

        return response_412

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
    record_id: str,
    *,
    client: AuthenticatedClient,
    body: RecordDataPatch,
    if_match: None | str | Unset = UNSET,
) -> Response[Problem | Record]:
    """Change a record (JSON Merge Patch of data)

     The body is an RFC 7396 merge patch applied to `data`; send it as `application/merge-patch+json`
    (`application/json` is accepted too). The result must pass the schema.

    Args:
        tenant (str):
        name (str): Collection name.
        record_id (str): Record id (`rec_…`).
        if_match (None | str | Unset): Optimistic concurrency: an ETag from a read.
        body (RecordDataPatch): The body of PATCH: a JSON Merge Patch (RFC 7396) of the record's
            `data`, not wrapped in
            `{"data": …}` as the bodies of POST and PUT (RecordWrite) are. A member set to `null`
            removes that field, an object member is merged recursively, any other value replaces the
            field. The merged data must pass the collection schema, under the same storage rules as
            RecordWrite's `data`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Record]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        name=name,
        record_id=record_id,
        body=body,
        if_match=if_match,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    tenant: str,
    name: str,
    record_id: str,
    *,
    client: AuthenticatedClient,
    body: RecordDataPatch,
    if_match: None | str | Unset = UNSET,
) -> Problem | Record | None:
    """Change a record (JSON Merge Patch of data)

     The body is an RFC 7396 merge patch applied to `data`; send it as `application/merge-patch+json`
    (`application/json` is accepted too). The result must pass the schema.

    Args:
        tenant (str):
        name (str): Collection name.
        record_id (str): Record id (`rec_…`).
        if_match (None | str | Unset): Optimistic concurrency: an ETag from a read.
        body (RecordDataPatch): The body of PATCH: a JSON Merge Patch (RFC 7396) of the record's
            `data`, not wrapped in
            `{"data": …}` as the bodies of POST and PUT (RecordWrite) are. A member set to `null`
            removes that field, an object member is merged recursively, any other value replaces the
            field. The merged data must pass the collection schema, under the same storage rules as
            RecordWrite's `data`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | Record
    """

    return sync_detailed(
        tenant=tenant,
        name=name,
        record_id=record_id,
        client=client,
        body=body,
        if_match=if_match,
    ).parsed


async def asyncio_detailed(
    tenant: str,
    name: str,
    record_id: str,
    *,
    client: AuthenticatedClient,
    body: RecordDataPatch,
    if_match: None | str | Unset = UNSET,
) -> Response[Problem | Record]:
    """Change a record (JSON Merge Patch of data)

     The body is an RFC 7396 merge patch applied to `data`; send it as `application/merge-patch+json`
    (`application/json` is accepted too). The result must pass the schema.

    Args:
        tenant (str):
        name (str): Collection name.
        record_id (str): Record id (`rec_…`).
        if_match (None | str | Unset): Optimistic concurrency: an ETag from a read.
        body (RecordDataPatch): The body of PATCH: a JSON Merge Patch (RFC 7396) of the record's
            `data`, not wrapped in
            `{"data": …}` as the bodies of POST and PUT (RecordWrite) are. A member set to `null`
            removes that field, an object member is merged recursively, any other value replaces the
            field. The merged data must pass the collection schema, under the same storage rules as
            RecordWrite's `data`.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | Record]
    """

    kwargs = _get_kwargs(
        tenant=tenant,
        name=name,
        record_id=record_id,
        body=body,
        if_match=if_match,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    tenant: str,
    name: str,
    record_id: str,
    *,
    client: AuthenticatedClient,
    body: RecordDataPatch,
    if_match: None | str | Unset = UNSET,
) -> Problem | Record | None:
    """Change a record (JSON Merge Patch of data)

     The body is an RFC 7396 merge patch applied to `data`; send it as `application/merge-patch+json`
    (`application/json` is accepted too). The result must pass the schema.

    Args:
        tenant (str):
        name (str): Collection name.
        record_id (str): Record id (`rec_…`).
        if_match (None | str | Unset): Optimistic concurrency: an ETag from a read.
        body (RecordDataPatch): The body of PATCH: a JSON Merge Patch (RFC 7396) of the record's
            `data`, not wrapped in
            `{"data": …}` as the bodies of POST and PUT (RecordWrite) are. A member set to `null`
            removes that field, an object member is merged recursively, any other value replaces the
            field. The merged data must pass the collection schema, under the same storage rules as
            RecordWrite's `data`.

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
            record_id=record_id,
            client=client,
            body=body,
            if_match=if_match,
        )
    ).parsed
