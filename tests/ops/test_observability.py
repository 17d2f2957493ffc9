"""Metrics, JSON logs, traces and request deadlines, in-process on real PostgreSQL."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from conftest import TenantFixture, bearer, make_tenant, serving, table_locked
from fundament import ops
from fundament.platform import Settings


async def test_metrics_parse_and_carry_bounded_labels(
    http: httpx.AsyncClient, tenant: TenantFixture, operator_key: str
) -> None:
    await tenant.collection()
    rec = await tenant.record({"email": "m@example.com"})
    await http.get(f"{tenant.base}/collections/contacts/records/{rec['id']}", headers=tenant.h("viewer"))
    await http.get("/v1/tenants/tnt_nope/collections", headers=tenant.h("viewer"))
    r = await http.get("/metrics", headers=bearer(operator_key))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    for name in (
        "fundament_http_requests",
        "fundament_http_request_duration_seconds",
        "fundament_db_transaction_duration_seconds",
        "fundament_db_pool_connections",
        "fundament_jobs_queue_depth",
        "fundament_rate_limited",
    ):
        assert name in families, sorted(families)
    routes = set()
    for sample in families["fundament_http_requests"].samples:
        assert set(sample.labels) == {"method", "route", "status_class"}
        routes.add(sample.labels["route"])
        assert sample.labels["status_class"] in {"1xx", "2xx", "3xx", "4xx", "5xx", "none"}
    assert "/v1/tenants/{tenant}/collections/{name}/records/{record_id}" in routes
    # No tenant, record or key ever becomes a label value.
    assert tenant.id not in r.text and rec["id"] not in r.text and "tnt_nope" not in r.text


async def test_metrics_need_an_operator_key_or_the_metrics_token(
    admin_dsn: str, settings: Settings, operator_key: str
) -> None:
    token = "prometheus-" + "s3cr3t" * 4
    async with serving(admin_dsn, settings, metrics_token=SecretStr(token)) as client:
        t = await make_tenant(client, operator_key)
        for headers in ({}, bearer("prometheus-wrong-token"), {"Authorization": f"Basic {token}"}):
            r = await client.get("/metrics", headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "fundament_http_requests" not in r.text
        r = await client.get("/metrics", headers=t.h("owner"))
        assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
        for key in (token, operator_key):
            r = await client.get("/metrics", headers=bearer(key))
            assert r.status_code == 200 and "fundament_http_requests" in r.text
    # without a metrics token, only operator keys
    async with serving(admin_dsn, settings) as client:
        assert (await client.get("/metrics", headers=bearer(token))).status_code == 401
        assert (await client.get("/metrics", headers=bearer(operator_key))).status_code == 200


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


async def test_one_json_line_per_request_without_secrets_or_personal_values(
    admin_dsn: str, settings: Settings, operator_key: str, access_records: list[logging.LogRecord]
) -> None:
    async with serving(admin_dsn, settings, access_log=True) as client:
        t = await make_tenant(client, operator_key)
        await t.collection()
        secret_email = "very.personal@example.com"
        await t.record({"email": secret_email})
        await client.get(
            f"{t.base}/collections/contacts/records",
            params={"filter": f'email eq "{secret_email}"'},
            headers={
                **t.h("viewer"),
                "X-Request-Id": "req-log-test",
                "traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01",
            },
        )
        await client.get("/v1/tenants", headers=bearer("fdo_wrong_but_secret_looking_key"))
        # Unhandled-error path logs too; it must not leak either.
    formatter = ops.JSONFormatter()
    # Our own lines only: the test client (httpx) logs its URLs, filter included.
    access_records = [r for r in access_records if r.name.startswith("fundament")]
    lines = [formatter.format(r) for r in access_records]
    access = [
        json.loads(line)
        for line, r in zip(lines, access_records, strict=True)
        if r.name == "fundament.access"
    ]
    assert len(access) == 9  # one line per request, no more
    listed = [a for a in access if a.get("request_id") == "req-log-test"]
    assert len(listed) == 1
    entry = listed[0]
    assert entry["route"] == "/v1/tenants/{tenant}/collections/{name}/records"
    assert entry["tenant"] == t.id and entry["status"] == 200 and entry["duration_ms"] > 0
    assert entry["trace_id"] == "ab" * 16  # the caller's trace continues in our logs
    assert all(len(a["trace_id"]) == 32 for a in access)  # every line has one
    text = "\n".join(lines)
    for secret in (
        *t.keys.values(),
        operator_key,
        "fdo_wrong_but_secret_looking_key",
        secret_email,
        "very.personal",
    ):
        assert secret not in text


class _Collector(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def test_traces_reach_an_otlp_receiver_and_honour_traceparent(
    admin_dsn: str, settings: Settings, operator_key: str
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    try:
        async with serving(admin_dsn, settings, otlp_endpoint=endpoint) as client:
            r = await client.get(
                "/v1/tenants",
                headers={**bearer(operator_key), "traceparent": f"00-{trace_id}-b7ad6b7169203331-01"},
            )
            assert r.status_code == 200
        ops.flush_traces()
        deadline = time.monotonic() + 10
        spans = []
        while time.monotonic() < deadline:
            spans = []
            for body in _Collector.bodies:
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        spans.extend(ss.spans)
            if any(s.trace_id.hex() == trace_id for s in spans):
                break
            await asyncio.sleep(0.2)
        ours = [s for s in spans if s.trace_id.hex() == trace_id]
        assert ours, f"no span of trace {trace_id} among {len(spans)}"
        names = {s.name for s in ours}
        assert any(n.startswith("GET") for n in names), names
        # The database calls are spans of the same trace.
        assert any(s.kind == s.SPAN_KIND_CLIENT for s in ours), names
    finally:
        ops.disable_tracing()
        server.shutdown()


async def test_request_deadline_is_a_clean_503(admin_dsn: str, settings: Settings, operator_key: str) -> None:
    async with serving(admin_dsn, settings, request_timeout_seconds=0.3) as client:
        assert (await client.get("/v1/tenants", headers=bearer(operator_key))).status_code == 200
        # Hold the tenants table: the next listing waits on the lock past its deadline.
        async with table_locked(admin_dsn, "tenants"):
            started = time.monotonic()
            r = await client.get("/v1/tenants", headers=bearer(operator_key))
            elapsed = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/timeout") and "Retry-After" in r.headers
        assert 0.3 <= elapsed < 2.0
        # The app (and its pool) is fine afterwards.
        assert (await client.get("/v1/tenants", headers=bearer(operator_key))).status_code == 200


async def test_readyz_is_503_while_shutting_down(app: object, http: httpx.AsyncClient) -> None:
    assert (await http.get("/readyz")).status_code == 200
    app.services.shutting_down = True  # type: ignore[attr-defined]
    try:
        r = await http.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["shutdown"] == "in progress"
    finally:
        app.services.shutting_down = False  # type: ignore[attr-defined]


async def test_readyz_serves_under_a_newer_schema_but_not_an_older_one(app: object, http: httpx.AsyncClient) -> None:
    """A rolling upgrade migrates first: the old release's pods stay ready under a schema
    they do not know (a newer release's); a schema behind the release is not ready."""
    state = app.services  # type: ignore[attr-defined]
    saved = state.expected_migration, state.known_migrations
    at = (await http.get("/readyz")).json()["checks"]["migrations"]
    assert at == "current"
    try:
        # This release as if it were older: the database's revision is unknown to it.
        state.expected_migration, state.known_migrations = "0001_core", frozenset({"0001_core"})
        r = await http.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["migrations"].startswith("ahead"), r.text
        # This release as if it were newer: the database is at a revision it knows, behind.
        state.expected_migration = "9999_next"
        state.known_migrations = saved[1] | {"9999_next"}
        r = await http.get("/readyz")
        assert r.status_code == 503 and "expected 9999_next" in r.json()["checks"]["migrations"], r.text
    finally:
        state.expected_migration, state.known_migrations = saved
