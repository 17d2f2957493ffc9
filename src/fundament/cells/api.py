"""Cell routes (operator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from fundament.cells import Needs
from fundament.cells.moves import MoveRow, get_move, regions_of, start_move
from fundament.cells.schemas import CellList, TenantMove
from fundament.cells.service import summaries
from fundament.platform import Operator, database, doc_responses, doc_shape, json_response, services

router = APIRouter(prefix="/v1/cells", tags=["cells"])
moves = APIRouter(prefix="/v1/tenants/{tenant}", tags=["cells"])
MoveId = Annotated[str, Path(max_length=64)]


class MoveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(
        min_length=1, max_length=40, description="The cell to move the tenant to, of the tenant's region."
    )


def _shape(move: MoveRow) -> TenantMove:
    return TenantMove(
        id=move.id,
        status=move.status,  # type: ignore[arg-type]
        tenant=move.tenant,
        from_=move.from_cell,
        to=move.to_cell,
        error=move.error,
        freeze_ms=move.freeze_ms,
        rows_copied=move.rows_copied,
        created_at=move.created_at,
        finished_at=move.finished_at,
    )



@router.get(
    "",
    operation_id="cells_list",
    responses=doc_shape(CellList),
    summary="List cells",
    description=(
        "Every cell (PostgreSQL cluster) tenants are placed on: the control database (`main`) first, "
        "then by name, with the tenants on each and their stored bytes. Cells are few: one page, "
        "`next_cursor` is always null. Add one with `fundament cells add NAME --dsn DSN --region REGION`."
    ),
)
async def list_cells(request: Request, ctx: Operator) -> Response:
    needs: Needs = services(request)
    return json_response(CellList(await summaries(needs.cells), None))


@moves.post(
    "/move",
    operation_id="tenants_move",
    status_code=202,
    responses=doc_shape(TenantMove, 202) | doc_responses(404, 409),
    summary="Move a tenant to another cell of its region (online)",
    description=(
        "Starts a move, answered as a job to poll at `Location`. The tenant keeps serving "
        "throughout: its rows are copied to the target cell, then caught up; its writes wait (they "
        "are not refused) for at most about a second while the last changes are copied, the target's "
        "row counts and audit chain are verified and the directory switches; every instance then sends "
        "its requests to the target, and the source's rows are deleted. A move that fails leaves the "
        "tenant whole on the source. 422 for a cell that does not exist, the tenant's own cell, or a "
        "cell of another region (residency); 409 if a move of the tenant is running. "
        "CLI: `fundament tenants move TENANT --to CELL [--wait]`."
    ),
)
async def move_tenant(tenant: str, body: MoveRequest, request: Request, ctx: Operator) -> Response:
    needs: Needs = services(request)
    async with database(request).transaction(ctx, tenant_id=tenant, routed=False) as tx:
        move = await start_move(tx, regions_of(needs.cells), tenant, body.to)
    return json_response(_shape(move), 202, {"Location": f"/v1/tenants/{tenant}/moves/{move.id}"})


@moves.get(
    "/moves/{move_id}",
    operation_id="tenants_moves_get",
    responses=doc_shape(TenantMove),
    summary="A tenant's move",
)
async def get_tenant_move(tenant: str, move_id: MoveId, request: Request, ctx: Operator) -> Response:
    async with database(request).transaction(ctx, tenant_id=tenant, routed=False, read_only=True) as tx:
        move = await get_move(tx, tenant, move_id)
    return json_response(_shape(move))
