"""Schemathesis with every check against a real server process, for every operation.

The server is a real `fundament serve` on 127.0.0.1 (tests/servers.py). Before the run we
create what the path parameters name (a tenant, keys, a user, collections, records,
privacy requests), so generated requests get past 404 into the routes' own validation.
The deliberate deviations are in tests/schemathesis.toml, each with its reason; nothing
is silenced wholesale.

Every phase runs (examples, coverage, fuzzing, stateful), with every check. The seed is
fixed in the config (so CI is reproducible); FUNDAMENT_FUZZ_SEED picks another, and
FUNDAMENT_FUZZ_EXAMPLES (default 30 per operation) sets the size: about a minute on two
cores at the default. Run it alone with the command from ``schemathesis_command`` against
any server, given the ``FUZZ_*`` variables ``fuzz_fixtures`` returns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers import Server, bearer, server_env

HERE = Path(__file__).parent
CONFIG = HERE / "schemathesis.toml"
PLANS = HERE / "data" / "plans-roomy.toml"


def _ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def fuzz_fixtures(base: str, operator_key: str) -> dict[str, str]:
    """What the path parameters name, as the environment variables the config file reads.

    A tenant with an admin and an owner key, a user, collections (records live in
    ``contacts``; ``fuzz_patch`` is the one whose definition gets patched), a record, an
    export and an erasure request. Deletes get no fixed ids (see the config file).
    """
    op = bearer(operator_key)
    with httpx.Client(base_url=base, timeout=10) as c:
        slug = f"fuzz-{uuid.uuid4().hex[:12]}"
        tid = _ok(c.post("/v1/tenants", json={"name": slug, "slug": slug}, headers=op))["id"]
        t = f"/v1/tenants/{tid}"
        keys = {
            role: _ok(c.post(f"{t}/api-keys", json={"name": role, "role": role}, headers=op))["key"]
            for role in ("admin", "owner")
        }
        adm = bearer(keys["admin"])
        user = _ok(c.post(f"{t}/users", json={"email": "grace@example.com", "role": "viewer"}, headers=adm))
        # Any `data` passes this schema, so a record write that fails is the server's doing,
        # not that of a tenant's schema, which the OpenAPI document cannot know.
        for name in ("contacts", "fuzz_patch"):
            definition = {
                "name": name,
                "schema": {"type": "object"},
                "personal_fields": ["email"],
                "subject_field": "email",
            }
            _ok(c.post(f"{t}/collections", json=definition, headers=adm))
        data = {"email": "ada@example.com", "score": 1}
        record = _ok(c.post(f"{t}/collections/contacts/records", json={"data": data}, headers=adm))
        export = _ok(c.post(f"{t}/privacy/exports", json={"subject": "ada@example.com"}, headers=adm), 202)
        erasure = _ok(c.post(f"{t}/privacy/erasures", json={"subject": "nobody@example.com"}, headers=adm), 202)
        # The server never sends it (FUNDAMENT_WEBHOOK_DELIVERY is off); the record above
        # came before it, so one more gives it a delivery to replay.
        hook = {"url": "http://127.0.0.1:9/fuzz", "events": ["record.created"]}
        webhook = _ok(c.post(f"{t}/webhooks", json=hook, headers=adm))
        _ok(c.post(f"{t}/collections/contacts/records", json={"data": data}, headers=adm))
        delivery = _first_delivery(c, f"{t}/webhooks/{webhook['id']}/deliveries", adm)
    return {
        "FUZZ_OPERATOR_KEY": operator_key,
        "FUZZ_ADMIN_KEY": keys["admin"],
        "FUZZ_OWNER_KEY": keys["owner"],
        "FUZZ_TENANT": tid,
        "FUZZ_USER": user["id"],
        "FUZZ_RECORD": record["id"],
        "FUZZ_EXPORT": export["id"],
        "FUZZ_ERASURE": erasure["id"],
        "FUZZ_WEBHOOK": webhook["id"],
        "FUZZ_DELIVERY": delivery,
    }


def _first_delivery(c: httpx.Client, path: str, headers: dict[str, str]) -> str:
    """The id of the endpoint's first delivery, once the event is numbered (after commit)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = _ok(c.get(path, headers=headers), 200)["items"]
        if items:
            return str(items[0]["id"])
        time.sleep(0.05)
    raise AssertionError("no delivery was scheduled")


