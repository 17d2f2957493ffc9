"""List parameters and id cursors shared by every list endpoint.

Lists of tenants, keys and users are ordered by id; ids are ULIDs, so a new row sorts
after every existing one and a keyset cursor (``id > last``) stays stable under
concurrent inserts. The cursor is opaque (base64url) so we may change it later.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query

from fundament.platform.errors import BadRequest, T

T_co = TypeVar("T_co")


@dataclass(frozen=True, slots=True)
class ListParams:
    limit: int
    cursor: str | None


def list_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Page size, 1–200.")] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=2048, description="Opaque cursor from a previous page's next_cursor."),
    ] = None,
) -> ListParams:
    return ListParams(limit=limit, cursor=cursor)


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
    """The id to continue after, or None for the first page; a bad cursor is a 400."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
        raise BadRequest("The cursor is not valid.", type=T.INVALID_CURSOR) from exc
    if not isinstance(value, str):
        raise BadRequest("The cursor is not valid.", type=T.INVALID_CURSOR)
    return value
