"""``/healthz`` (the process answers), ``/readyz`` (it can serve: database reachable,
migrations current, not shutting down), both open, and ``/metrics``, which is not."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from msgspec import Meta, Struct

from fundament.migrations import applied_revision
from fundament.ops import Needs
from fundament.platform import bearer_token, doc_shape, json_response, require_role, services

router = APIRouter(tags=["operations"])


class Health(Struct, frozen=True):
    status: Literal["ok"]


class Readiness(Struct, frozen=True):
    status: Literal["ready", "not ready"]
    checks: Annotated[
        dict[str, str], Meta(description="`shutdown`, `database` and `migrations`, each with its state")
    ]


_ALIVE = Health("ok")


@router.get(
    "/healthz",
    operation_id="health_check",
    summary="Liveness",
    responses=doc_shape(Health, description="Alive."),
)
async def healthz() -> Response:
    return json_response(_ALIVE)


@router.get(
    "/readyz",
    operation_id="readiness_check",
    summary="Readiness",
    responses=doc_shape(Readiness, description="Ready.") | {503: {"description": "Not ready."}},
)
async def readyz(request: Request) -> Response:
    state: Needs = services(request)
    checks: dict[str, str] = {}
    ready = not state.shutting_down
    checks["shutdown"] = "no" if ready else "in progress"
    try:
        async with asyncio.timeout(2.0):
            async with state.db.pool.acquire() as conn:
                version = await applied_revision(conn)
        checks["database"] = "ok"
        # A revision this release does not know is a newer release's: during a rolling
        # upgrade the migration runs first and the old pods keep serving (migrations stay
        # backward compatible for one release). A known older one means: migrate first.
        if version == state.expected_migration:
            checks["migrations"] = "current"
        elif version not in state.known_migrations:
            checks["migrations"] = f"ahead ({version}, a newer release's)"
        else:
            checks["migrations"] = f"at {version}, expected {state.expected_migration}"
            ready = False
    except Exception:
        checks["database"] = "unreachable"
        ready = False
    status = 200 if ready else 503
    headers = {} if ready else {"Retry-After": "1"}
    return json_response(Readiness("ready" if ready else "not ready", checks), status, headers)


def metrics_router(token: str | None) -> APIRouter:
    """``GET /metrics``, answered only for an operator key or ``token`` (the value of
    ``FUNDAMENT_METRICS_TOKEN``, what Prometheus' ``authorization`` setting sends)."""
    scrapers = APIRouter(tags=["operations"])
    operator = require_role("operator")
    expected = token.encode() if token else None

    @scrapers.get(
        "/metrics",
        operation_id="metrics_get",
        summary="Prometheus metrics",
        description="Prometheus text exposition format. Labels: method, route template, status class. "
        "Needs `Authorization: Bearer` with an operator key or the metrics token "
        "(`FUNDAMENT_METRICS_TOKEN`): it shows traffic per route, pool use and queue depth. "
        "No token → 401; a tenant key → 403.",
        responses={
            200: {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}
        },
        response_class=Response,
    )
    async def metrics(request: Request) -> Response:
        presented = bearer_token(request).encode()
        # Compared in constant time: the token is a password.
        if expected is None or not hmac.compare_digest(presented, expected):
            await operator(request)
        needs: Needs = services(request)
        render = needs.metrics
        if render is None:
            return Response("# metrics are off (FUNDAMENT_METRICS=false)\n", media_type="text/plain")
        body, content_type = await render()
        return Response(body, media_type=content_type)

    return scrapers
