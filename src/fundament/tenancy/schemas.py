"""Request and response models of the tenants API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fundament.platform import not_null

Slug = Annotated[str, Field(pattern=r"^[a-z0-9-]{3,40}$", description="Unique, `[a-z0-9-]{3,40}`.")]
Region = Annotated[
    str,
    Field(
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$",
        max_length=32,
        description="Hosting region; fixed at creation (data residency).",
    ),
]
#: The catalogue is loaded at start (FUNDAMENT_PLANS), so the app fills in the ``enum`` of
#: every schema carrying this marker with the plans it loaded (app._openapi).
PLAN_ENUM_MARKER = "x-fundament-enum"
Plan = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="A plan of the catalogue this server loaded (FUNDAMENT_PLANS; built in: free, pro, "
        "enterprise). The `enum` lists them; another name is a 422.",
        json_schema_extra={PLAN_ENUM_MARKER: "plans"},
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]


def _read_only(schema: dict[str, Any]) -> None:
    not_null(schema)
    schema["readOnly"] = True
    schema["description"] = (
        "Read-only: accepted only with the tenant's current value (so a tenant as read can be "
        "sent back), else 422. A tenant changes region by a move, not a patch."
    )


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    slug: Slug
    region: Region = "eu-central-1"
    plan: Plan = "free"


class TenantPatch(BaseModel):
    """A JSON Merge Patch (RFC 7396). ``region`` is accepted only unchanged: it is fixed."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = Field(default=None, json_schema_extra=not_null)
    plan: Plan | None = Field(default=None, json_schema_extra=not_null)
    status: Literal["active", "suspended"] | None = Field(default=None, json_schema_extra=not_null)
    region: Region | None = Field(default=None, json_schema_extra=_read_only)


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
