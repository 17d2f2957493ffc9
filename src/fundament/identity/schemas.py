"""Request models (pydantic, which validates them) and response shapes (msgspec Structs,
which encode them) of keys and users."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct
from pydantic import BaseModel, ConfigDict, Field

from fundament.platform import DateTime, Page, Timestamp, not_null

Role = Literal["viewer", "member", "admin", "owner"]
Name = Annotated[str, Field(min_length=1, max_length=200)]
# Controls and every Unicode space, spelled out: `\s` means different sets in ECMA-262 (the
# OpenAPI reader's regex), Rust's regex (pydantic's) and Python's, so a generated address
# could pass one and fail another.
_SPACE = r"\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
Email = Annotated[
    str,
    Field(
        pattern=rf"^[^@{_SPACE}]{{1,64}}@[^@{_SPACE}]{{1,255}}$",
        max_length=254,
        examples=["ada@example.com"],
    ),
]


ExpiresAt = Annotated[
    DateTime | None,
    Field(
        description="When the key stops working: an RFC 3339 date-time with an offset "
        "(`2027-01-31T00:00:00Z`) that lies in the future, else 422. Default: never."
    ),
]
Prefix = Annotated[str, Meta(description="The key's first characters, to recognise it; not a secret.")]
Secret = Annotated[str, Meta(description="The secret. Shown only in this response; store it now.")]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    role: Role
    expires_at: ExpiresAt = None


class ApiKey(Struct, frozen=True):
    id: str
    name: str
    role: Role
    prefix: Prefix
    created_at: Timestamp
    expires_at: Timestamp | None


class ApiKeyCreated(ApiKey, frozen=True):
    key: Secret


class ApiKeyList(Page[ApiKey], frozen=True):
    pass


class OperatorKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    expires_at: ExpiresAt = None


class OperatorKey(Struct, frozen=True):
    id: str
    name: str
    prefix: Prefix
    created_at: Timestamp
    expires_at: Annotated[
        Timestamp | None,
        Meta(
            description="After this the key gets 401; null: it does not expire. An expired key "
            "stays listed until it is revoked."
        ),
    ]


class OperatorKeyCreated(OperatorKey, frozen=True):
    key: Secret


class OperatorKeyList(Page[OperatorKey], frozen=True):
    pass


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    name: Name | None = None
    role: Role


class UserPatch(BaseModel):
    """A JSON Merge Patch: ``name`` may be removed (``null``), ``email`` and ``role`` not."""

    model_config = ConfigDict(extra="forbid")
    email: Email | None = Field(default=None, json_schema_extra=not_null)
    name: Name | None = None
    role: Role | None = Field(default=None, json_schema_extra=not_null)


class User(Struct, frozen=True):
    id: str
    email: str
    name: str | None
    role: Role
    created_at: Timestamp
    updated_at: Timestamp


class UserList(Page[User], frozen=True):
    pass
