"""Request models (pydantic, which validates them) and response shapes (msgspec Structs,
which encode them) of collections and records."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Struct
from pydantic import BaseModel, ConfigDict, Field, RootModel

from fundament.platform import JsonObject, Page, Timestamp, not_null

CollectionName = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="`[a-z][a-z0-9_]{0,62}`")
]
FieldPath = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}(\.[A-Za-z][A-Za-z0-9_-]{0,63}){0,7}$",
        description="A field of the record's data; dot paths for nested fields.",
    ),
]
Text = Annotated[str, Field(min_length=1, max_length=500)]

EXAMPLE_SCHEMA = {
    "type": "object",
    "properties": {"email": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["email"],
    "additionalProperties": False,
}


_INDEXES = (
    "Fields (dot paths) that filters and sorts use through an index: at most 8 per collection"
    " (the plan may allow fewer). Any value stays storable; long strings are indexed by"
    " their first 200 characters and checked in full."
)


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: CollectionName
    schema_: dict[str, Any] = Field(
        alias="schema",
        description="JSON Schema (draft 2020-12) for each record's `data`.",
        examples=[EXAMPLE_SCHEMA],
    )
    indexes: Annotated[list[FieldPath], Field(max_length=8, description=_INDEXES)] = []
    personal_fields: Annotated[list[FieldPath], Field(max_length=200)] = []
    subject_field: FieldPath | None = None
    retention_days: Annotated[int, Field(ge=1, le=36500)] | None = None
    purpose: Text | None = None
    legal_basis: Text | None = None
    on_erasure: Literal["delete", "anonymize"] = "delete"


class CollectionPatch(BaseModel):
    """JSON Merge Patch of a collection; ``schema`` is merged too (RFC 7396 is recursive)."""

    model_config = ConfigDict(extra="forbid")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema", json_schema_extra=not_null)
    indexes: Annotated[list[FieldPath], Field(max_length=8, description=_INDEXES)] | None = Field(
        default=None, json_schema_extra=not_null
    )
    personal_fields: Annotated[list[FieldPath], Field(max_length=200)] | None = Field(
        default=None, json_schema_extra=not_null
    )
    subject_field: FieldPath | None = None
    retention_days: Annotated[int, Field(ge=1, le=36500)] | None = None
    purpose: Text | None = None
    legal_basis: Text | None = None
    on_erasure: Literal["delete", "anonymize"] | None = Field(default=None, json_schema_extra=not_null)


class Collection(Struct, frozen=True):
    name: str
    schema: dict[str, Any]
    indexes: list[str]
    personal_fields: list[str]
    subject_field: str | None
    retention_days: int | None
    purpose: str | None
    legal_basis: str | None
    on_erasure: Literal["delete", "anonymize"]
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class CollectionList(Page[Collection], frozen=True):
    pass


class RecordWrite(BaseModel):
    """The body of POST and PUT: the record's fields under `data`. (PATCH differs: its body is
    the merge patch of `data` itself, unwrapped; see RecordDataPatch.)"""

    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(
        description="The record's fields; must pass the collection schema. Every value must be "
        "storable: integers within 64 bits (-2^63 to 2^64-1; a larger number may be sent as a "
        "double, `1e30`), no U+0000 in strings or keys, the body nested at most 64 levels deep. "
        "Else 422 naming the rule (400 `invalid-json` for the nesting).",
    )


class RecordDataPatch(RootModel[dict[str, Any]]):
    """The body of PATCH: a JSON Merge Patch (RFC 7396) of the record's `data`, not wrapped in
    `{"data": …}` as the bodies of POST and PUT (RecordWrite) are. A member set to `null`
    removes that field, an object member is merged recursively, any other value replaces the
    field. The merged data must pass the collection schema, under the same storage rules as
    RecordWrite's `data`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"score": 12, "address": {"city": "Oslo"}}]})


# `data` is the jsonb text PostgreSQL returned, never parsed on the way out. gc=False: a
# record holds no containers, so the cyclic collector need not track it (a 50-record page
# encodes 17% faster). No docstring: it would be the schema's description.
class Record(Struct, frozen=True, gc=False):
    id: str
    data: JsonObject
    version: int
    created_at: Timestamp
    updated_at: Timestamp

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


class RecordList(Page[Record], frozen=True):
    pass
