"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database reachable,
migrations current, not shutting down)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fundament.platform import StrictRoute, json_response

router = APIRouter(tags=["operations"], route_class=StrictRoute)


@router.get("/healthz", summary="Liveness", responses={200: {"description": "Alive."}})
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness",
    responses={200: {"description": "Ready."}, 503: {"description": "Not ready."}},
)
async def readyz(request: Request) -> Response:
    state = request.app.state
    checks: dict[str, str] = {}
    ready = not getattr(state, "shutting_down", False)
    checks["shutdown"] = "no" if ready else "in progress"
    try:
        async with asyncio.timeout(2.0):
            async with state.db.pool.acquire() as conn:
                version = await conn.fetchval("SELECT version_num FROM alembic_version")
        checks["database"] = "ok"
        current = version == state.expected_migration
        checks["migrations"] = "current" if current else f"at {version}, expected {state.expected_migration}"
        ready = ready and current
    except Exception:
        checks["database"] = "unreachable"
        ready = False
    status = 200 if ready else 503
    headers = {} if ready else {"Retry-After": "1"}
    return json_response({"status": "ready" if ready else "not ready", "checks": checks}, status, headers)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Prometheus text exposition format. Labels: method, route template, status class.",
    responses={200: {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}},
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    render = getattr(request.app.state, "metrics", None)
    if render is None:
        return Response("# metrics are off (FUNDAMENT_METRICS=false)\n", media_type="text/plain")
    body, content_type = await render()
    return Response(body, media_type=content_type)
