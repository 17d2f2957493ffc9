"""Response shapes (msgspec Structs, which encode them) of the cells API."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from fundament.platform import Page


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
