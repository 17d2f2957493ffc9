"""One route mechanism: every route declared with FastAPI is served by a handler compiled
once from that declaration.

Routes are declared the FastAPI way (decorators, ``Annotated`` parameters with their
limits, ``Depends`` for the role and the list parameters, a pydantic body model), and that
declaration is the only one: it generates the OpenAPI document, and :class:`Routes`
compiles it at start into a plan of plain steps. Per request that is: match the path
against the routes of that method and length, refuse unknown query parameters, check the
content type and parse the body as I-JSON, resolve the dependencies (authentication and
role first, as FastAPI orders them), validate each parameter with a pydantic-core
validator built once, and call the endpoint.

Why not FastAPI's own request handling: its route matching and per-request dependency
solving cost about a third of server time on GET-by-id (ADR 0012), which is why hot routes
used to have hand-written twins whose parameter limits were copied literals. Compiling
the same declarations removes both the cost and the copies: a limit is written once, in
the route's signature, and enforced by this module for every route.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, cast

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from fundament.platform.errors import MethodNotAllowed, NotFound, Problem, problem_response
from fundament.platform.http import (
    BAD_CONSISTENCY,
    check_json_body,
    check_query,
    handle_unexpected,
    parse_json_body,
    validation_problem,
)
from fundament.platform.observe import current_exchange

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class _Param:
    """One path, query or header parameter: where to read it, and its validator."""

    name: str
    source: str
    key: str
    required: bool
    default: Any
    validate: Callable[[Any], Any] | None

    def read(self, request: Request, errors: list[dict[str, Any]]) -> Any:
        if self.source == "path":
            raw = request.path_params.get(self.key, _MISSING)
        elif self.source == "query":
            raw = request.query_params.get(self.key, _MISSING)
        else:
            raw = request.headers.get(self.key, _MISSING)
        if raw is _MISSING:
            if self.required:
                errors.append({"type": "missing", "loc": (self.source, self.key), "msg": "Field required"})
            return self.default
        if self.validate is None:
            return raw
        try:
            return self.validate(raw)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                errors.append({**error, "loc": (self.source, self.key, *error["loc"])})
            return None


@dataclass(frozen=True, slots=True)
class _Body:
    name: str
    required: bool
    default: Any
    validate: Callable[[Any], Any]

    def read(self, value: Any, errors: list[dict[str, Any]]) -> Any:
        if value is _MISSING:
            if self.required:
                errors.append({"type": "missing", "loc": ("body",), "msg": "Field required"})
            return self.default
        try:
            return self.validate(value)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                errors.append({**error, "loc": ("body", *error["loc"])})
            return None


@dataclass(slots=True)
class _Plan:
    """A dependant (the endpoint or one of its dependencies), compiled."""

    call: Callable[..., Any]
    is_async: bool
    request_name: str | None
    params: list[_Param] = field(default_factory=list)
    dependencies: list[tuple[str, _Plan]] = field(default_factory=list)
    body: _Body | None = None

    async def solve(self, request: Request, body: Any, errors: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The keyword arguments of :attr:`call`; None when a dependency had errors."""
        kwargs: dict[str, Any] = {}
        failed = False
        # Dependencies first and in declaration order, as FastAPI resolves them: the role
        # check (401/403/404) answers before a parameter's 400 says anything.
        for name, dependency in self.dependencies:
            sub = await dependency.solve(request, body, errors)
            if sub is None:
                failed = True
                continue
            if dependency.is_async:
                kwargs[name] = await dependency.call(**sub)
            else:
                # Dependencies are pure functions of their parameters (list_params): run
                # inline, not in a thread as FastAPI would.
                kwargs[name] = dependency.call(**sub)
        before = len(errors)
        for param in self.params:
            kwargs[param.name] = param.read(request, errors)
        if self.body is not None:
            kwargs[self.body.name] = self.body.read(body, errors)
        if self.request_name is not None:
            kwargs[self.request_name] = request
        return None if failed or len(errors) > before else kwargs


