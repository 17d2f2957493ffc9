"""OpenTelemetry traces, exported over OTLP/HTTP when ``FUNDAMENT_OTLP_ENDPOINT`` is set.

One span per request (honouring a client's W3C ``traceparent``) and one child span per
database call, made with the OpenTelemetry SDK and exported in batches.

Why not OpenTelemetry's ASGI middleware and asyncpg instrumentation: with them GET-by-id
lost 71% of its throughput (docs/benchmarks.md), and sampling did not save it, because
they collect attributes, attach contexts and make a span object per request and per query
whether or not the sample is kept. Here the sampling decision comes first and is nearly free:
a request that is not sampled touches no OpenTelemetry code at all, and database calls
are wrapped only inside a sampled request. Sampling is parent-based: a caller's sampled
``traceparent`` is always traced (so a trace started upstream is complete), an unsampled
one never; of the rest, ``FUNDAMENT_TRACE_SAMPLE_RATIO``.
"""

from __future__ import annotations

import random
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_provider: TracerProvider | None = None
_tracing: ContextVar[bool] = ContextVar("fundament_tracing", default=False)
_propagator = TraceContextTextMapPropagator()


def enable_tracing(endpoint: str, *, service_version: str) -> TracerProvider:
    """Install the OTLP exporter once per process."""
    global _provider
    if _provider is None:
        provider = TracerProvider(
            resource=Resource.create({"service.name": "fundament", "service.version": service_version})
        )
        url = endpoint.rstrip("/")
        if not url.endswith("/v1/traces"):
            url += "/v1/traces"
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=url), schedule_delay_millis=500)
        )
        _provider = provider
    return _provider


class TracingMiddleware:
    """ASGI middleware in front of the edge: decides, then traces the request or not."""

    def __init__(self, app: Any, provider: TracerProvider, *, sample_ratio: float) -> None:
        self.app = app
        self.tracer = provider.get_tracer("fundament")
        self.ratio = sample_ratio

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                traceparent = value.decode("latin-1")
                break
        if traceparent is not None and len(traceparent) == 55:
            try:
                sampled = bool(int(traceparent[-2:], 16) & 1)  # W3C trace-flags: bit 0 = sampled
            except ValueError:
                traceparent, sampled = None, random.random() < self.ratio
        else:
            traceparent = None
            sampled = random.random() < self.ratio
        if not sampled:
            await self.app(scope, receive, send)
            return
        parent = _propagator.extract({"traceparent": traceparent}) if traceparent else None
        status = 0

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope["method"]
        with self.tracer.start_as_current_span(method, context=parent, kind=SpanKind.SERVER) as span:
            token = _tracing.set(True)
            try:
                await self.app(scope, receive, send_status)
            finally:
                _tracing.reset(token)
                route = scope.get("fundament.route")
                span.update_name(f"{method} {route}" if route else method)
                span.set_attribute("http.request.method", method)
                if route:
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


class _TracedConnection:
    """An asyncpg connection whose queries are child spans (statement text, never values)."""

    __slots__ = ("_conn", "_tracer")

    def __init__(self, conn: Any, tracer: Any) -> None:
        self._conn = conn
        self._tracer = tracer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def _traced(self, method: str, query: str, *args: Any, **kwargs: Any) -> Any:
        operation = query.lstrip().split(None, 1)[0].upper() if query.strip() else "SQL"
        with self._tracer.start_as_current_span(operation, kind=SpanKind.CLIENT) as span:
            span.set_attribute("db.system", "postgresql")
            span.set_attribute("db.statement", query)
            return await getattr(self._conn, method)(query, *args, **kwargs)

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._traced("execute", query, *args, **kwargs)

    async def executemany(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._traced("executemany", query, *args, **kwargs)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._traced("fetch", query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._traced("fetchrow", query, *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await self._traced("fetchval", query, *args, **kwargs)


def connection_wrapper(provider: TracerProvider) -> Any:
    """For :attr:`Database.wrap_connection`: trace queries of sampled requests only."""
    tracer = provider.get_tracer("fundament.db")

    def wrap(conn: Any) -> Any:
        return _TracedConnection(conn, tracer) if _tracing.get() else conn

    return wrap


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def flush_traces() -> None:
    if _provider is not None:
        _provider.force_flush(timeout_millis=2000)


def disable_tracing() -> None:
    """Stop exporting (tests, reconfiguration)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None