#: Inserted at the config's marker for the stateful run, ahead of the fixed ids (the first
#: block that sets an operation's `parameters` or `headers` wins). The stateful phase also
#: reuses ids it saw in earlier responses, so it could delete the fixtures that fixed ids
#: point at and then report the fixed id's 404 as a created resource gone missing. Here only
#: the tenant is fixed; every other id comes from a create. It reads and patches the
#: tenants it created as the operator: to the tenant's admin they are someone else's (404).
STATEFUL_BLOCKS = """
[[operations]]
include-path-regex = "^/v1/tenants/\\\\{tenant\\\\}/"
parameters = { "path.tenant" = "${FUZZ_TENANT}" }

[[operations]]
include-operation-id = ["tenants_get", "tenants_update"]
parameters = { "path.tenant" = "${FUZZ_TENANT}" }
headers = { Authorization = "Bearer ${FUZZ_OPERATOR_KEY}" }
"""
MARKER = "#: stateful-blocks\n"


def stateful_config(directory: Path) -> Path:
    """The config with :data:`STATEFUL_BLOCKS` in it, written to ``directory``."""
    text = CONFIG.read_text()
    assert text.count(MARKER) == 1
    path = directory / "schemathesis-stateful.toml"
    path.write_text(text.replace(MARKER, MARKER + STATEFUL_BLOCKS))
    return path


def schemathesis_command(base: str, *, config: Path = CONFIG, phases: str) -> list[str]:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    return [
        exe,
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{base}/v1/openapi.json",
        "--checks",
        "all",
        "--phases",
        phases,
        "--max-examples",
        os.environ.get("FUNDAMENT_FUZZ_EXAMPLES", "30"),
        *(["--seed", os.environ["FUNDAMENT_FUZZ_SEED"]] if os.environ.get("FUNDAMENT_FUZZ_SEED") else []),
    ]


def fuzz_server_env(admin_dsn: str) -> dict[str, str]:
    env = server_env(admin_dsn, PLANS)
    env["FUNDAMENT_WORKER"] = "true"  # exports finish, so their download is fuzzed too
    # Endpoints may name any address that resolves (127.0.0.1 for the fixture), and no
    # delivery is ever sent: the fuzzer's URLs are not called.
    env["FUNDAMENT_WEBHOOK_ALLOW_PRIVATE"] = "true"
    env["FUNDAMENT_WEBHOOK_DELIVERY"] = "false"
    # Event streams stay open until the client leaves: here they end at once, well inside
    # the fuzzer's request timeout.
    env["FUNDAMENT_EVENT_STREAM_MAX_SECONDS"] = "0.1"
    # The ignored_auth check sends every operation once without a key and once with a wrong
    # one, all from 127.0.0.1: with the production limits the failed-authentication throttle
    # would answer 429 after 30 of them, which the check reads as auth not enforced. The
    # throttle has tests of its own (tests/identity).
    env["FUNDAMENT_AUTH_ADDRESS_FAILURES_PER_MINUTE"] = "100000"
    env["FUNDAMENT_AUTH_KEY_ID_FAILURES_PER_MINUTE"] = "100000"
    env["FUNDAMENT_AUTH_FAILURE_COOLDOWN_SECONDS"] = "0"
    return env


@pytest.mark.slow
def test_schemathesis_all_checks_every_operation(admin_dsn: str, operator_key: str, tmp_path: Path) -> None:
    env = fuzz_server_env(admin_dsn)
    server = Server("schemathesis", env, tmp_path)
    try:
        server.wait_ready()
        run_env = {**os.environ, **fuzz_fixtures(server.base, operator_key)}
        runs = [
            schemathesis_command(server.base, phases="examples,coverage,fuzzing"),
            # Examples first: the stateful phase links operations by the Location headers that
            # earlier phases of the same run saw.
            schemathesis_command(server.base, config=stateful_config(tmp_path), phases="examples,stateful"),
        ]
        for command in runs:
            started = time.monotonic()
            out = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=run_env)
            took = time.monotonic() - started
            report = out.stdout[-12000:] + out.stderr[-3000:]
            assert out.returncode == 0, f"schemathesis failed after {took:.0f} s:\n{report}\n{server.log_tail(4000)}"
            # The stateful phase learns its links from the examples' Location headers.
            assert "No links for stateful testing" not in out.stdout, report
        # A 500 schemathesis saw fails the run; this catches one only the server noticed.
        assert "unhandled error" not in server.log_tail(10**7), server.log_tail(4000)
    finally:
        server.stop()
