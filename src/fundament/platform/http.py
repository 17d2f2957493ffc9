"""The HTTP edge shared by every module: middleware, request parsing, problem rendering.

The middleware is pure ASGI (no BaseHTTPMiddleware) so it costs one function call per
request; it stamps ``X-Request-Id`` and ``nosniff`` on every response and refuses bodies
over the configured size before the route reads them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fundament.platform.context import request_id_var
from fundament.platform.cors import CorsPolicy
from fundament.platform.errors import (
    BadRequest,
    FieldError,
    InvalidConsistencyToken,
    InvalidJSON,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    T,
    Timeout,
    UnsupportedMediaType,
    ValidationFailed,
    problem_response,
    translate_db_error,
)
from fundament.platform.ids import new_id
from fundament.platform.observe import Exchange, Observer, current_exchange
from fundament.platform.replicas import CONSISTENCY_HEADER, parse_consistency
from fundament.platform.shapes import encode
from fundament.platform.wiring import services

log = logging.getLogger("fundament.http")

_CLIENT_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


def _storable(value: Any) -> str | None:
    """Why PostgreSQL's jsonb cannot hold ``value`` as sent, or None if it can."""
    if isinstance(value, float):
        return None if math.isfinite(value) else "a number overflows a double"
    if isinstance(value, str):
        return "a string contains the NUL character (\\u0000)" if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            reason = _storable(k) or _storable(v)
            if reason:
                return reason
    elif isinstance(value, list):
        for v in value:
            reason = _storable(v)
            if reason:
                return reason
    return None


def json_text(value: Any, *, where: str = "/") -> str:
    """Serialise client-supplied JSON for a jsonb parameter.

    orjson refuses integers beyond 64 bits, which JSON allows and pydantic accepts; that
    is the client's problem (422), not a server error.
    """
    reason = _storable(value)
    if reason is not None:
        # 1e400 parses to infinity, which orjson would silently write as null; jsonb has no
        # NUL in strings. Refuse with a clear 422 rather than change the data or fail late.
        raise ValidationFailed(
            f"The value cannot be stored: {reason}.",
            errors=[FieldError(where, reason)],
        )
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:
        # Bodies are parsed by parse_json_body (depth and surrogates checked), so what is
        # left is an integer beyond 64 bits: JSON allows it, jsonb would even keep it, but
        # every reader of the value would have to as well.
        raise ValidationFailed(
            "A number is out of range (integers must fit in 64 bits).",
            errors=[FieldError(where, "integer out of range")],
        ) from exc


# --- JSON request bodies ----------------------------------------------------------------------

