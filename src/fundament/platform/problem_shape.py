"""The problem document (RFC 9457) declared once: :meth:`Problem.body` builds it from these
Structs, and the OpenAPI document's ``Problem`` and ``ProblemFieldError`` schemas are theirs.

Not among the response shapes of :mod:`fundament.platform.shapes`: a problem answers every
route, so the app adds it to the document's error responses rather than a route naming it,
and a problem's own extension members (``quota``, ``limit``, ...) follow its fixed ones.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType


class ProblemFieldError(Struct, frozen=True):
    path: str
    message: str


class Problem(Struct, omit_defaults=True):
    type: Annotated[
        str,
        Meta(
            description="What went wrong; clients switch on it. `/problems/…`, relative to the "
            "server, which documents each type at that URL (the list: `/problems`).",
            extra_json_schema={"format": "uri-reference"},
        ),
    ]
    title: str
    status: int
    detail: str
    instance: str | UnsetType = UNSET
    errors: list[ProblemFieldError] | UnsetType = UNSET


# The schemas' descriptions (msgspec takes a Struct's docstring), each on one line.
Problem.__doc__ = "RFC 9457 problem details."
ProblemFieldError.__doc__ = (
    "One refused part of the request: `path` is `query.NAME` for a parameter, "
    "a JSON Pointer for a member of the body."
)


def components(ref_template: str) -> dict[str, Any]:
    """The ``Problem`` and ``ProblemFieldError`` schemas, by name."""
    _, schemas = msgspec.json.schema_components([Problem], ref_template=ref_template)
    for schema in schemas.values():
        schema.pop("title", None)  # as the document has always had them: clients are made from it
    return schemas
