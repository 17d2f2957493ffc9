"""Privacy routes (admin): subject exports and erasures, the register of processing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from fundament.platform import (
    Conflict,
    RequestContext,
    database,
    doc_responses,
    json_response,
    require_role,
    services,
)
from fundament.privacy import Needs, service

router = APIRouter(prefix="/v1/tenants/{tenant}/privacy", tags=["privacy"])
Admin = Annotated[RequestContext, Depends(require_role("admin"))]
RequestId = Annotated[str, Path(max_length=64)]


class SubjectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(
        min_length=1,
        max_length=1000,
        description="The value of a collection's `subject_field` that identifies the person.",
    )


class PrivacyRequest(BaseModel):
    id: str
    kind: Literal["export", "erasure"]
    status: Literal["pending", "done", "failed"]
    created_at: datetime
    due_at: datetime = Field(description="One month after the request (Art. 12(3) GDPR).")
    completed_at: datetime | None
    erased: dict[str, int] | None = Field(default=None, description="Erasures: records per collection.")


class SubjectExport(BaseModel):
    """A finished subject access export (Art. 15 GDPR): what the tenant holds about the subject."""

    subject: str
    generated_at: datetime
    region: str
    records: dict[str, list[dict[str, Any]]] = Field(description="The subject's records, per collection.")
    audit_events: list[dict[str, Any]] = Field(
        description="Audit events about those records, with their personal values revealed."
    )
    processing: list[dict[str, Any]] = Field(
        description="The processing activities of those collections (as in the processing record)."
    )


class ProcessingRecord(BaseModel):
    controller: dict[str, Any]
    region: str
    generated_at: datetime
    activities: list[dict[str, Any]]


def _secret(request: Request) -> bytes:
    needs: Needs = services(request)
    return needs.privacy_secret


@router.post(
    "/exports",
    operation_id="privacy_exports_create",
    status_code=202,
    response_model=PrivacyRequest,
    responses=doc_responses(quotas=("max_open_privacy_jobs",)),
    summary="Request a subject access export",
)
async def create_export(tenant: str, body: SubjectRequest, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        created = await service.create_request(
            tx, kind="export", subject=body.subject, secret=_secret(request)
        )
    return json_response(created, 202, {"Location": f"/v1/tenants/{tenant}/privacy/exports/{created['id']}"})


@router.get(
    "/exports/{request_id}",
    operation_id="privacy_exports_get",
    response_model=PrivacyRequest,
    summary="An export request",
)
async def get_export(tenant: str, request_id: RequestId, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.get_request(tx, request_id, "export"))


@router.get(
    "/exports/{request_id}/download",
    operation_id="privacy_exports_download",
    summary="Download a finished export",
    response_model=SubjectExport,
    responses={
        200: {"description": "The subject's records, audit events and processing facts."},
        **doc_responses(409),
    },
)
async def download_export(tenant: str, request_id: RequestId, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        bundle = await service.download_export(tx, request_id)
    if bundle is None:
        raise Conflict(
            "The export is not ready yet, or was withdrawn by an erasure.", headers={"Retry-After": "5"}
        )
    return Response(
        bundle,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{request_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/erasures",
    operation_id="privacy_erasures_create",
    status_code=202,
    response_model=PrivacyRequest,
    responses=doc_responses(quotas=("max_open_privacy_jobs",)),
    summary="Request erasure of a subject",
)
async def create_erasure(tenant: str, body: SubjectRequest, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        created = await service.create_request(
            tx, kind="erasure", subject=body.subject, secret=_secret(request)
        )
    return json_response(created, 202, {"Location": f"/v1/tenants/{tenant}/privacy/erasures/{created['id']}"})


@router.get(
    "/erasures/{request_id}",
    operation_id="privacy_erasures_get",
    response_model=PrivacyRequest,
    summary="An erasure request",
)
async def get_erasure(tenant: str, request_id: RequestId, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.get_request(tx, request_id, "erasure"))


@router.get(
    "/processing-record",
    operation_id="privacy_processing_record_get",
    response_model=ProcessingRecord,
    summary="Register of processing (Art. 30)",
)
async def processing_record(tenant: str, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.processing_record(tx))
