"""List parameters and id cursors shared by every list endpoint.

Lists of tenants, keys and users are ordered by id; ids are ULIDs, so a new row sorts
after every existing one and a keyset cursor (``id > last``) stays stable under
concurrent inserts. The cursor is opaque (base64url) so we may change it later.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from msgspec import Struct

from fundament.platform.errors import InvalidCursor

T_co = TypeVar("T_co")


@dataclass(frozen=True, slots=True)
class ListParams:
    limit: int
    cursor: str | None


#: Every cursor we issue is unpadded base64url (RFC 4648 §5). Stated in the OpenAPI
#: document, and checked before decoding: the decoder alone would skip foreign characters.
CURSOR_PATTERN = "^[A-Za-z0-9_-]{1,2048}$"
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,2048}")
CURSOR_SCHEMA: dict[str, Any] = {
    "pattern": CURSOR_PATTERN,
    "minLength": 1,
    "maxLength": 2048,
}


def check_cursor(cursor: str | None) -> str | None:
    """``cursor`` if it has the form of one we issue; otherwise :class:`InvalidCursor`.

    Shape only: whether this list issued it is for its decoder to say.
    """
    if cursor is not None and _CURSOR.fullmatch(cursor) is None:
        raise InvalidCursor()
    return cursor


def list_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Page size, 1–200.")] = 50,
    cursor: Annotated[
        str | None,
        Query(
            description="Opaque cursor: a previous page's `next_cursor` from this same list (and, for "
            "records, the same `sort`). Anything else is a 400 `invalid-cursor`.",
            json_schema_extra=CURSOR_SCHEMA,
        ),
    ] = None,
) -> ListParams:
    return ListParams(limit=limit, cursor=check_cursor(cursor))


class Page(Struct, Generic[T_co], frozen=True):
    """A page of a list, as every list answers. A module names its list's shape as a
    subclass (``class UserList(Page[User])``), so the document has a name for it."""

    items: list[T_co]
    next_cursor: str | None


def encode_id_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"after": last_id})).rstrip(b"=").decode()


def decode_id_cursor(cursor: str | None) -> str | None:
    """The key to continue after, or None for the first page.

    Anything but a cursor :func:`encode_id_cursor` made is :class:`InvalidCursor` (400),
    never a value that could fail later in SQL: keys are 1–200 printable characters.
    """
    if check_cursor(cursor) is None:
        return None
    assert cursor is not None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(value, str) or not 0 < len(value) <= 200 or not value.isprintable():
        raise InvalidCursor()
    return value


R = TypeVar("R")


async def keyset_page(
    conn: Any,
    *,
    select: str,
    where: list[str],
    args: list[Any],
    key: str,
    cursor: str | None,
    limit: int,
    build: Callable[[Any], R],
    key_of: Callable[[R], object],
    key_type: Callable[[str], Any] = str,
) -> Page[R]:
    """One page of ``select … WHERE where… ORDER BY key``, continuing after ``cursor``.

    Every list but records' (which has its own sort keys) pages this way: by one unique
    column, ascending, fetching one row more than the page to know whether another
    follows. ``args`` are the ``where`` clauses' parameters, numbered from $1. ``key_type``
    turns a cursor's key back into the column's type; a ValueError from it is an
    :class:`InvalidCursor` (another list's cursor).
    """
    after = decode_id_cursor(cursor)
    conditions, params = list(where), list(args)
    if after is not None:
        try:
            params.append(key_type(after))
        except ValueError as exc:
            raise InvalidCursor() from exc
        conditions.append(f"{key} > ${len(params)}")
    params.append(limit + 1)
    filtered = f"{select} WHERE {' AND '.join(conditions)}" if conditions else select
    rows = await conn.fetch(f"{filtered} ORDER BY {key} LIMIT ${len(params)}", *params)
    items = [build(r) for r in rows[:limit]]
    return Page(items, encode_id_cursor(str(key_of(items[-1]))) if len(rows) > limit else None)