#: Path, query and header values arrive as strings: these annotations need no validator.
_PLAIN_STRINGS: tuple[Any, ...] = (str, str | None)


def _validator(field: Any) -> Callable[[Any], Any] | None:
    """A validator built once from the parameter's declaration (type and limits); None
    for a plain ``str`` without limits, which needs none."""
    info = field.field_info
    if info.annotation in _PLAIN_STRINGS and not info.metadata:
        return None
    return _adapter(info).validate_python


def _adapter(info: Any) -> TypeAdapter[Any]:
    with warnings.catch_warnings():
        # The declaration's alias and docs mean nothing to a lone validator; pydantic says so.
        warnings.simplefilter("ignore")
        return TypeAdapter(cast(Any, Annotated[info.annotation, info]))


def _param(field: Any, source: str) -> _Param:
    info = field.field_info
    key = field.alias
    if source == "header":
        if getattr(info, "convert_underscores", True) and key == field.name:
            key = key.replace("_", "-")
        key = key.lower()
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    return _Param(field.name, source, key, required, default, _validator(field))


def _compile(dependant: Dependant, where: str) -> _Plan:
    unsupported = [
        name
        for name in (
            "websocket_param_name",
            "http_connection_param_name",
            "response_param_name",
            "background_tasks_param_name",
            "security_scopes_param_name",
        )
        if getattr(dependant, name) is not None
    ]
    if unsupported or dependant.cookie_params:
        raise TypeError(f"{where}: the route mechanism does not serve {unsupported or 'cookies'}")
    call = dependant.call
    assert call is not None
    plan = _Plan(
        call=call,
        is_async=inspect.iscoroutinefunction(call),
        request_name=dependant.request_param_name,
    )
    plan.params = [_param(f, "path") for f in dependant.path_params]
    plan.params += [_param(f, "query") for f in dependant.query_params]
    plan.params += [_param(f, "header") for f in dependant.header_params]
    if dependant.body_params:
        if len(dependant.body_params) > 1 or getattr(dependant.body_params[0].field_info, "embed", False):
            raise TypeError(f"{where}: one body parameter, not embedded")
        body = dependant.body_params[0]
        info = body.field_info
        adapter = _adapter(info)
        required = info.is_required()
        plan.body = _Body(
            body.name,
            required,
            None if required else info.get_default(call_default_factory=True),
            adapter.validate_python,
        )
    for sub in dependant.dependencies:
        assert sub.name is not None, f"{where}: dependencies are parameters"
        plan.dependencies.append((sub.name, _compile(sub, where)))
    return plan


def _query_names(plan: _Plan) -> set[str]:
    names = {p.key for p in plan.params if p.source == "query"}
    for _, sub in plan.dependencies:
        names |= _query_names(sub)
    return names


def _has_body(plan: _Plan) -> bool:
    return plan.body is not None or any(_has_body(sub) for _, sub in plan.dependencies)


def compile_route(dependant: Dependant, path: str) -> Handler:
    """The handler of one declared route."""
    plan = _compile(dependant, path)
    if not plan.is_async:
        raise TypeError(f"{path}: endpoints are coroutines (a sync one would block the loop)")
    allowed = frozenset(_query_names(plan))
    has_body = _has_body(plan)
    endpoint = plan.call

    async def handler(request: Request) -> Response:
        check_query(request, allowed)
        body = _MISSING
        if has_body:
            await check_json_body(request)
            raw = await request.body()
            if raw:
                body = parse_json_body(raw)
        errors: list[dict[str, Any]] = []
        kwargs = await plan.solve(request, body, errors)
        if kwargs is None:
            raise validation_problem(errors)
        exchange = current_exchange.get()
        if exchange is not None and exchange.consistency_refused:
            raise BAD_CONSISTENCY
        response = await endpoint(**kwargs)
        if not isinstance(response, Response):
            raise TypeError(f"{path} returned {type(response).__name__}, not a Response")
        return response

    return handler