#: Arrays and objects, the body's outermost one counted as level 1. One limit for every
#: route and method, well inside what each later step (validation, orjson, jsonb) handles.
MAX_JSON_DEPTH = 64

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _depth(text: str) -> int:
    """Deepest nesting of arrays and objects in ``text``, strings skipped (C-speed scans,
    then one pass over the brackets alone), so a 1 MB ``[[[[…`` is refused before a
    recursive parser sees it."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0
    depth = deepest = 0
    for ch in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


def _nul_path(value: Any, where: str) -> str | None:
    """The JSON Pointer (RFC 6901) of the first key or string holding U+0000, or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}/{key.replace('~', '~0').replace('/', '~1')}"
            if "\x00" in key:
                return here
            found = _nul_path(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_path(item, f"{where}/{i}")
            if found is not None:
                return found
    return None


_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def _keys_and_floats(value: Any, depth: int = 1) -> tuple[int, bool]:
    """How many object keys ``value`` holds, and whether it holds a float; (-1, True) if
    it is nested deeper than :data:`MAX_JSON_DEPTH`."""
    if isinstance(value, dict):
        items: Any = value.values()
        keys = len(value)
    elif isinstance(value, list):
        items, keys = value, 0
    else:
        return 0, isinstance(value, float)
    if depth > MAX_JSON_DEPTH:
        return -1, True
    floats = False
    for item in items:
        k, f = _keys_and_floats(item, depth + 1)
        if k < 0:
            return k, f
        keys += k
        floats = floats or f
    return keys, floats


def _orjson_if_exact(raw: bytes) -> Any:
    """The body parsed by orjson when that provably means the same as the exact parser
    below, else ``_NOT_PROVEN``: orjson is 5–7× faster (a 1 MiB record costs the event
    loop 0.5 ms instead of 3.6), but it keeps the last of duplicate keys and turns integers
    beyond 64 bits into floats. So: no more key tokens than keys kept (every key token is
    followed by a colon, so as many colons as keys kept proves no key came twice), and no
    digit run long enough to be such an integer where a float came out. Everything else it
    refuses as we do (bad UTF-8, lone surrogates, NaN); the exact parser then words why."""
    if b"\\u0000" in raw:
        return _NOT_PROVEN
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_PROVEN
    keys, floats = _keys_and_floats(value)
    if keys != raw.count(b":") or (floats and _LONG_NUMBER.search(raw)):
        return _NOT_PROVEN
    return value


_NOT_PROVEN = object()


def parse_json_body(raw: bytes) -> Any:
    """Parse a request body as I-JSON (RFC 7493), or raise :class:`InvalidJSON` (400).

    Refused: bytes that are not UTF-8 (RFC 8259 §8.1), malformed JSON, ``NaN`` and
    ``Infinity`` (which Python's parser would take), an object with the same key twice
    (I-JSON §2.3; the detail names the key), a lone surrogate (I-JSON §2.1), and nesting
    deeper than :data:`MAX_JSON_DEPTH`. A string or key holding U+0000 is valid JSON but
    cannot be stored: :class:`ValidationFailed` (422) with its JSON Pointer. Integers keep
    their exact value. Every route's body goes through here (platform.routing).
    """
    fast = _orjson_if_exact(raw)
    if fast is not _NOT_PROVEN:
        return fast
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"The request body is not UTF-8 (byte {exc.start} of {len(raw)}).") from exc
    if _depth(text) > MAX_JSON_DEPTH:
        raise InvalidJSON(f"The request body is nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        value = json.loads(text, object_pairs_hook=_unique_object, parse_constant=_not_json)
    except _DuplicateKey as exc:
        raise InvalidJSON(
            f"The request body has the key {exc.key!r} twice in one object.",
            errors=[FieldError("/", f"duplicate key {exc.key!r}")],
        ) from exc
    except json.JSONDecodeError as exc:
        raise InvalidJSON(f"The request body is not valid JSON: {exc.msg} (position {exc.pos}).") from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidJSON(f"The request body is not valid JSON: {exc}.") from exc
    if "\\u0000" in text:
        # Valid JSON, but PostgreSQL text and jsonb cannot hold it: the same 422 for every
        # body field as json_text gives for record data (only an escape can write it).
        where = _nul_path(value, "")
        if where is not None:
            raise ValidationFailed(
                "The value cannot be stored: a string contains the NUL character (\\u0000).",
                errors=[FieldError(where or "/", "contains U+0000")],
            )
    if "\\u" in text:
        # Only an escape can make a lone surrogate once the bytes decoded as UTF-8.
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidJSON(
                "The request body holds a lone surrogate (a \\uD800–\\uDFFF escape without its pair)."
            ) from exc
    return value


def json_response(content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``content`` (a response shape, platform/shapes.py) as a JSON answer."""
    return Response(
        encode(content),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


class EdgeMiddleware:
    """Request id, security headers, body size limit, request deadline, CORS and
    ``OPTIONS``, and the :class:`Exchange` every observer (metering, metrics, access log) sees.

    CORS is answered here, once for every route (the routes, the docs' files, the edge's own
    problems): a request without ``Origin`` pays one header comparison for it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        request_timeout: float | None = None,
        observers: list[Observer] | None = None,
        trace_id: Callable[[], str | None] | None = None,
        cors: CorsPolicy | None = None,
        methods: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.app = app
        self.cors = cors
        #: The methods served on a path (the router's), for ``OPTIONS``.
        self.methods = methods
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.observers: list[Observer] = list(observers or ())
        self.trace_id = trace_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        content_length = None
        traceparent = None
        origin = None
        preflight = False
        consistency = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _CLIENT_REQUEST_ID.match(candidate):
                    request_id = candidate
            elif name == b"content-length":
                content_length = value
            elif name == b"traceparent":
                traceparent = value
            elif name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = True
            elif name == CONSISTENCY_HEADER:
                # Repeated lines are one comma-separated list (RFC 9110 §5.3).
                consistency = value if consistency is None else consistency + b"," + value
        if request_id is None:
            request_id = new_id("req")
        scope.setdefault("state", {})["request_id"] = request_id
        exchange = Exchange(scope["method"], scope["path"], request_id, time.perf_counter())
        # uvicorn has put the forwarded address here when the peer is a trusted proxy.
        if scope.get("client"):
            exchange.client = scope["client"][0]
        if self.trace_id is not None:
            exchange.trace_id = self.trace_id()
        if exchange.trace_id is None and traceparent is not None:
            # Without our own span we still log the caller's trace id, so our log lines
            # join the trace the client (or the load balancer) started.
            match = _TRACEPARENT.match(traceparent.decode("latin-1"))
            exchange.trace_id = match.group(1) if match else None
        if exchange.trace_id is None:
            # Neither sampled nor continued: still a W3C-shaped id, so every log line of
            # the request carries one to correlate by.
            exchange.trace_id = f"{random.getrandbits(128):032x}"
        token = request_id_var.set(request_id)
        xtoken = current_exchange.set(exchange)
        rid = request_id.encode("latin-1")
        started = False
        cors_headers: list[tuple[bytes, bytes]] = []
        cors_pending = origin is not None and self.cors is not None

        async def send_wrapper(message: Message) -> None:
            nonlocal started, cors_headers, cors_pending
            if message["type"] == "http.response.start":
                if cors_pending:
                    # Decided as the answer starts rather than before the route: by now
                    # authentication has put the key's tenant in the cache, so a request
                    # with a valid key never costs a tenant lookup here.
                    cors_pending = False
                    cors_headers = await self._cors(origin or b"", scope["path"], None)
                started = True
                exchange.status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid))
                headers.append((b"x-content-type-options", b"nosniff"))
                if exchange.headers:
                    headers.extend(exchange.headers)
                if cors_headers:
                    headers.extend(cors_headers)
                message["headers"] = headers
            elif message["type"] == "http.response.body":
                exchange.bytes_out += len(message.get("body", b""))
            await send(message)

        limit = self.max_body_bytes
        try:
            if scope["method"] == "OPTIONS":
                if self.methods is not None:
                    methods = self.methods(scope["path"])
                else:
                    methods = path_methods(scope["app"].router.routes, scope["path"])
                if cors_pending and preflight and methods:
                    cors_pending = False
                    cors_headers = await self._cors(origin or b"", scope["path"], methods)
                await _options(methods)(scope, receive, send_wrapper)
                return
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
                exchange.declared_bytes = declared
            if consistency is not None:
                floor = parse_consistency(consistency)
                if floor is None:
                    exchange.consistency_refused = True
                else:
                    exchange.consistency = floor

            async def receive_limited() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    exchange.bytes_in += len(message.get("body", b""))
                    if exchange.bytes_in > limit:
                        raise _too_large(limit)
                return message

            try:
                if self.request_timeout is None:
                    await self.app(scope, receive_limited, send_wrapper)
                else:
                    async with asyncio.timeout(self.request_timeout) as exchange.deadline:
                        await self.app(scope, receive_limited, send_wrapper)
            except PayloadTooLarge as exc:
                if started:
                    raise
                await problem_response(exc)(scope, receive, send_wrapper)
            except TimeoutError:
                if started:
                    raise
                # Cancelled mid-flight: any open transaction was rolled back with it.
                problem = Timeout(f"The request did not finish within {self.request_timeout:g} seconds.")
                await problem_response(problem)(scope, receive, send_wrapper)
        finally:
            request_id_var.reset(token)
            current_exchange.reset(xtoken)
            route = scope.get("route")
            if route is not None and exchange.route is None:
                exchange.route = getattr(route, "path_format", None) or getattr(route, "path", None)
            scope["fundament.route"] = exchange.route
            exchange.duration = time.perf_counter() - exchange.started
            for observe in self.observers:
                try:
                    observe(exchange)
                except Exception:  # watching a request must never break it
                    log.exception("request observer failed")


    async def _cors(self, origin: bytes, path: str, methods: list[str] | None) -> list[tuple[bytes, bytes]]:
        """The CORS headers of the answer to ``origin`` on ``path``: of a preflight when
        ``methods`` (the path's) are given, else of an actual response."""
        assert self.cors is not None
        allowed = await self.cors.allows(origin.decode("latin-1"), path)
        if allowed is None:
            return []
        if methods:
            return CorsPolicy.preflight_headers(origin, allowed, methods)
        return CorsPolicy.response_headers(origin, allowed)


