"""Request and response models of keys and users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["viewer", "member", "admin", "owner"]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[
    str,
    Field(
        pattern=r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,255}$",
        max_length=254,
        examples=["ada@example.com"],
    ),
]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    role: Role
    expires_at: datetime | None = Field(
        default=None, description="RFC 3339 time with offset; must lie in the future."
    )


class ApiKey(BaseModel):
    id: str
    name: str
    role: Role
    prefix: str = Field(description="The key's first characters, to recognise it; not a secret.")
    created_at: datetime
    expires_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The secret. Shown only in this response; store it now.")


class ApiKeyList(BaseModel):
    items: list[ApiKey]
    next_cursor: str | None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    name: Name | None = None
    role: Role


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    name: Name | None = None
    role: Role | None = None


class User(BaseModel):
    id: str
    email: str
    name: str | None
    role: Role
    created_at: datetime
    updated_at: datetime


class UserList(BaseModel):
    items: list[User]
    next_cursor: str | None
