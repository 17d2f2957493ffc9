"""OpenTelemetry traces, exported over OTLP/HTTP when ``FUNDAMENT_OTLP_ENDPOINT`` is set.

The OpenTelemetry ASGI middleware makes one span per request (honouring a client's W3C
``traceparent``) and the asyncpg instrumentation one span per database call. Without an
endpoint nothing is installed: no tracer, no per-request cost.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_provider: TracerProvider | None = None


def enable_tracing(endpoint: str, *, service_version: str) -> TracerProvider:
    """Install the exporter and the asyncpg instrumentation once per process."""
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
        trace.set_tracer_provider(provider)
        AsyncPGInstrumentor().instrument(tracer_provider=provider)
        _provider = provider
    return _provider


def tracing_middleware(app: Any, provider: TracerProvider) -> Any:
    # Send/receive spans per ASGI message would triple the span count for nothing.
    return OpenTelemetryMiddleware(app, tracer_provider=provider, exclude_spans=["receive", "send"])


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def flush_traces() -> None:
    if _provider is not None:
        _provider.force_flush(timeout_millis=2000)


def disable_tracing() -> None:
    """Stop exporting and remove the asyncpg instrumentation (tests, reconfiguration)."""
    global _provider
    if _provider is not None:
        AsyncPGInstrumentor().uninstrument()
        _provider.shutdown()
        _provider = None
