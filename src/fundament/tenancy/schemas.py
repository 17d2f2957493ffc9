"""Request and response models of the tenants API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Slug = Annotated[str, Field(pattern=r"^[a-z0-9-]{3,40}$", description="Unique, `[a-z0-9-]{3,40}`.")]
Region = Annotated[
    str,
    Field(
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$",
        max_length=32,
        description="Hosting region; fixed at creation (data residency).",
    ),
]
Plan = Annotated[
    str,
    Field(min_length=1, max_length=64, description="A plan name (built-in: free, pro, enterprise)."),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    slug: Slug
    region: Region = "eu-central-1"
    plan: Plan = "free"


class TenantPatch(BaseModel):
    """A JSON Merge Patch (RFC 7396). ``region`` is accepted only unchanged: it is fixed."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    plan: Plan | None = None
    status: Literal["active", "suspended"] | None = None
    region: Region | None = None


class Tenant(BaseModel):
    id: str = Field(examples=["tnt_01JD0000000000000000000000"])
    slug: str
    name: str
    region: str
    plan: str
    status: Literal["active", "suspended"]
    created_at: datetime


class TenantList(BaseModel):
    items: list[Tenant]
    next_cursor: str | None


class OffboardingAccepted(BaseModel):
    id: str
    status: Literal["offboarded"]
