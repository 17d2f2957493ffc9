"""Response shapes (msgspec Structs, which encode them) of the cells API."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct, field

from fundament.platform import Page, Timestamp


class CellSummary(Struct, frozen=True):
    """A cell: one PostgreSQL cluster (with its replicas) of one region."""

    name: Annotated[str, Meta(examples=["main"], description="`main` is the control database.")]
    region: str
    tenants: Annotated[int, Meta(ge=0, description="Tenants placed on the cell.")]
    stored_bytes: Annotated[
        int,
        Meta(
            ge=0,
            description="Its tenants' stored bytes (records and audit trail) as last sampled by "
            "metering; placement puts a new tenant on the emptiest cell of its region by this.",
        ),
    ]
    status: Annotated[
        Literal["available", "unreachable"],
        Meta(description="`unreachable`: this instance cannot connect to it (its tenants get 503)."),
    ]


class CellList(Page[CellSummary], frozen=True):
    pass


class TenantMove(Struct, frozen=True, kw_only=True):
    """A move of a tenant to another cell of its region: a job to poll."""

    id: Annotated[str, Meta(examples=["mov_01JD0000000000000000000000"])]
    status: Annotated[
        Literal["pending", "copying", "catching_up", "switching", "done", "failed"],
        Meta(
            description="`copying` the tenant's rows to the target, `catching_up` with what changed "
            "meanwhile, `switching` (its writes wait, at most about a second, while the last changes "
            "are copied, the target is verified and the directory switches), then `done` (the source's "
            "rows are deleted) or `failed` (the tenant is whole on the source, serving; see `error`)."
        ),
    ]
    tenant: str
    from_: Annotated[str, Meta(description="The cell the tenant was on.")] = field(name="from")
    to: Annotated[str, Meta(description="The cell it moves to (of the same region).")]
    error: Annotated[str | None, Meta(description="Why the move failed (null unless `failed`).")]
    freeze_ms: Annotated[
        float | None, Meta(description="How long the tenant's writes waited, once it has switched.")
    ]
    rows_copied: Annotated[int, Meta(ge=0, description="Rows copied so far, catch-up passes included.")]
    created_at: Timestamp
    finished_at: Timestamp | None