def _plain(route: Route) -> Handler:
    """A Starlette route's ``request -> response`` endpoint (the OpenAPI document)."""
    endpoint = route.endpoint
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    async def handler(request: Request) -> Response:
        response: Response = await run_in_threadpool(endpoint, request)
        return response

    return handler


@dataclass(frozen=True, slots=True)
class _Entry:
    template: str
    parts: tuple[str, ...]
    names: tuple[str | None, ...]
    methods: frozenset[str]
    handler: Handler
    route: Any

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for want, name, got in zip(self.parts, self.names, parts, strict=True):
            if name is not None:
                if not got:
                    return None
                params[name] = got
            elif want != got:
                return None
        return params


class Routes:
    """ASGI app serving every declared route through its compiled handler.

    Routes are bucketed by segment count and tried in declaration order, so the first
    declared match wins, exactly as Starlette's router decides. Mounts (the docs' static
    files) and non-HTTP scopes (the lifespan) go to ``framework``.
    """

    def __init__(self, routes: Iterable[Any], *, framework: ASGIApp) -> None:
        self.framework = framework
        self._by_length: dict[int, list[_Entry]] = {}
        self._mounts: list[str] = []
        # FastAPI includes routers lazily; each context is a route as included (prefix
        # applied), in the order the router would try them.
        for context in iter_route_contexts(list(routes)):
            route = context.original_route
            path = context.path
            assert path is not None, route
            if isinstance(route, Mount):
                self._mounts.append(path.rstrip("/") + "/")
                continue
            if isinstance(route, APIRoute):
                handler = compile_route(context.dependant, path)
            elif isinstance(route, Route):
                handler = _plain(route)
            else:
                raise TypeError(f"cannot serve route {route!r}")
            parts = tuple(path.split("/"))
            names = tuple(p[1:-1] if p.startswith("{") and p.endswith("}") else None for p in parts)
            entry = _Entry(path, parts, names, frozenset(context.methods or ()), handler, route)
            self._by_length.setdefault(len(parts), []).append(entry)

    def template(self, method: str, path: str) -> str | None:
        """The template of the route that serves ``method`` on ``path``, if one does."""
        parts = path.split("/")
        for entry in self._by_length.get(len(parts), ()):
            if method in entry.methods and entry.match(parts) is not None:
                return entry.template
        return None

    def methods(self, path: str) -> list[str]:
        """The methods served on ``path``, plus ``OPTIONS`` (the edge answers it on every
        path that serves anything); empty if none is."""
        parts = path.split("/")
        allowed: set[str] = set()
        for entry in self._by_length.get(len(parts), ()):
            if entry.match(parts) is not None:
                allowed |= entry.methods
        if not allowed:
            return []
        order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        return [m for m in order if m in allowed] + ["OPTIONS"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.framework(scope, receive, send)
            return
        path: str = scope["path"]
        parts = path.split("/")
        method = scope["method"]
        found = False
        for entry in self._by_length.get(len(parts), ()):
            params = entry.match(parts)
            if params is None:
                continue
            found = True
            if method in entry.methods:
                await self._serve(entry, params, scope, receive, send)
                return
        if not found and any(path.startswith(prefix) for prefix in self._mounts):
            await self.framework(scope, receive, send)
            return
        if found:
            allowed = self.methods(path)
            problem: Problem = MethodNotAllowed(
                f"{method} is not allowed here; this path takes {', '.join(allowed)}.",
                headers={"Allow": ", ".join(allowed)},
            )
        else:
            problem = NotFound("No such resource.")
        await problem_response(problem)(scope, receive, send)

    async def _serve(
        self, entry: _Entry, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        scope["path_params"] = params
        scope["route"] = entry.route
        exchange = current_exchange.get()
        if exchange is not None:
            exchange.route = entry.template
        request = Request(scope, receive)
        try:
            response = await entry.handler(request)
        except Problem as exc:
            response = problem_response(exc)
        except Exception as exc:
            response = await handle_unexpected(request, exc)
        await response(scope, receive, send)