#: Refused rather than ignored: a client that sends a token counts on what it promises.
BAD_CONSISTENCY = InvalidConsistencyToken(
    "Fundament-Consistency must hold a token a write response carried (such as 16/B374D848), "
    "or several separated by commas."
)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")


def _options(methods: list[str]) -> Response:
    """``OPTIONS`` on any path that serves ``methods`` (RFC 9110 §9.3.7), a CORS preflight or
    not, without authentication (a preflight never carries a key): 204 with ``Allow``; the
    edge adds the CORS headers when the ``Origin`` may use the path."""
    if not methods:
        return problem_response(NotFound("No such resource."))
    return Response(status_code=204, headers={"Allow": ", ".join(methods)})


# --- exception handlers ----------------------------------------------------------------


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return "/" + "/".join(parts) if parts else "/"


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc)


def validation_problem(errors: list[Any], *, body: bool = True) -> Problem:
    """Pydantic errors as a problem: 400 for URL and JSON syntax, 422 for body content."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return BadRequest("The request body is not valid JSON.", type=T.INVALID_JSON)
    locs = [tuple(e.get("loc") or ()) for e in errors]
    in_url = not body or any(loc[:1] in (("query",), ("path",), ("header",)) for loc in locs)
    field_errors = [
        FieldError(
            path=".".join(str(p) for p in loc) if in_url else _loc_to_path(loc),
            message=str(e.get("msg", "invalid")),
        )
        for e, loc in zip(errors, locs, strict=True)
    ]
    if in_url:
        return BadRequest("Invalid request parameters.", errors=field_errors)
    return ValidationFailed("The request body is invalid.", errors=field_errors)


async def handle_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_problem(list(exc.errors())))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    problem: Problem
    if exc.status_code == 404:
        problem = NotFound("No such resource.")
    elif exc.status_code == 405:
        allowed = allowed_methods(request)
        problem = MethodNotAllowed(
            f"{request.method} is not allowed here; this path takes {', '.join(allowed)}.",
            headers={"Allow": ", ".join(allowed)},
        )
    else:
        problem = BadRequest(str(exc.detail))
        problem.status = exc.status_code  # type: ignore[misc]
    return problem_response(problem)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this request's path (RFC 9110 §15.5.6: the 405's
    ``Allow``). Starlette puts only the first matching route's methods there, and each
    method of a path is a route of its own."""
    return path_methods(request.app.router.routes, request.scope["path"])


