"""Noisy neighbours (issue #15): whatever tenant A throws at the server, tenant B is served
as before. One real `fundament serve` process (one worker, the job worker inside it), on
127.0.0.1, with A on a plan of modest rate (600 requests a minute, 20 a second) and B on a
roomy one. For each attack:

- **B's load** is steady, not saturating: ``B_WORKERS`` clients in this process, each
  pausing ``B_PAUSE`` after every answer, GET-by-id of B's records with every fifth request
  a list filtered on an indexed field, for ``PHASE_SECONDS``. Latency is the client's
  (request sent to body read), every status is kept.
- **A's attack** runs in a process of its own (tests/ops/noisy_attacker.py), so the
  attacking client's CPU is not spent in the event loop that times B (the machine has two
  cores for the server, PostgreSQL and the clients). It starts a little before B's timed
  window and ends a little after it; it is bounded in count and time and sends ``A_RATE``
  requests a second whatever the answers (an open loop, on up to ``A_MAX_IN_FLIGHT``
  connections): ten times A's sustained rate limit, five times its burst.
- **Asserted**: every B request of every phase is a 200; B's p99 with A attacking is at most
  ``BOUND`` × its p99 with A idle; A got the refusals its attack should get (422, 429, 403,
  401, ...) and never a 5xx or a dropped connection.

Each attack uses a fresh tenant A on the noisy plan, so each starts with a full rate budget
and its own quotas: an attack is not blunted by the budget an earlier one spent.

Against measurement noise, stated here because they decide what the bound means:
- the baseline is measured fresh, right before each attack, with A's client process already
  started and idle (so its start-up is not in either window);
- a baseline p99 below ``FLOOR_MS`` counts as ``FLOOR_MS``: on loopback a 2 ms p99 doubles
  from a single scheduler hiccup, which says nothing about tenant isolation;
- if the bound fails, the phase (baseline and attack, with a fresh tenant A) is measured
  again, up to ``MEASUREMENTS`` times, and the last measurement decides (one scheduler
  stall of a shared two-core machine is not an isolation failure; an attack that works
  fails every time); a failed B request is never retried away, in any measurement.
The ratios are printed per attack (``-rA`` or ``-s`` shows them).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import math
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from fundament import tenancy
from fundament.platform import new_id
from servers import Server, bearer, server_env

pytestmark = pytest.mark.slow

# B's load and the bound.
B_WORKERS = 8
B_PAUSE = 0.025
PHASE_SECONDS = 4.0
B_MAX_PER_WORKER = 1_000  # bounded in count as well as in time
B_RECORDS = 1_000
BOUND = 1.5
MEASUREMENTS = 3
FLOOR_MS = 5.0

# A's attack: 100 requests/s offered whatever the answers, against a limit of 10/s
# sustained (600 a minute) and 20 in any one second.
A_RATE = 100.0
A_MAX_IN_FLIGHT = 16
A_RAMP_SECONDS = 0.3  # the attack runs this long before B's timed window starts ...
A_SECONDS = PHASE_SECONDS + 1.0  # ... and ends after it
A_MAX_REQUESTS = 2_000
A_RPM = 600
A_BURST = 20

ATTACKER = Path(__file__).with_name("noisy_attacker.py")
BODY_LIMIT = 1_048_576  # FUNDAMENT_MAX_BODY_BYTES' default, which the server runs with
EVIL = "^(a+)+$"  # catastrophic on a backtracking engine
FILTER_TERMS, FILTER_DEPTH, FILTER_LENGTH = 50, 16, 2_000  # records/_query.py parse_filter


def _plans_toml() -> str:
    """From the built-in plans, so every key the loader requires is present whatever fields
    plans gain; only what this test is about is set here."""
    noisy = dataclasses.replace(
        tenancy.BUILTIN["free"], name="noisy", requests_per_minute=A_RPM, burst=A_BURST
    )
    roomy = dataclasses.replace(
        tenancy.BUILTIN["enterprise"],
        name="free",
        requests_per_minute=10**8,
        burst=10**7,
        max_records=10**9,
        max_stored_bytes=10**13,
    )
    lines: list[str] = []
    for plan in (roomy, noisy):
        lines.append(f"[plans.{plan.name}]")
        lines += [f"{k} = {v}" for k, v in plan.to_json().items() if k != "name"]
        lines.append("")
    return "\n".join(lines)


# --- the server and tenant B -----------------------------------------------------------------


@dataclass
class Stage:
    server: Server
    operator_key: str
    admin_dsn: str
    b_tenant: str
    b_key: str
    b_ids: list[str]

    @property
    def op(self) -> dict[str, str]:
        return bearer(self.operator_key)


@pytest.fixture(scope="module")
def server(admin_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("noisy")
    plans = workdir / "plans.toml"
    plans.write_text(_plans_toml())
    tenancy.load_plans(plans)  # a plans file the server would refuse fails here, plainly
    env = server_env(admin_dsn, plans)
    env["FUNDAMENT_WORKER"] = "true"  # exports are answered by the job worker in the server
    srv = Server("noisy", env, workdir)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


async def _tenant(c: httpx.AsyncClient, op: dict[str, str], plan: str) -> tuple[str, str]:
    """A new tenant on ``plan`` and an admin key of it."""
    slug = f"noisy-{uuid.uuid4().hex[:12]}"
    r = await c.post("/v1/tenants", json={"name": slug, "slug": slug, "plan": plan}, headers=op)
    assert r.status_code == 201, r.text
    tenant = r.json()["id"]
    r = await c.post(f"/v1/tenants/{tenant}/api-keys", json={"name": "admin", "role": "admin"}, headers=op)
    assert r.status_code == 201, r.text
    return tenant, r.json()["key"]


async def _collection(c: httpx.AsyncClient, op: dict[str, str], tenant: str, body: dict[str, Any]) -> None:
    r = await c.post(f"/v1/tenants/{tenant}/collections", json=body, headers=op)
    assert r.status_code == 201, r.text


async def _seed(
    c: httpx.AsyncClient, op: dict[str, str], tenant: str, collection: str, rows: list[dict[str, Any]]
) -> list[str]:
    """Create ``rows`` through the API (the real write path), eight at a time."""
    url = f"/v1/tenants/{tenant}/collections/{collection}/records"
    ids: list[str] = [""] * len(rows)
    queue = iter(enumerate(rows))

    async def one() -> None:
        for i, data in queue:
            r = await c.post(url, json={"data": data}, headers=op)
            assert r.status_code == 201, r.text
            ids[i] = r.json()["id"]

    await asyncio.gather(*(one() for _ in range(8)))
    return ids


async def _bulk(
    c: httpx.AsyncClient,
    stage_dsn: str,
    op: dict[str, str],
    tenant: str,
    collection: str,
    rows: list[dict[str, Any]],
    indexes: list[str],
) -> list[str]:
    """Load ``rows`` into a collection created without indexes, by COPY (seconds faster
    than thousands of POSTs through one server process), then declare ``indexes`` through
    the API: the server fills the records' index slots itself, as for any index change.
    No audit events for these rows: where those matter (exports), use :func:`_seed`."""
    now = datetime.now(UTC)
    ids = [new_id("rec") for _ in rows]
    conn = await asyncpg.connect(stage_dsn)
    try:
        await conn.copy_records_to_table(
            "records",
            records=[
                (tenant, collection, i, json.dumps(d), 1, now, now) for i, d in zip(ids, rows, strict=True)
            ],
            columns=["tenant_id", "collection", "id", "data", "version", "created_at", "updated_at"],
        )
        await conn.execute("ANALYZE records")
    finally:
        await conn.close()
    r = await c.patch(f"/v1/tenants/{tenant}/collections/{collection}", json={"indexes": indexes}, headers=op)
    assert r.status_code == 200, r.text
    return ids


@pytest.fixture(scope="module")
async def stage(server: Server, operator_key: str, admin_dsn: str) -> Stage:
    op = bearer(operator_key)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as c:
        tenant, key = await _tenant(c, op, "free")
        await _collection(
            c,
            op,
            tenant,
            {
                "name": "contacts",
                "schema": {
                    "type": "object",
                    "properties": {"email": {"type": "string"}, "score": {"type": "integer"}},
                    "required": ["email"],
                },
            },
        )
        rows = [{"email": f"b{i}@example.com", "score": i % 100} for i in range(B_RECORDS)]
        ids = await _bulk(c, admin_dsn, op, tenant, "contacts", rows, ["email", "score"])
    s = Stage(server, operator_key, admin_dsn, tenant, key, ids)
    await _b_load(s, 1.5)  # warm-up: connections, caches, plans; not measured
    return s


# --- B's load --------------------------------------------------------------------------------


@dataclass
class Sample:
    latencies_ms: list[float]
    failures: list[str]
    seconds: float
    #: CPU the server process used in the window, A's work included (a diagnosis, not asserted).
    server_cpu_s: float | None

    @property
    def n(self) -> int:
        return len(self.latencies_ms)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    @property
    def p99(self) -> float:
        return self.quantile(0.99)

    def summary(self) -> str:
        return (
            f"n={self.n} p50={self.quantile(0.5):.2f} p99={self.p99:.2f} max={max(self.latencies_ms):.2f} ms"
            f" failed={len(self.failures)}"
            + ("" if self.server_cpu_s is None else f" server CPU {self.server_cpu_s / self.seconds:.0%}")
        )


def _cpu_seconds(pid: int) -> float | None:
    """User and system CPU of process ``pid`` so far (Linux); None where /proc is not."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _b_load(stage: Stage, seconds: float) -> Sample:
    """B's paced load for ``seconds``: GET-by-id, and every fifth request an indexed list."""
    base = f"/v1/tenants/{stage.b_tenant}/collections/contacts/records"
    latencies: list[float] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=stage.server.base, headers=bearer(stage.b_key), timeout=10, limits=limits
                )
            )
            for _ in range(B_WORKERS)
        ]
        # Open every connection before the clock starts.
        await asyncio.gather(*(c.get(f"{base}/{stage.b_ids[0]}") for c in clients))
        cpu_before = _cpu_seconds(stage.server.proc.pid)
        started = time.monotonic()
        deadline = started + seconds

        async def worker(client: httpx.AsyncClient, seed: int) -> None:
            rng = random.Random(seed)
            for n in range(B_MAX_PER_WORKER):
                if time.monotonic() >= deadline:
                    return
                if n % 5 == 4:
                    url, params = base, {"filter": f"score eq {rng.randrange(100)}", "limit": "10"}
                else:
                    url, params = f"{base}/{rng.choice(stage.b_ids)}", {}
                started = time.perf_counter()
                try:
                    r = await client.get(url, params=params)
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__} on {url}")
                else:
                    latencies.append((time.perf_counter() - started) * 1000)
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} on {url}: {r.text[:300]}")
                await asyncio.sleep(B_PAUSE)

        await asyncio.gather(*(worker(c, i) for i, c in enumerate(clients)))
        cpu_after = _cpu_seconds(stage.server.proc.pid)
        elapsed = time.monotonic() - started
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Sample(latencies, failures, elapsed, cpu)


