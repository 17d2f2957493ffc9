"""Request models (pydantic, which validates them) and response shapes (msgspec Structs,
which encode them) of the tenants API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from fundament.platform import MAX_CORS_ORIGINS, REGION_PATTERN, Page, Timestamp, not_null, parse_origin

Slug = Annotated[str, Field(pattern=r"^[a-z0-9-]{3,40}$", description="Unique, `[a-z0-9-]{3,40}`.")]
Region = Annotated[
    str,
    Field(
        pattern=REGION_PATTERN,
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


def _read_only(member: str) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` of a member a patch may carry only unchanged."""

    def extra(schema: dict[str, Any]) -> None:
        not_null(schema)
        schema["readOnly"] = True
        schema["description"] = (
            "Read-only: accepted only with the tenant's current value (so a tenant as read can be "
            f"sent back), else 422. A tenant changes {member} by a move, not a patch."
        )

    return extra


def _defaulted(description: str) -> Callable[[dict[str, Any]], None]:
    """``json_schema_extra`` of a member that may be left out (the server's default) but
    not be null; ``description`` replaces the one of the member's type."""

    def extra(schema: dict[str, Any]) -> None:
        not_null(schema)
        schema["description"] = description

    return extra


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    slug: Slug
    region: Region | None = Field(
        default=None,
        json_schema_extra=_defaulted(
            "Hosting region; fixed at creation (data residency). Absent: the server's default region "
            "(FUNDAMENT_DEFAULT_REGION, `eu-central-1` unless set)."
        ),
    )
    plan: Plan | None = Field(
        default=None,
        json_schema_extra=_defaulted(
            "A plan of the catalogue this server loaded (FUNDAMENT_PLANS; built in: free, pro, "
            "enterprise); the `enum` lists them, another name is a 422. Absent: the server's default "
            "plan (FUNDAMENT_DEFAULT_PLAN, `free` unless set)."
        ),
    )

    @field_validator("region", "plan")
    @classmethod
    def _absent_not_null(cls, value: str | None) -> str:
        # Optional only so that absence can mean "the server's default"; null is no value.
        if value is None:
            raise ValueError("must not be null; leave it out for the server's default")
        return value


class TenantPatch(BaseModel):
    """A JSON Merge Patch (RFC 7396). ``region`` is accepted only unchanged: it is fixed."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = Field(default=None, json_schema_extra=not_null)
    plan: Plan | None = Field(default=None, json_schema_extra=not_null)
    status: Literal["active", "suspended"] | None = Field(default=None, json_schema_extra=not_null)
    region: Region | None = Field(default=None, json_schema_extra=_read_only("region"))
    cell: str | None = Field(default=None, max_length=40, json_schema_extra=_read_only("cell"))


class Tenant(Struct, frozen=True):
    id: Annotated[str, Meta(examples=["tnt_01JD0000000000000000000000"])]
    slug: str
    name: str
    region: str
    cell: Annotated[
        str,
        Meta(
            examples=["main"],
            description="The cell (a PostgreSQL cluster of the tenant's region) its data lives on; "
            "`main` is the control database.",
        ),
    ]
    plan: str
    status: Literal["active", "suspended"]
    created_at: Timestamp


class TenantList(Page[Tenant], frozen=True):
    pass


class OffboardingAccepted(Struct, frozen=True):
    id: str
    status: Literal["offboarded"]


#: What JSON Schema can say of an origin (the server's check, ``parse_origin``, also checks
#: the host and port, lowercases the host and drops a default port). Not enforced by pydantic,
#: so a refusal names the reason (a wildcard, a path) rather than a regular expression.
ORIGIN_PATTERN = r"^[hH][tT][tT][pP][sS]?://[^/?#@*\s\\]+$"
Origin = Annotated[
    str,
    Field(
        max_length=300,
        json_schema_extra={"pattern": ORIGIN_PATTERN},
        description="An exact origin, `scheme://host[:port]` (`http` or `https`), as browsers send it "
        "in `Origin`: no path (not even a trailing `/`), no wildcard, not `null`; an international "
        "domain name in its `xn--` form.",
        examples=["https://app.example.com", "http://localhost:5173"],
    ),
    AfterValidator(parse_origin),
]


class CorsSettings(BaseModel):
    """The browser origins allowed to call the tenant's paths (CORS)."""

    # The body of PUT and the answer of GET and PUT alike: one declaration both ways, which
    # pydantic validates coming in and json_response encodes going out.

    model_config = ConfigDict(extra="forbid")
    allowed_origins: list[Origin] = Field(
        max_length=MAX_CORS_ORIGINS,
        description=f"At most {MAX_CORS_ORIGINS}, kept once each in the order given, as stored: host "
        "lowercased, a default port (`:443` for https, `:80` for http) dropped. Empty: no browser "
        "origin may call the tenant's paths (besides the operator's, FUNDAMENT_CORS_OPERATOR_ORIGINS).",
    )
