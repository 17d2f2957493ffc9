"""Faults on real processes: SIGTERM and SIGKILL of the server during a create load, and a
PostgreSQL restart under load. The claims: no accepted request is lost, nothing is written
twice or half, and a database outage is a clean, retryable 503 that heals by itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from fundament.identity import create_operator_key
from fundament.migrations import migrate
from fundament.platform import EmbeddedPostgres
from servers import Server, bearer, server_env

pytestmark = pytest.mark.slow

PLANS = """\
[plans.free]
requests_per_minute = 10000000
burst = 1000000
max_records = 100000
max_stored_bytes = 104857600
max_collections = 1000000
max_api_keys = 1000000
max_users = 1000000
max_webhooks = 1000000
max_open_privacy_jobs = 1000000
max_indexes_per_collection = 8
monthly_price_eur = 0
"""
MAX_REQUESTS = 400  # every load loop is bounded in count ...
MAX_SECONDS = 20.0  # ... and in time
THREADS = 8
COLLECTION = "items"


# --- helpers (processes) ---------------------------------------------------------------------


def _refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _running(server: Server) -> Iterator[Server]:
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


def _plans(tmp_path: Path) -> Path:
    path = tmp_path / "plans.toml"
    path.write_text(PLANS)
    return path


@dataclass
class Tenant:
    id: str
    member: str
    admin: str

    @property
    def records(self) -> str:
        return f"/v1/tenants/{self.id}/collections/{COLLECTION}/records"


def _setup_tenant(base: str, operator_key: str) -> Tenant:
    op = bearer(operator_key)
    with httpx.Client(base_url=base, timeout=10) as c:
        slug = f"faults-{uuid.uuid4().hex[:12]}"
        r = c.post("/v1/tenants", json={"name": f"Faults {slug}", "slug": slug}, headers=op)
        assert r.status_code == 201, r.text
        tenant = r.json()["id"]
        keys = {}
        for role in ("member", "admin"):
            r = c.post(f"/v1/tenants/{tenant}/api-keys", json={"name": role, "role": role}, headers=op)
            assert r.status_code == 201, r.text
            keys[role] = r.json()["key"]
        r = c.post(
            f"/v1/tenants/{tenant}/collections",
            json={
                "name": COLLECTION,
                "schema": {
                    "type": "object",
                    "properties": {"n": {"type": "string"}, "pad": {"type": "string"}},
                    "required": ["n"],
                    "additionalProperties": False,
                },
                "indexes": ["n"],
            },
            headers=bearer(keys["admin"]),
        )
        assert r.status_code == 201, r.text
    return Tenant(tenant, keys["member"], keys["admin"])


def _all_records(base: str, tenant: Tenant) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(base_url=base, timeout=10) as c:
        for _ in range(100):
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            r = c.get(tenant.records, params=params, headers=bearer(tenant.admin))
            assert r.status_code == 200, r.text
            body = r.json()
            items.extend(body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                return items
    raise AssertionError("pagination did not end")


def _verify_audit(base: str, tenant: Tenant) -> dict[str, Any]:
    r = httpx.get(
        f"{base}/v1/tenants/{tenant.id}/audit-events/verify", headers=bearer(tenant.admin), timeout=30
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _body(n: str) -> bytes:
    """The exact bytes of a create (a retry with an Idempotency-Key must send the same)."""
    return json.dumps({"data": {"n": n, "pad": "x" * 64}}).encode()


# --- a bounded create load -------------------------------------------------------------------


@dataclass
class Outcome:
    n: str
    status: int | None = None  # HTTP status, or None if no answer
    record_id: str | None = None
    error: str | None = None  # transport error class name
    refused: bool = False  # connect error: refused before it started


@dataclass
class CreateLoad:
    """THREADS clients, each create with a unique `n` (and optionally an Idempotency-Key);
    at most MAX_REQUESTS requests and MAX_SECONDS in all. A client stops at its first
    connect error (the server is gone)."""

    base: str
    tenant: Tenant
    prefix: str
    keep_alive: bool = True
    idempotent: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _issued: int = 0
    _threads: list[threading.Thread] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._deadline = time.monotonic() + MAX_SECONDS
        for t in range(THREADS):
            thread = threading.Thread(target=self._run, args=(t,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(MAX_SECONDS + 15)
            assert not thread.is_alive(), "a load thread did not finish"

    @property
    def created(self) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.status == 201)

    def headers(self, n: str) -> dict[str, str]:
        h = {**bearer(self.tenant.member), "Content-Type": "application/json"}
        if self.idempotent:
            h["Idempotency-Key"] = f"idem-{n}"
        return h

    def _ticket(self) -> int | None:
        with self._lock:
            if self.stop.is_set() or self._issued >= MAX_REQUESTS or time.monotonic() > self._deadline:
                return None
            self._issued += 1
            return self._issued

    def _run(self, thread: int) -> None:
        limits = httpx.Limits(max_keepalive_connections=10 if self.keep_alive else 0)
        with httpx.Client(base_url=self.base, timeout=httpx.Timeout(15, connect=2), limits=limits) as c:
            while (ticket := self._ticket()) is not None:
                n = f"{self.prefix}-{thread}-{ticket}"
                outcome = Outcome(n)
                with self._lock:
                    self.outcomes.append(outcome)
                try:
                    r = c.post(self.tenant.records, content=_body(n), headers=self.headers(n))
                except httpx.ConnectError as exc:
                    outcome.error, outcome.refused = type(exc).__name__, True
                    return
                except httpx.TransportError as exc:
                    outcome.error = type(exc).__name__
                    continue
                outcome.status = r.status_code
                if r.status_code == 201:
                    outcome.record_id = r.json()["id"]


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# --- (c) SIGTERM: drain, lose nothing, exit 0 ------------------------------------------------


class SlowCreate:
    """A create whose body arrives in two parts: in flight for as long as we like."""

    def __init__(self, port: int, tenant: Tenant, n: str) -> None:
        self.n = n
        self.body = _body(n)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = (
            f"POST {tenant.records} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {tenant.member}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
        )
        self.sock.sendall(head.encode() + self.body[:10])

    def finish(self) -> tuple[int, dict[str, Any]]:
        self.sock.sendall(self.body[10:])
        data = b""
        while chunk := self.sock.recv(65536):
            data += chunk
        self.sock.close()
        head, _, payload = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, json.loads(payload) if payload else {}

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def test_sigterm_during_create_load_loses_no_accepted_request(
    admin_dsn: str, operator_key: str, tmp_path: Path
) -> None:
    # A short drain delay: the bounded load must still be running when the listener closes.
    env = {**server_env(admin_dsn, _plans(tmp_path)), "FUNDAMENT_SHUTDOWN_DELAY_SECONDS": "0.3"}
    server = Server("sigterm", env, tmp_path)
    slow: SlowCreate | None = None
    probes: list[str] = []
    try:
        server.wait_ready()
        tenant = _setup_tenant(server.base, operator_key)
        slow = SlowCreate(server.port, tenant, "slow-in-flight")
        probe = httpx.Client(base_url=server.base, timeout=5)  # a kept-alive connection
        assert probe.get("/readyz").status_code == 200
        load = CreateLoad(server.base, tenant, "term", keep_alive=False)
        load.start()
        _wait_for(lambda: load.created >= 100 or not any(t.is_alive() for t in load._threads), 10, "load")
        assert load.created >= 50, "the load did not get going before SIGTERM"

        server.proc.send_signal(signal.SIGTERM)
        # Right after the signal /readyz must not say "ready" any more: 503 while the
        # server still answers, connection refused once it stopped listening.
        time.sleep(0.005)
        for client in [probe] + [None] * 10:
            try:
                # first on the kept-alive connection, then on new ones
                r = client.get("/readyz") if client else httpx.get(server.base + "/readyz", timeout=2)
            except httpx.TransportError as exc:
                probes.append(type(exc).__name__)
            else:
                probes.append(str(r.status_code))
                assert r.status_code == 503, f"/readyz answered {r.status_code} after SIGTERM"
                assert "Retry-After" in r.headers
            time.sleep(0.01)
        probe.close()

        # it stops listening, but finishes what is in flight
        _wait_for(lambda: _refuses(server.port), 5, "the listener to close after SIGTERM")
        assert server.proc.poll() is None, "the server exited with a request in flight"
        status, created = slow.finish()
        assert status == 201, created
        load.join()
        rc = server.proc.wait(30)
        assert rc == 0, f"exit status {rc} after SIGTERM:\n{server.log_tail()}"
    finally:
        if slow is not None:
            slow.close()
        server.kill()

    outcomes = load.outcomes
    answered = {o.n: o.record_id for o in outcomes if o.status == 201}
    answered[slow.n] = created["id"]
    bad = [(o.n, o.status) for o in outcomes if o.status not in (None, 201)]
    assert not bad, f"requests answered with an error during shutdown: {bad[:10]}"
    refused = [o for o in outcomes if o.refused]
    dropped = [o for o in outcomes if o.status is None and not o.refused]
    assert refused, "SIGTERM came after the load ended: nothing tested"

    # restart on the same database: exactly the answered records are there
    server = Server("sigterm-restart", env, tmp_path)
    with _running(server):
        stored = _all_records(server.base, tenant)
        audit = _verify_audit(server.base, tenant)
    stored_ns = [r["data"]["n"] for r in stored]
    assert len(stored_ns) == len(set(stored_ns)), "a record was written twice"
    assert {r["data"]["n"]: r["id"] for r in stored} == answered, (
        f"stored and answered differ: missing {sorted(set(answered) - set(stored_ns))[:10]}, "
        f"unanswered but stored {sorted(set(stored_ns) - set(answered))[:10]}"
    )
    assert audit["valid"] is True, audit
    # During the drain delay the server still answered, and said it is not ready.
    assert "503" in probes, probes
    # The contract: every request answered 2xx, or refused before it started. A request on
    # a connection the closing listener reset (queued, never accepted, or accepted but not
    # yet read) gets a transport error instead of "connection refused"; the equality of
    # stored and answered records above proves none of them was started.
    assert all(o.n not in stored_ns for o in dropped)


# --- (d) SIGKILL: every answered create is there exactly once, nothing half-written ----------


def test_sigkill_during_create_load_keeps_every_answered_create_exactly_once(
    admin_dsn: str, operator_key: str, tmp_path: Path
) -> None:
    env = server_env(admin_dsn, _plans(tmp_path))
    server = Server("sigkill", env, tmp_path)
    with _running(server):
        tenant = _setup_tenant(server.base, operator_key)
        baseline = _verify_audit(server.base, tenant)
        assert baseline["valid"] is True, baseline
        load = CreateLoad(server.base, tenant, "kill", keep_alive=True, idempotent=True)
        load.start()
        _wait_for(lambda: load.created >= 100 or not any(t.is_alive() for t in load._threads), 10, "load")
        assert load.created >= 50, "the load did not get going before SIGKILL"
        server.proc.send_signal(signal.SIGKILL)
        load.join()
        assert server.proc.wait(10) == -signal.SIGKILL

    outcomes = load.outcomes
    answered = {o.n: o.record_id for o in outcomes if o.status == 201}
    bad = [(o.n, o.status) for o in outcomes if o.status not in (None, 201)]
    assert not bad, f"requests answered with an error before the crash: {bad[:10]}"
    unanswered = [o.n for o in outcomes if o.status is None]
    assert unanswered, "SIGKILL came after the load ended: nothing tested"
    sent = {o.n for o in outcomes}

    server = Server("sigkill-restart", env, tmp_path)
    with _running(server), httpx.Client(base_url=server.base, timeout=10) as c:
        # every create answered 201 is there, exactly once, as answered
        for n, record_id in answered.items():
            r = c.get(tenant.records, params={"filter": f'n eq "{n}"'}, headers=bearer(tenant.admin))
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            assert [i["id"] for i in items] == [record_id], (n, items)
            assert items[0]["data"] == json.loads(_body(n))["data"]
        stored = _all_records(server.base, tenant)
        stored_ns = [r["data"]["n"] for r in stored]
        assert len(stored_ns) == len(set(stored_ns)), "a record was written twice"
        assert set(answered) <= set(stored_ns) <= sent
        # nothing half-written: one audit event per stored record, chain intact
        audit = _verify_audit(server.base, tenant)
        assert audit["valid"] is True, audit
        assert audit["count"] == baseline["count"] + len(stored), (baseline, audit, len(stored))

        # Clients retry what got no answer, with the same Idempotency-Key: each ends up
        # stored once; a retry of an answered create replays the first answer.
        retried = unanswered + list(answered)[:20]
        for n in retried:
            r = c.post(tenant.records, content=_body(n), headers=load.headers(n))
            assert r.status_code == 201, (n, r.status_code, r.text)
            if n in answered:
                assert r.json()["id"] == answered[n], "a retry of an answered create wrote again"
        final = _all_records(server.base, tenant)
        final_ns = [r["data"]["n"] for r in final]
        assert len(final_ns) == len(set(final_ns)), "a retried create was written twice"
        assert set(final_ns) == set(answered) | set(unanswered)
        audit = _verify_audit(server.base, tenant)
        assert audit["valid"] is True, audit
        assert audit["count"] == baseline["count"] + len(final), (baseline, audit, len(final))


# --- (e) PostgreSQL restart under load -------------------------------------------------------


async def _new_operator_key(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        _, key = await create_operator_key(conn, name="faults")
    finally:
        await conn.close()
    return key


def _assert_clean_503(r: httpx.Response) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    assert int(r.headers["Retry-After"]) >= 1
    body = r.json()
    assert body["status"] == 503 and body["type"] and body["title"] and body["detail"], body
    text = r.text.lower()
    assert "asyncpg" not in text and "traceback" not in text and "select " not in text, r.text


@dataclass
class OutageLoad:
    """One client alternating creates and lists, paced, bounded in count and time."""

    base: str
    tenant: Tenant
    answers: list[tuple[str, httpx.Response]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        h = bearer(self.tenant.member)
        with httpx.Client(base_url=self.base, timeout=httpx.Timeout(10, connect=2)) as c:
            for i in range(MAX_REQUESTS):
                if self.stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    if i % 2 == 0:
                        r = c.post(self.tenant.records, json={"data": {"n": f"outage-{i}"}}, headers=h)
                        self.answers.append(("create", r))
                    else:
                        r = c.get(self.tenant.records, params={"limit": 5}, headers=h)
                        self.answers.append(("list", r))
                except httpx.TransportError as exc:
                    self.errors.append(type(exc).__name__)
                self.stop.wait(0.05)


def test_postgres_restart_under_load_is_a_clean_503_and_heals(tmp_path: Path) -> None:
    # A PostgreSQL of this test's own: the session's database is never restarted.
    with EmbeddedPostgres(tmp_path / "pg") as pg:
        migrate(pg.dsn)
        operator_key = asyncio.run(_new_operator_key(pg.dsn))
        env = server_env(pg.dsn, _plans(tmp_path))
        server = Server("pg-restart", env, tmp_path)
        load_thread: threading.Thread | None = None
        load: OutageLoad | None = None
        try:
            server.wait_ready()
            tenant = _setup_tenant(server.base, operator_key)
            h = bearer(tenant.member)
            c = httpx.Client(base_url=server.base, timeout=httpx.Timeout(10, connect=2))
            assert c.post(tenant.records, json={"data": {"n": "before"}}, headers=h).status_code == 201
            load = OutageLoad(server.base, tenant)
            load_thread = threading.Thread(target=load.run, daemon=True)
            load_thread.start()
            time.sleep(0.3)

            port = pg.port
            pg.stop()  # fast shutdown: every connection of the server is cut
            assert _refuses(port)
            down_since = time.monotonic()

            # while it is down: /readyz is 503, requests get a clean 503 problem
            r = httpx.get(server.base + "/readyz", timeout=5)
            assert r.status_code == 503, r.text
            assert r.json()["checks"]["database"] == "unreachable", r.text
            for i in range(3):
                _assert_clean_503(c.post(tenant.records, json={"data": {"n": f"down-{i}"}}, headers=h))
                _assert_clean_503(c.get(tenant.records, headers=h))
            time.sleep(max(0.0, 2.0 - (time.monotonic() - down_since)))
            assert httpx.get(server.base + "/readyz", timeout=5).status_code == 503

            # back on the same port: the server heals without a restart
            pg.start(port=port)
            back = time.monotonic()
            while True:
                r = c.post(tenant.records, json={"data": {"n": "after"}}, headers=h)
                if r.status_code == 201:
                    break
                _assert_clean_503(r)
                assert time.monotonic() - back < 30, "the server did not recover within 30 s"
                time.sleep(0.2)
            assert c.get(tenant.records, headers=h).status_code == 200
            _wait_for(
                lambda: httpx.get(server.base + "/readyz", timeout=5).status_code == 200,
                30,
                "/readyz 200 again",
            )
            assert server.proc.poll() is None
            c.close()
        finally:
            if load is not None:
                load.stop.set()
            if load_thread is not None:
                load_thread.join(MAX_SECONDS + 15)
            server.kill()

    assert load is not None
    assert not load.errors, f"connections dropped instead of answered: {load.errors}"
    statuses = [(kind, r.status_code) for kind, r in load.answers]
    unexpected = [
        (kind, r.status_code, r.headers.get("X-Request-Id"), r.text[:200])
        for kind, r in load.answers
        if r.status_code not in (200, 201, 503)
    ]
    logged = [line[-500:] for line in server.log_tail().splitlines() if '"level":"error"' in line]
    assert not unexpected, (
        f"requests during the outage got neither 2xx nor 503: {unexpected[:10]}; server errors: {logged[:3]}"
    )
    for _, r in load.answers:
        if r.status_code == 503:
            _assert_clean_503(r)
    assert any(s == 503 for _, s in statuses), "the load saw no outage"
    assert any(s in (200, 201) for _, s in statuses), "the load saw no success"