# --- A's attacks -----------------------------------------------------------------------------


@dataclass
class Attack:
    """What A sends (templates for noisy_attacker.py) and what A must be answered."""

    requests: list[dict[str, Any]]
    #: Every answer A gets has one of these statuses.
    allowed: set[int]
    #: For each set, at least one answer with a status in it.
    required: list[set[int]]
    #: Waits until the server has finished what the attack left it (queued jobs).
    settle: Callable[[], Awaitable[None]] | None = None
    #: Requests a second A offers, if not ``A_RATE``.
    rate: float | None = None


def _req(
    method: str, path: str, key: str, body: Any = None, content_type: str = "application/json"
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    if body is not None:
        headers["Content-Type"] = content_type
    return {
        "method": method,
        "path": path,
        "headers": headers,
        "body": None if body is None else json.dumps(body),
    }


async def _redos(c: httpx.AsyncClient, stage: Stage, tenant: str, key: str) -> Attack:
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": EVIL}}}
    await _collection(c, stage.op, tenant, {"name": "redos", "schema": schema})
    records = f"/v1/tenants/{tenant}/collections/redos/records"
    flood = _req("POST", records, key, {"data": {"name": "a" * 40 + "!"}})
    backreference = _req(
        "POST",
        f"/v1/tenants/{tenant}/collections",
        key,
        {"name": "backref%N%", "schema": {"type": "string", "pattern": "(a+)\\1+$"}},
    )
    return Attack([flood] * 4 + [backreference], {422, 429}, [{422}, {429}])


def _blob(size: int) -> str:
    """``size`` characters that do not compress (TOAST would shrink a run of one letter)."""
    return base64.b64encode(random.Random(15).randbytes(size))[:size].decode()


async def _big_records(c: httpx.AsyncClient, stage: Stage, tenant: str, key: str) -> Attack:
    schema = {"type": "object", "properties": {"pad": {"type": "string"}}, "additionalProperties": False}
    await _collection(c, stage.op, tenant, {"name": "blobs", "schema": schema})
    empty = len(json.dumps({"data": {"pad": ""}}))
    body = {"data": {"pad": _blob(BODY_LIMIT - 256 - empty)}}
    request = _req("POST", f"/v1/tenants/{tenant}/collections/blobs/records", key, body)
    assert BODY_LIMIT - 512 < len(request["body"]) < BODY_LIMIT
    # Past its plan's burst (so it is refused too), but not 100 MB/s: bytes a rate limit
    # refuses still cross the network, and raw volume is the load balancer's to stop
    # (docs/security.md, out of scope), not a tenant's allowed use of the API.
    return Attack([request], {201, 403, 429}, [{201}, {403, 429}], rate=2.0 * A_BURST)


async def _index_cap(c: httpx.AsyncClient, stage: Stage, tenant: str, key: str) -> Attack:
    cap = tenancy.MAX_INDEXES_PER_COLLECTION
    fields = [f"f{i}" for i in range(cap + 4)]
    await _collection(c, stage.op, tenant, {"name": "wide", "schema": {"type": "object"}})
    rows = [{f: f"{f}-{i}-{i * 7919 % 1000}" for f in fields} for i in range(1_000)]
    await _bulk(c, stage.admin_dsn, stage.op, tenant, "wide", rows, fields[:cap])
    collections = f"/v1/tenants/{tenant}/collections"
    at_cap = _req(
        "POST",
        collections,
        key,
        {"name": "idx%N%", "schema": {"type": "object"}, "indexes": [f"c%N%_{i}" for i in range(cap)]},
    )
    over_cap = _req(
        "POST",
        collections,
        key,
        {"name": "over%N%", "schema": {"type": "object"}, "indexes": [f"o{i}" for i in range(cap + 1)]},
    )
    # Alternating declarations: each PATCH refills the slots of the collection's 1,000 records.
    patches = [
        _req(
            "PATCH",
            f"{collections}/wide",
            key,
            {"indexes": chosen},
            content_type="application/merge-patch+json",
        )
        for chosen in (fields[-cap:], fields[:cap])
    ]
    # Declarations only: creates at the cap, one over it, and patches that move the
    # declaration between the slots (each refills the slots of the collection's 1,000
    # records). A's record writes at its plan's rate are another load (they raised B's p99
    # about 1.8x on two cores through the event loop's share; issue #16's per-request CPU).
    requests = [at_cap, patches[0], over_cap, at_cap, patches[1]]
    return Attack(requests, {200, 201, 403, 422, 429}, [{200}, {201}, {422}, {429}])


def _max_filter(terms: int = FILTER_TERMS, depth: int = FILTER_DEPTH, length: int = FILTER_LENGTH) -> str:
    """``terms`` comparisons that no record meets, nested ``depth`` levels deep (the top
    level counts as one), string values padded so the whole is ``length`` characters: every
    row of the collection is read and every comparison evaluated."""

    def comparison(i: int, pad: int) -> str:
        if i % 3 == 2:
            return f"g{i % 10} gt {10**9 + i}"
        op = "co" if i % 3 == 0 else "ew"
        return f'f{i % 10} {op} "zq{i}{"~" * pad}"'

    per_level = [terms // depth] * depth
    per_level[-1] += terms - sum(per_level)

    def build(pads: list[int]) -> str:
        text, k = "", 0
        for level, count in enumerate(per_level):
            parts = [comparison(k + j, pads[k + j]) for j in range(count)]
            k += count
            text += " or ".join(parts)
            if level < depth - 1:
                text += " or ("
        return text + ")" * (depth - 1)

    pads = [0] * terms
    spare = length - len(build(pads))
    strings = [i for i in range(terms) if i % 3 != 2]
    for n, i in enumerate(strings):
        pads[i] = spare // len(strings) + (1 if n < spare % len(strings) else 0)
    text = build(pads)
    assert len(text) == length, len(text)
    return text


async def _filter_max(c: httpx.AsyncClient, stage: Stage, tenant: str, key: str) -> Attack:
    props: dict[str, Any] = {f"f{j}": {"type": "string"} for j in range(10)}
    props |= {f"g{j}": {"type": "integer"} for j in range(10)}
    await _collection(
        c, stage.op, tenant, {"name": "scan", "schema": {"type": "object", "properties": props}}
    )
    rows = [
        {**{f"f{j}": f"value-{i}-{j}" for j in range(10)}, **{f"g{j}": i * (j + 1) % 1000 for j in range(10)}}
        for i in range(3_000)
    ]
    await _bulk(c, stage.admin_dsn, stage.op, tenant, "scan", rows, ["f0"])
    url = f"/v1/tenants/{tenant}/collections/scan/records"
    widest = _max_filter()
    # The filter is at every limit at once: one more comparison, level or character is refused.
    r = await c.get(url, params={"filter": widest, "limit": 200}, headers=stage.op)
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    for over in (
        _max_filter(terms=FILTER_TERMS + 1),
        _max_filter(depth=FILTER_DEPTH + 1),
        _max_filter(length=FILTER_LENGTH + 1),
    ):
        r = await c.get(url, params={"filter": over}, headers=stage.op)
        assert r.status_code in (400, 422), (r.status_code, r.text)
    query = httpx.QueryParams({"filter": widest, "sort": "-f3", "limit": "200"})
    return Attack([_req("GET", f"{url}?{query}", key)], {200, 429}, [{200}, {429}])


async def _export_flood(c: httpx.AsyncClient, stage: Stage, tenant: str, key: str) -> Attack:
    schema = {
        "type": "object",
        "properties": {"email": {"type": "string"}, "note": {"type": "string"}},
        "required": ["email"],
    }
    await _collection(
        c,
        stage.op,
        tenant,
        {"name": "people", "schema": schema, "subject_field": "email", "personal_fields": ["email"]},
    )
    subjects = [f"subject{k}@example.com" for k in range(50)]
    rows = [{"email": subjects[i % 50], "note": f"note {i}"} for i in range(500)]
    await _seed(c, stage.op, tenant, "people", rows)
    exports = f"/v1/tenants/{tenant}/privacy/exports"
    requests = [_req("POST", exports, key, {"subject": s}) for s in subjects]

    async def settle() -> None:
        # The queued exports run in the server's job worker: let them finish before the
        # next baseline, which they would otherwise slow down.
        conn = await asyncpg.connect(stage.admin_dsn)
        try:
            deadline = time.monotonic() + 60
            while await conn.fetchval(
                "SELECT count(*) FROM privacy_requests WHERE tenant_id = $1 AND status = 'pending'", tenant
            ):
                assert time.monotonic() < deadline, "A's exports still pending after 60 s"
                await asyncio.sleep(0.2)
        finally:
            await conn.close()

    return Attack(requests, {202, 403, 429}, [{202}, {403, 429}], settle)


async def _failed_auth(c: httpx.AsyncClient, stage: Stage, tenant: str, key: str) -> Attack:
    head = key[: len("fdk_") + 26 + 1]  # fdk_<A's tenant>_
    shown = key[: len(head) + 8]  # ... and the first 8 characters of the secret, as listed
    targets = [f"/v1/tenants/{tenant}/collections", f"/v1/tenants/{tenant}/api-keys"]
    tokens = [
        f"{head}%RAND%",  # A's tenant, a wrong secret
        f"{shown}%RAND%",  # A's real key's visible prefix, a wrong rest
        "fdk_%ULID%_%RAND%",  # a tenant that does not exist
        "fdo_%RAND%",  # an operator key that does not exist
    ]
    requests = [_req("GET", path, token) for token in tokens for path in targets]
    return Attack(requests, {401, 429}, [{401, 429}])


ATTACKS: dict[str, Callable[[httpx.AsyncClient, Stage, str, str], Awaitable[Attack]]] = {
    "redos": _redos,
    "big-records": _big_records,
    "index-cap": _index_cap,
    "filter-max": _filter_max,
    "export-flood": _export_flood,
    "failed-auth": _failed_auth,
}


# --- one phase: baseline, then B under attack ------------------------------------------------


@dataclass
class Phase:
    baseline: Sample
    attacked: Sample
    a: dict[str, Any]

    @property
    def ratio(self) -> float:
        return self.attacked.p99 / max(self.baseline.p99, FLOOR_MS)

    def line(self) -> str:
        return (
            f"B p99 {self.baseline.p99:.2f} ms idle, {self.attacked.p99:.2f} ms attacked:"
            f" {self.ratio:.2f}x (baseline {self.baseline.summary()}; attacked {self.attacked.summary()});"
            f" A sent {self.a['sent']} in {self.a['seconds']} s (p99 {self.a['p99_ms']} ms,"
            f" {self.a['skipped']} not sent: none free of {A_MAX_IN_FLIGHT}): {self.a['statuses']}"
            + (f" errors {self.a['errors']}" if self.a["errors"] else "")
        )


@contextlib.asynccontextmanager
async def _attacker(
    config: dict[str, Any],
) -> AsyncIterator[Callable[[], Coroutine[Any, Any, dict[str, Any]]]]:
    """A's client process, connected and waiting; yields ``run()``: go, and its result."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ATTACKER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=1 << 20,
        # tests/ on the path, as pytest's pythonpath gives this process: for tests/rawhttp.py.
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ATTACKER.parent.parent)},
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr

    async def failed(what: str) -> AssertionError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return AssertionError(f"attacker {what}: {(await stderr.read()).decode(errors='replace')[-3000:]}")

    async def run() -> dict[str, Any]:
        stdin.write(b"go\n")
        await stdin.drain()
        line = await asyncio.wait_for(stdout.readline(), A_SECONDS + 60)
        if not line:
            raise await failed("gave no result")
        result: dict[str, Any] = json.loads(line)
        return result

    try:
        stdin.write(json.dumps(config).encode() + b"\n")
        await stdin.drain()
        if await asyncio.wait_for(stdout.readline(), 30) != b"ready\n":
            raise await failed("did not get ready")
        yield run
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _phase(stage: Stage, attack: Attack, measurement: int) -> Phase:
    config = {
        "base": stage.server.base,
        "requests": attack.requests,
        "rate": attack.rate or A_RATE,
        "max_in_flight": A_MAX_IN_FLIGHT,
        "seconds": A_SECONDS,
        "max_requests": A_MAX_REQUESTS,
        "first": measurement * A_MAX_REQUESTS,  # names made with %N% stay new
    }
    async with _attacker(config) as run:
        baseline = await _b_load(stage, PHASE_SECONDS)
        a_result = asyncio.create_task(run())
        await asyncio.sleep(A_RAMP_SECONDS)
        attacked = await _b_load(stage, PHASE_SECONDS)
        a = await a_result
    if attack.settle is not None:
        await attack.settle()
    await asyncio.sleep(0.5)  # what is still in flight of A's finishes before the next baseline
    return Phase(baseline, attacked, a)


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_tenant_b_is_served_as_before_while_tenant_a_attacks(stage: Stage, name: str) -> None:
    phases: list[Phase] = []
    for measurement in range(MEASUREMENTS):
        # A fresh tenant A each time: a repeat must not meet an A whose budget the last
        # measurement spent (it would pass without being attacked).
        async with httpx.AsyncClient(base_url=stage.server.base, timeout=30) as c:
            tenant, key = await _tenant(c, stage.op, "noisy")
            attack = await ATTACKS[name](c, stage, tenant, key)
        phases.append(await _phase(stage, attack, measurement))
        if phases[-1].ratio <= BOUND:
            break
    for i, phase in enumerate(phases):
        print(f"noisy-neighbour {name} (measurement {i + 1}): {phase.line()}")
    report = "\n".join(p.line() for p in phases)

    a_statuses: Counter[int] = Counter()
    a_errors: Counter[str] = Counter()
    for p in phases:
        a_statuses.update({int(k): v for k, v in p.a["statuses"].items()})
        a_errors.update(p.a["errors"])
    server_errors = [s for p in phases for s in p.a["samples"]]
    assert not server_errors and not any(s >= 500 for s in a_statuses), (
        f"A got 5xx answers (a bug): {server_errors}\n{report}\nserver log:\n{stage.server.log_tail(6000)}"
    )

    b_failures = [f for p in phases for f in (*p.baseline.failures, *p.attacked.failures)]
    assert not b_failures, f"B requests failed: {b_failures[:10]}\n{report}"
    assert phases[-1].ratio <= BOUND, (
        f"B's p99 rose more than {BOUND}x while A attacked ({name}), in every measurement:\n{report}"
    )

    assert not a_errors, f"A's connections failed: {dict(a_errors)}\n{report}"
    assert set(a_statuses) <= attack.allowed, f"A got unexpected statuses {dict(a_statuses)}\n{report}"
    for wanted in attack.required:
        assert wanted & set(a_statuses), f"A got none of {sorted(wanted)}: {dict(a_statuses)}\n{report}"