def path_methods(routes: list[Any], path: str) -> list[str]:
    """The methods the routes serve on ``path``, plus ``OPTIONS`` (the edge answers it on
    every path that serves anything); empty if none does."""
    allowed = []
    for method in _METHODS:
        # A fresh scope per probe: matching may note things in the scope it is given.
        probe = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.append(method)
    if allowed:
        allowed.append("OPTIONS")
    return allowed


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


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


def check_query(request: Request, allowed: frozenset[str]) -> None:
    """Refuse query parameters the route does not declare (400)."""
    if request.scope.get("query_string"):
        unknown = sorted(set(request.query_params.keys()) - allowed)
        if unknown:
            raise BadRequest(
                f"Unknown query parameter(s): {', '.join(unknown)}.",
                errors=[FieldError(path=u, message="unknown parameter") for u in unknown],
            )


async def check_json_body(request: Request) -> None:
    """Refuse a body that is not JSON by its content type (415)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES and not (media == "" and not await request.body()):
        raise UnsupportedMediaType(
            "Send the body as application/json (or application/merge-patch+json for PATCH)."
        )


def doc_responses(*codes: int, quotas: tuple[str, ...] = ()) -> dict[int | str, dict[str, Any]]:
    """Route-specific statuses for the OpenAPI document; the app adds the common ones.

    ``quotas`` names the plan fields (``max_collections``, ...) the operation can reach;
    its 403 then says so, with the problem type of each.
    """
    descriptions = {
        304: "Not modified (If-None-Match matched).",
        409: "Conflict with the current state.",
        412: "If-Match did not match the current version.",
    }
    out: dict[int | str, dict[str, Any]] = {
        c: {"description": descriptions.get(c, "See the problem document.")} for c in codes
    }
    if quotas:
        names = " or ".join(f"`{q}`" for q in quotas)
        types = ", ".join(f"`…/quota-{q.replace('_', '-')}`" for q in quotas)
        out[403] = {
            "description": "The key's role is too small, its tenant is suspended, or this write would "
            f"exceed the plan's {names} (problem type {types}, with `quota`, `limit` and `plan`); "
            "nothing was written."
        }
    return out


def database(request: Request) -> Any:
    """The app's :class:`Database` (typed as Any to keep this module free of db imports)."""
    return services(request).db
