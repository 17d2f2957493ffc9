"""Cell routes (operator)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fundament.cells import Needs
from fundament.cells.schemas import CellList
from fundament.cells.service import summaries
from fundament.platform import Operator, doc_shape, json_response, services

router = APIRouter(prefix="/v1/cells", tags=["cells"])



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
