"""The HTTP edge shared by every module: middleware, problem rendering, strict routes.

The middleware is pure ASGI (no BaseHTTPMiddleware) so it costs one function call per
request; it stamps ``X-Request-Id`` and ``nosniff`` on every response and refuses bodies
over the configured size before the route reads them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fundament.platform.context import request_id_var
from fundament.platform.errors import (
    BadRequest,
    FieldError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    T,
    UnsupportedMediaType,
    ValidationFailed,
    problem_response,
    translate_db_error,
)
from fundament.platform.ids import new_id

log = logging.getLogger("fundament.http")

_CLIENT_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def json_text(value: Any, *, where: str = "/") -> str:
    """Serialise client-supplied JSON for a jsonb parameter.

    orjson refuses integers beyond 64 bits, which JSON allows and pydantic accepts; that
    is the client's problem (422), not a server error.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:
        raise ValidationFailed(
            "A number is out of range (integers must fit in 64 bits).",
            errors=[FieldError(where, "integer out of range")],
        ) from exc


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


class EdgeMiddleware:
    """Request id, security headers and the body size limit, for every response."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        content_length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _CLIENT_REQUEST_ID.match(candidate):
                    request_id = candidate
            elif name == b"content-length":
                content_length = value
        if request_id is None:
            request_id = new_id("req")
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        rid = request_id.encode("latin-1")
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid))
                headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        limit = self.max_body_bytes
        try:
            if content_length is not None:
                try:
                    declared = int(content_length)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await problem_response(BadRequest("Invalid Content-Length header."))(
                        scope, receive, send_wrapper
                    )
                    return
                if declared > limit:
                    await problem_response(_too_large(limit))(scope, receive, send_wrapper)
                    return
            received = 0

            async def receive_limited() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise _too_large(limit)
                return message

            try:
                await self.app(scope, receive_limited, send_wrapper)
            except PayloadTooLarge as exc:
                if started:
                    raise
                await problem_response(exc)(scope, receive, send_wrapper)
        finally:
            request_id_var.reset(token)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")


# --- exception handlers ----------------------------------------------------------------


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return "/" + "/".join(parts) if parts else "/"


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc)


async def handle_validation(request: Request, exc: Exception) -> Response:
    """FastAPI's validation errors as problems: 400 for URL and JSON syntax, 422 for bodies."""
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(BadRequest("The request body is not valid JSON.", type=T.INVALID_JSON))
    field_errors = [
        FieldError(
            path=_loc_to_path(tuple(e.get("loc", ())))
            if e.get("loc", ("",))[0] == "body"
            else ".".join(str(p) for p in e.get("loc", ())),
            message=str(e.get("msg", "invalid")),
        )
        for e in errors
    ]
    in_url = any(e.get("loc", ("",))[0] in ("query", "path", "header") for e in errors)
    if in_url:
        return problem_response(BadRequest("Invalid request parameters.", errors=field_errors))
    return problem_response(ValidationFailed("The request body is invalid.", errors=field_errors))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    problem: Problem
    if exc.status_code == 404:
        problem = NotFound("No such resource.")
    elif exc.status_code == 405:
        problem = MethodNotAllowed("This method is not allowed on this resource.", headers=exc.headers or {})
    else:
        problem = BadRequest(str(exc.detail))
        problem.status = exc.status_code  # type: ignore[misc]
    return problem_response(problem)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    mapped = translate_db_error(exc)
    if mapped is not None:
        return problem_response(mapped)
    log.exception("unhandled error", extra={"request_id": request_id_var.get()})
    return problem_response(Problem("An unexpected error occurred; it has been logged."))


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Coroutine[Any, Any, Response]]] = {
    Problem: handle_problem,
    RequestValidationError: handle_validation,
    StarletteHTTPException: handle_http_exception,
    Exception: handle_unexpected,
}


# --- strict routes ----------------------------------------------------------------------

_JSON_TYPES = ("application/json", "application/merge-patch+json")


class StrictRoute(APIRoute):
    """A route that refuses unknown query parameters and non-JSON bodies.

    The contract says unknown parameters are refused, not ignored: a typo such as
    ``?limt=5`` must not silently return the default page.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()
        allowed_names: set[str] = set()
        stack = [self.dependant]
        while stack:
            dep = stack.pop()
            allowed_names.update(p.alias for p in dep.query_params)
            stack.extend(dep.dependencies)
        allowed = frozenset(allowed_names)
        has_body = bool(self.dependant.body_params)

        async def handler(request: Request) -> Response:
            query = request.scope.get("query_string", b"")
            if query:
                unknown = sorted(set(request.query_params.keys()) - allowed)
                if unknown:
                    raise BadRequest(
                        f"Unknown query parameter(s): {', '.join(unknown)}.",
                        errors=[FieldError(path=u, message="unknown parameter") for u in unknown],
                    )
            if has_body:
                ctype = request.headers.get("content-type", "")
                media = ctype.split(";", 1)[0].strip().lower()
                if media not in _JSON_TYPES and not (media == "" and not await request.body()):
                    raise UnsupportedMediaType(
                        "Send the body as application/json (or application/merge-patch+json for PATCH)."
                    )
            return await inner(request)

        return handler


def doc_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Route-specific statuses for the OpenAPI document; the app adds the common ones."""
    descriptions = {
        304: "Not modified (If-None-Match matched).",
        409: "Conflict with the current state.",
        412: "If-Match did not match the current version.",
    }
    return {c: {"description": descriptions.get(c, "See the problem document.")} for c in codes}


def database(request: Request) -> Any:
    """The app's :class:`Database` (typed as Any to keep this module free of db imports)."""
    return request.app.state.db
