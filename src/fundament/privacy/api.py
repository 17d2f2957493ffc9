"""Privacy routes (admin): subject exports and erasures, the register of processing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from fundament.platform import (
    Admin,
    Conflict,
    database,
    doc_responses,
    doc_shape,
    json_response,
    services,
)
from fundament.privacy import Needs, service
from fundament.privacy.schemas import PrivacyRequest, ProcessingRecord, SubjectExport

router = APIRouter(prefix="/v1/tenants/{tenant}/privacy", tags=["privacy"])
RequestId = Annotated[str, Path(max_length=64)]


class SubjectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(
        min_length=1,
        max_length=1000,
        description="The value of a collection's `subject_field` that identifies the person.",
    )


def _secret(request: Request) -> bytes:
    needs: Needs = services(request)
    return needs.privacy_secret


@router.post(
    "/exports",
    operation_id="privacy_exports_create",
    status_code=202,
    responses=doc_shape(PrivacyRequest, 202) | doc_responses(quotas=("max_open_privacy_jobs",)),
    summary="Request a subject access export",
)
async def create_export(tenant: str, body: SubjectRequest, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        created = await service.create_request(
            tx, kind="export", subject=body.subject, secret=_secret(request)
        )
    return json_response(created, 202, {"Location": f"/v1/tenants/{tenant}/privacy/exports/{created.id}"})


@router.get(
    "/exports/{request_id}",
    operation_id="privacy_exports_get",
    responses=doc_shape(PrivacyRequest),
    summary="An export request",
)
async def get_export(tenant: str, request_id: RequestId, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.get_request(tx, request_id, "export"))


@router.get(
    "/exports/{request_id}/download",
    operation_id="privacy_exports_download",
    summary="Download a finished export",
    responses=doc_shape(
        SubjectExport, description="The subject's records, audit events and processing facts."
    )
    | doc_responses(409),
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
    responses=doc_shape(PrivacyRequest, 202) | doc_responses(quotas=("max_open_privacy_jobs",)),
    summary="Request erasure of a subject",
)
async def create_erasure(tenant: str, body: SubjectRequest, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        created = await service.create_request(
            tx, kind="erasure", subject=body.subject, secret=_secret(request)
        )
    return json_response(created, 202, {"Location": f"/v1/tenants/{tenant}/privacy/erasures/{created.id}"})


@router.get(
    "/erasures/{request_id}",
    operation_id="privacy_erasures_get",
    responses=doc_shape(PrivacyRequest),
    summary="An erasure request",
)
async def get_erasure(tenant: str, request_id: RequestId, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.get_request(tx, request_id, "erasure"))


@router.get(
    "/processing-record",
    operation_id="privacy_processing_record_get",
    responses=doc_shape(ProcessingRecord),
    summary="Register of processing (Art. 30)",
)
async def processing_record(tenant: str, request: Request, ctx: Admin) -> Response:
    async with database(request).transaction(ctx) as tx:
        return json_response(await service.processing_record(tx))
