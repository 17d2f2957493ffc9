"""Response shapes: each declared once, as a msgspec ``Struct`` that both encodes the answer
and is its schema in the OpenAPI document.

A module declares what it answers as a Struct (field docs through ``msgspec.Meta``), builds
it in its service, and names it on the route with :func:`doc_shape`; ``json_response``
encodes it with the one encoder below, and the app adds :func:`shape_components` to the
document. There is no second description to keep in step: no ``to_json`` beside a model.

Why msgspec rather than pydantic models that serialise: a record's ``data`` is the jsonb
text PostgreSQL returns, spliced in unparsed (:data:`JsonObject`, ``msgspec.Raw``), and
msgspec writes times in C: a page of 50 records encodes in 9.5 µs, against 125 µs for the
dicts, ``rfc3339`` strings and orjson it replaced, and about 1.5× those 125 µs as pydantic
models (which parse each record's data first). Timeit figures, in the records commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta, Raw, Struct
from pydantic import BaseModel

#: A time as the API writes it: RFC 3339 with ``Z`` (msgspec's encoding of a UTC datetime,
#: which asyncpg returns). ``tz=True`` is what gives the schema its ``date-time`` format.
Timestamp = Annotated[datetime, Meta(tz=True)]
#: A JSON object held as text (a jsonb column read as ``::text``), written out as it is.
JsonObject = Annotated[Raw, Meta(extra_json_schema={"type": "object", "additionalProperties": True})]


def _pydantic(value: Any) -> Any:
    # A request model answered back as it is (a tenant's CORS settings): the model that
    # validates the body is then the answer's one declaration, in the document too.
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise NotImplementedError(f"cannot encode {type(value).__name__} as JSON")


_encoder = msgspec.json.Encoder(enc_hook=_pydantic)
#: The one JSON encoder of answers: Structs (and the dicts and lists they hold), and the
#: request models that are answered back.
encode = _encoder.encode

S = TypeVar("S", bound=Struct)


def shape(cls: type[S], value: object) -> S:
    """``value`` (a row, a dataclass, a page of them: anything with the shape's attributes)
    as the shape ``cls``. A value the shape does not allow raises: a bug, answered 500,
    where FastAPI's response model would have refused it too."""
    return msgspec.convert(value, cls, from_attributes=True)


_REF = "#/components/schemas/{name}"
_DOCUMENTED: dict[str, type[Struct]] = {}


def doc_shape(
    cls: type[Struct], status: int = 200, *, description: str | None = None
) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses`` entry saying its ``status`` answer is ``cls`` (merge it with
    ``|``); the app's document gets the schema from :func:`shape_components`."""
    known = _DOCUMENTED.setdefault(cls.__name__, cls)
    if known is not cls:
        raise TypeError(f"two response shapes are named {cls.__name__}: {known!r} and {cls!r}")
    response: dict[str, Any] = {
        "content": {"application/json": {"schema": {"$ref": _REF.format(name=cls.__name__)}}}
    }
    if description is not None:
        response["description"] = description
    return {status: response}


def shape_components() -> dict[str, Any]:
    """The schemas of every shape a route names, and of the shapes they hold, by name."""
    shapes = list(_DOCUMENTED.values())
    _, components = msgspec.json.schema_components(shapes, ref_template=_REF)
    declared = {frozenset(values): list(values) for values in _literals(shapes)}
    for schema in components.values():
        _as_before(schema, declared)
    return {name: _ordered(schema) for name, schema in components.items()}


def _as_before(schema: dict[str, Any], declared: dict[frozenset[Any], list[Any]]) -> None:
    """Write a shape's schema as pydantic wrote the response models it replaced, so that the
    document stays what clients were generated from (and reads like the request models,
    which pydantic still describes): a title per member (generators name inline types after
    it), an ``enum`` in the order its ``Literal`` declares (msgspec sorts it: roles would no
    longer read in rank order) with ``"type": "string"``, ``const`` for a single value, an
    open object said to be open, and no ``default`` (an answer has no defaults to fill)."""
    for name, member in schema.get("properties", {}).items():
        member.pop("default", None)
        if "$ref" not in member:
            member.setdefault("title", name.replace("_", " ").title())
    _typed(schema, declared)


def _literals(shapes: list[type[Struct]]) -> Iterator[tuple[Any, ...]]:
    """The values of every ``Literal`` in ``shapes`` and the shapes they hold, as declared."""
    seen: set[Any] = set()
    todo: list[Any] = list(shapes)
    while todo:
        hint = todo.pop()
        if isinstance(hint, type) and issubclass(hint, Struct):
            if hint in seen:
                continue
            seen.add(hint)
            todo.extend(get_type_hints(hint, include_extras=True).values())
            # A list's items, `class UserList(Page[User])`, are in its base's arguments.
            todo.extend(get_args(base) for base in getattr(hint, "__orig_bases__", ()))
        elif get_origin(hint) is Literal:
            yield get_args(hint)
        elif isinstance(hint, tuple):
            todo.extend(hint)
        else:
            todo.extend(get_args(hint))


#: The order pydantic writes a schema's keys in: the document's diff then shows only what changed.
_PYDANTIC_ORDER = (
    "properties",
    "items",
    "additionalProperties",
    "anyOf",
    "$ref",
    "type",
    "const",
    "enum",
    "format",
    "required",
    "title",
    "examples",
    "description",
)
_KEY_ORDER = {key: n for n, key in enumerate(_PYDANTIC_ORDER)}


def _ordered(node: Any) -> Any:
    if isinstance(node, list):
        return [_ordered(child) for child in node]
    if not isinstance(node, dict):
        return node
    keys = sorted(node, key=lambda key: _KEY_ORDER.get(key, len(_KEY_ORDER)))
    if "properties" in node and isinstance(node["properties"], dict):
        # Member names, not schema keys: kept in declaration order.
        members = {name: _ordered(member) for name, member in node["properties"].items()}
        return {key: members if key == "properties" else _ordered(node[key]) for key in keys}
    return {key: _ordered(node[key]) for key in keys}


def _typed(node: Any, declared: dict[frozenset[Any], list[Any]]) -> None:
    if isinstance(node, dict):
        values = node.get("enum")
        if isinstance(values, list) and "type" not in node and all(isinstance(v, str) for v in values):
            node["enum"] = declared.get(frozenset(values), values)
            node["type"] = "string"
            if len(values) == 1:
                node["const"] = node.pop("enum")[0]
        if node.get("type") == "object" and "properties" not in node:
            node.setdefault("additionalProperties", True)
        for child in node.values():
            _typed(child, declared)
    elif isinstance(node, list):
        for child in node:
            _typed(child, declared)
