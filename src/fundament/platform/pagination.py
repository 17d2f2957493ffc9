"""List parameters and id cursors shared by every list endpoint.

Lists of tenants, keys and users are ordered by id; ids are ULIDs, so a new row sorts
after every existing one and a keyset cursor (``id > last``) stays stable under
concurrent inserts. The cursor is opaque (base64url) so we may change it later.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query

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


@dataclass(frozen=True, slots=True)
class Page(Generic[T_co]):
    items: list[T_co]
    next_cursor: str | None

    def to_json(self, render: Any = None) -> dict[str, Any]:
        items = [render(i) for i in self.items] if render else list(self.items)
        return {"items": items, "next_cursor": self.next_cursor}


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
