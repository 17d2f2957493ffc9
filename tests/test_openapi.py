"""The generated OpenAPI document: describes exactly the contract's paths, and schemathesis
fuzzes a real server through it (no 5xx, responses conform to the document)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CONTRACT_PATHS = {
    "/v1/tenants": {"get", "post"},
    "/v1/tenants/{tenant}": {"get", "patch", "delete"},
    "/v1/tenants/{tenant}/api-keys": {"get", "post"},
    "/v1/tenants/{tenant}/api-keys/{key_id}": {"delete"},
    "/v1/tenants/{tenant}/users": {"get", "post"},
    "/v1/tenants/{tenant}/users/{user_id}": {"get", "patch", "delete"},
    "/v1/tenants/{tenant}/collections": {"get", "post"},
    "/v1/tenants/{tenant}/collections/{name}": {"get", "patch", "delete"},
    "/v1/tenants/{tenant}/collections/{name}/records": {"get", "post"},
    "/v1/tenants/{tenant}/collections/{name}/records/{record_id}": {"get", "put", "patch", "delete"},
    "/v1/tenants/{tenant}/audit-events": {"get"},
    "/v1/tenants/{tenant}/audit-events/verify": {"get"},
    "/v1/tenants/{tenant}/privacy/exports": {"post"},
    "/v1/tenants/{tenant}/privacy/exports/{request_id}": {"get"},
    "/v1/tenants/{tenant}/privacy/exports/{request_id}/download": {"get"},
    "/v1/tenants/{tenant}/privacy/erasures": {"post"},
    "/v1/tenants/{tenant}/privacy/erasures/{request_id}": {"get"},
    "/v1/tenants/{tenant}/privacy/processing-record": {"get"},
    "/v1/tenants/{tenant}/usage": {"get"},
    "/v1/finops/report": {"get"},
    "/v1/finops/capacity": {"get"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
}


async def test_openapi_document_matches_contract(http):
    r = await http.get("/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    paths = {p: set(ops) for p, ops in doc["paths"].items()}
    assert paths == CONTRACT_PATHS
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, resp in op["responses"].items():
                if int(code) >= 400:
                    assert "application/problem+json" in resp["content"], (path, method, code)
    assert (await http.get("/docs")).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(admin_dsn: str, tmp_path: Path):
    port = _free_port()
    env = {**os.environ, "FUNDAMENT_DATABASE_URL": admin_dsn, "FUNDAMENT_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fundament.cli", "serve", "--port", str(port)], env=env, cwd=tmp_path
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
        time.sleep(0.2)
    yield base
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors(live_server: str, operator_key: str, tmp_path: Path):
    """Fuzz every operation as the operator, against a tenant with a real collection."""
    h = {"Authorization": f"Bearer {operator_key}"}
    t = httpx.post(
        f"{live_server}/v1/tenants", json={"name": "Fuzz", "slug": f"fuzz-{os.getpid()}"}, headers=h
    ).json()
    schema = {"type": "object", "properties": {"email": {"type": "string"}, "score": {"type": "integer"}}}
    r = httpx.post(
        f"{live_server}/v1/tenants/{t['id']}/collections",
        json={"name": "contacts", "schema": schema, "indexes": ["score"]},
        headers=h,
    )
    assert r.status_code == 201
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'[parameters]\n"path.tenant" = "{t["id"]}"\n"path.name" = "contacts"\n'
        "[generation]\nallow-x00 = false\n"
    )
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    cmd = [
        exe,
        "--config-file",
        str(config),
        "run",
        f"{live_server}/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {operator_key}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,response_headers_conformance",
        "--max-examples",
        os.environ.get("FUNDAMENT_FUZZ_EXAMPLES", "40"),
        "--phases",
        "examples,coverage,fuzzing",
        # Offboarding the fuzzed tenant would turn every later operation into a 404; the
        # API tests cover it. One worker: concurrency is tested where it is asserted.
        "--exclude-operation-id",
        "delete_tenant_v1_tenants__tenant__delete",
        "--workers",
        "1",
        "--seed",
        "1",
        "--no-color",
        "--request-timeout",
        "10",
        "--max-time",
        os.environ.get("FUNDAMENT_FUZZ_SECONDS", "120"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-8000:] + out.stderr[-2000:]
