"""The viral spike: simulated users 100 → 1,000 → 5,000 → 10,000, beside the floor, in one run.

    python -m bench.spike [--users 100 1000 5000 10000] [--think 10] [--step-seconds 30]
                          [--records 20000] [--profile-step 4] [--keepalive S] [--fleet N]

Each user is one keep-alive connection: a GET-by-id, then T seconds of thought (--think),
again and again. A step adds users (they stay for the next steps); each new user sends its
first request at a uniformly random moment of its first T seconds, so users do not
synchronise. Each step lasts --step-seconds. Time to first byte starts when the user decides
to ask, so a connection set up (first request, or again after the server closed an idle one)
is part of the latency; a GET on a connection the server closed as it was reused is sent
once more on a new one, as browsers do for idempotent requests. Both count as reconnects.

Per step it reports req/s, p50/p99 time to first byte, errors by kind, reconnects, the
server's CPU (utime+stime of its process from /proc/<pid>/stat, in % of one core), the
embedded PostgreSQL's CPU, the client's own CPU, the whole machine's CPU and load.

The ramp runs first against `fundament serve` (serve's defaults, raised plans:
tests/data/plans-roomy.toml), then against the floor (bench/floor.py, same SQL), then
(--fleet N) against deploy/local/fleet. Only 127.0.0.1. Finally the measured ramp is
replayed through the capacity planner (fundament.metering.plan, the code behind
`fundament plan`): instances, the HPA's bounds and what each step costs.

Writes bench/results/spike.json (--output) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from bench.run import RESULTS, ROOT, bench_database, free_port, process, seed

from fundament import metering
from fundament.app import app_dsn
from fundament.platform import Settings

DEFAULT_USERS = (100, 1_000, 5_000, 10_000)
TARGET_P99_MS = 200.0
# AWS prices a month of on-demand compute as 730 hours; the cost model's prices are monthly.
HOURS_PER_MONTH = 730
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the client -------------------------------------------------------------------------


class Failure(Exception):
    """A request that got no usable answer; ``kind`` names why (for the error table)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class UserConnection:
    """One user's keep-alive connection. Hand-written on asyncio streams rather than httpx:
    10,000 connections and 1,000 req/s from one client process sharing two cores with the
    server (httpx costs about 4 ms of CPU per request here, see tests/rawhttp.py). Bodies
    with a Content-Length or chunked; nothing else is needed."""

    __slots__ = ("host", "port", "reader", "writer")

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        try:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise Failure(f"connect: {exc.strerror or type(exc).__name__}") from exc

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self, raw: bytes, t0: float) -> tuple[int, float, int, bool]:
        """Status, time to first byte (s, from ``t0``), reconnects of one request, and
        whether it set up a connection (its first, or again)."""
        reconnects = 0
        fresh = self.reader is None
        if self.reader is not None and self.reader.at_eof():
            # The server closed the idle connection while the user was thinking.
            self.close()
            reconnects, fresh = 1, True
        if fresh:
            await self._connect()
        try:
            status, ttfb = await self._exchange(raw, t0)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            self.close()
            if fresh or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise Failure(f"reset: {type(exc).__name__}") from exc
            # Closed by the server as we reused it: send the GET again on a new connection.
            reconnects, fresh = reconnects + 1, True
            await self._connect()
            try:
                status, ttfb = await self._exchange(raw, t0)
            except (ConnectionError, asyncio.IncompleteReadError) as exc2:
                self.close()
                raise Failure(f"reset: {type(exc2).__name__}") from exc2
        return status, ttfb, reconnects, fresh

    async def _exchange(self, raw: bytes, t0: float) -> tuple[int, float]:
        reader, writer = self.reader, self.writer
        assert reader is not None and writer is not None
        writer.write(raw)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        ttfb = time.perf_counter() - t0
        lines = head[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        if chunked:  # the floor's answers (a bare ASGI app sends no length)
            while size := int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        elif length is not None:
            await reader.readexactly(length)
        else:
            self.close()
            raise Failure("answer without a length")
        if close:
            self.close()
        return status, ttfb


@dataclass
class StepStats:
    users: int
    ttfb_ms: list[float] = field(default_factory=list)
    # The requests that set up their connection: their share of the tail is the price of
    # connection setup (accept queue, TLS-less handshake, the server's new-connection work).
    ttfb_new_ms: list[float] = field(default_factory=list)
    ttfb_kept_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    answered: int = 0


@dataclass
class Ramp:
    """What the users share: the step now running, the stop flag, the counters."""

    steps: list[StepStats]
    current: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0


async def user(ramp: Ramp, host: str, port: int, raws: Sequence[bytes], think: float, limit: float) -> None:
    conn = UserConnection(host, port)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(random.uniform(0, think)):
                await ramp.stop.wait()
        while not ramp.stop.is_set():
            stats = ramp.steps[ramp.current]
            t0 = time.perf_counter()
            ramp.in_flight += 1
            try:
                async with asyncio.timeout(limit):
                    status, ttfb, reconnects, opened = await conn.get(random.choice(raws), t0)
            except TimeoutError:
                conn.close()
                stats.errors[f"timeout ({limit:g} s)"] += 1
            except Failure as exc:
                stats.errors[exc.kind] += 1
            else:
                stats.reconnects += reconnects
                stats.ttfb_ms.append(ttfb * 1000)
                (stats.ttfb_new_ms if opened else stats.ttfb_kept_ms).append(ttfb * 1000)
                if status == 200:
                    stats.answered += 1
                else:
                    stats.errors[f"HTTP {status}"] += 1
            finally:
                ramp.in_flight -= 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(think):
                    await ramp.stop.wait()
    finally:
        conn.close()


# --- what the machine did ------------------------------------------------------------


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of these processes (gone ones count 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return total / CLK_TCK


def rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def postgres_pids(data_dir: Path | None) -> list[int]:
    """The embedded PostgreSQL's postmaster and its children (none for an external server)."""
    if data_dir is None:
        return []
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return []
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rpartition(")")[2].split()[1]) == postmaster:
                pids.append(int(stat.parent.name))
    return pids


def open_files_limit(pid: int) -> str:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


def raise_fd_limit(needed: int) -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (children inherit it: the servers need one
    descriptor per user as much as the client does)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"{needed} users need {needed} open files; the hard limit is {hard} (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return int(hard)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


# --- one ramp against one target ------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    raws: list[bytes]
    server_pids: list[int]
    pg_dir: Path | None  # the embedded PostgreSQL's, whose processes' CPU is measured
    profile_pid: int | None = None
    proxy_pids: list[int] = field(default_factory=list)


async def run_ramp(target: Target, args: argparse.Namespace) -> list[dict[str, Any]]:
    ramp = Ramp(steps=[StepStats(n) for n in args.users])
    tasks: list[asyncio.Task[None]] = []
    rows = []
    for i, n in enumerate(args.users):
        ramp.current = i
        spy = None
        if args.profile_step == i + 1 and target.profile_pid is not None:
            spy = start_profile(target, i, args)
        started = time.perf_counter()
        # Looked up per step: backends are forked as pools connect.
        pg_pids = postgres_pids(target.pg_dir)
        cpu0 = cpu_seconds(target.server_pids), cpu_seconds(pg_pids), time.process_time()
        proxy0 = cpu_seconds(target.proxy_pids)
        busy0 = machine_busy()
        for _ in range(n - len(tasks)):
            tasks.append(
                asyncio.create_task(
                    user(ramp, "127.0.0.1", target.port, target.raws, args.think, args.timeout)
                )
            )
        await asyncio.sleep(args.step_seconds)
        elapsed = time.perf_counter() - started
        cpu1 = cpu_seconds(target.server_pids), cpu_seconds(pg_pids), time.process_time()
        proxy1 = cpu_seconds(target.proxy_pids)
        busy1 = machine_busy()
        rows.append(
            {
                "users": n,
                "seconds": elapsed,
                "offered_rps": n / args.think,
                "server_cpu_pct": 100 * (cpu1[0] - cpu0[0]) / elapsed,
                "pg_cpu_pct": 100 * (cpu1[1] - cpu0[1]) / elapsed if pg_pids else None,
                "client_cpu_pct": 100 * (cpu1[2] - cpu0[2]) / elapsed,
                "proxy_cpu_pct": 100 * (proxy1 - proxy0) / elapsed if target.proxy_pids else None,
                "machine_cpu_pct": 100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
                "server_rss_mib": rss_mib(target.server_pids[0]) if target.server_pids else None,
                "load_1min": os.getloadavg()[0],
            }
        )
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(spy.wait, 30)
            rows[-1]["profile"] = str(profile_path(target, i).relative_to(ROOT))
        stats = ramp.steps[i]
        print(
            f"  {target.name} {n} users: {stats.answered} answered so far, "
            f"{sum(stats.errors.values())} errors, server CPU {rows[-1]['server_cpu_pct']:.0f}%",
            flush=True,
        )
    ramp.stop.set()
    # Requests in flight finish (each is bounded by --timeout); thinking users wake at once.
    # Only then are a step's figures final: its slowest requests may end in the next step.
    await asyncio.wait(tasks, timeout=args.timeout + 5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for row, stats in zip(rows, ramp.steps, strict=True):
        requests = stats.answered + sum(stats.errors.values())
        row.update(
            {
                "requests": requests,
                "rps": requests / row["seconds"],  # requests started in the step, per second
                "p50_ms": percentile(stats.ttfb_ms, 50),
                "p99_ms": percentile(stats.ttfb_ms, 99),
                "max_ms": max(stats.ttfb_ms, default=math.nan),
                "errors": sum(stats.errors.values()),
                "error_kinds": dict(stats.errors),
                "reconnects": stats.reconnects,
                "new_connection_requests": len(stats.ttfb_new_ms),
                "p99_new_connection_ms": percentile(stats.ttfb_new_ms, 99),
                "p99_kept_alive_ms": percentile(stats.ttfb_kept_ms, 99),
            }
        )
        print(f"  {target.name} {row['users']} users: {fmt_row(row)}", flush=True)
    return rows


def profile_path(target: Target, step: int) -> Path:
    return RESULTS / f"spike-profile-{target.name}-step{step + 1}.txt"


def start_profile(target: Target, step: int, args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("  py-spy missing: no profile", flush=True)
        return None
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(target.profile_pid),
            "--format",
            "raw",
            "--rate",
            "100",
            "--duration",
            str(max(1, int(args.step_seconds) - 1)),
            "--output",
            str(profile_path(target, step)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def fmt_row(row: dict[str, Any]) -> str:
    return (
        f"{row['rps']:.0f} req/s, p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
        f"{row['errors']} errors, {row['reconnects']} reconnects, server CPU {row['server_cpu_pct']:.0f}%"
    )


# --- the planner's replay ---------------------------------------------------------------


def hpa_reach_seconds(start: int, desired: int, hpa: dict[str, Any]) -> tuple[int, int]:
    """Replicas the HPA holds after scaling from ``start`` towards ``desired`` and how many
    seconds its scale-up policies take (the better of the policies per period, as
    selectPolicy Max; pods' own start-up time comes on top)."""
    up = hpa["spec"]["behavior"]["scaleUp"]
    period = min(p["periodSeconds"] for p in up["policies"])
    replicas, seconds = start, 0
    while replicas < desired:
        step = max(
            math.ceil(replicas * p["value"] / 100) if p["type"] == "Percent" else p["value"]
            for p in up["policies"]
        )
        replicas = min(desired, hpa["spec"]["maxReplicas"], replicas + step)
        seconds += period
        if replicas == hpa["spec"]["maxReplicas"]:
            break
    return replicas, seconds


def planner_replay(
    users: Sequence[int], rows: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    """The ramp through the capacity planner: per step the instances `fundament plan`
    gives, how fast the HPA it writes gets there, and the run rate and cost of the step.

    The measurement is this run's: the highest req/s a step of one instance served with
    p99 within the target and no errors (a lower bound: the load offered, not the most the
    instance can take). No such step: the planner's reference figure."""
    good = [r for r in rows if r["p99_ms"] <= TARGET_P99_MS and r["errors"] == 0]
    if good:
        best = max(good, key=lambda r: r["rps"])
        measurement = metering.Measurement(
            rps_per_worker=round(best["rps"], 1),
            p99_ms=round(best["p99_ms"], 1),
            workers_per_instance=1,
            measured_at=datetime.now(UTC).date().isoformat(),
            machine=f"this machine ({os.cpu_count()} vCPU, PostgreSQL and the client on it too)",
        )
    else:
        measurement = metering.REFERENCE
    model = metering.load_cost_model(Settings().cost_model)
    rpm = 60 / args.think
    step_hours = Fraction(args.replay_minutes_per_step) / 60
    fixed = sum((Decimal(r.monthly_cost_eur) for r in model.resources if r.kind != "compute"), Decimal(0))
    price = Decimal(model.instance.monthly_cost_eur)
    # The HPA deployed before the spike: what `fundament plan --hpa-only` wrote for the
    # first step's users. Its maxReplicas bounds what it can do when the spike comes.
    hpa = metering.plan(users[0], rpm, TARGET_P99_MS, measurement, model).hpa
    per_instance = measurement.rps_per_worker * measurement.workers_per_instance
    steps, replicas, total = [], hpa["spec"]["minReplicas"], Decimal(0)
    for i, n in enumerate(users):
        p = metering.plan(n, rpm, TARGET_P99_MS, measurement, model)
        reached, seconds = hpa_reach_seconds(replicas, p.instances, hpa)
        replicas = max(replicas, reached)  # scale-down waits 300 s of lower load: a ramp never sees it
        hourly = (replicas * price + fixed) / HOURS_PER_MONTH
        cost = hourly * Decimal(step_hours.numerator) / Decimal(step_hours.denominator)
        total += cost
        steps.append(
            {
                "minute": i * args.replay_minutes_per_step,
                "users": n,
                "load_rps": p.load_rps,
                "instances": p.instances,
                "planned_hpa_max": p.hpa_max_replicas,
                "hpa_replicas": replicas,
                "hpa_seconds_to_scale": seconds,
                "hpa_capped": p.instances > hpa["spec"]["maxReplicas"],
                "utilisation_at_hpa_replicas": p.load_rps / (replicas * per_instance),
                "monthly_run_rate_eur": str((replicas * price + fixed).quantize(Decimal("0.01"))),
                "hourly_eur": str(hourly.quantize(Decimal("0.0001"))),
                "step_cost_eur": str(cost.quantize(Decimal("0.0001"))),
                "cumulative_eur": str(total.quantize(Decimal("0.0001"))),
                "cost_per_user_month_eur": str(((replicas * price + fixed) / n).quantize(Decimal("0.0001"))),
            }
        )
    return {
        "measurement": {
            "rps_per_worker": measurement.rps_per_worker,
            "p99_ms": measurement.p99_ms,
            "workers_per_instance": measurement.workers_per_instance,
            "machine": measurement.machine,
        },
        "requests_per_user_per_minute": rpm,
        "instance": model.instance.name,
        "instance_monthly_eur": str(price),
        "fixed_monthly_eur": str(fixed),
        "target_utilisation": model.target_utilisation,
        "min_replicas": model.min_replicas,
        "minutes_per_step": args.replay_minutes_per_step,
        "hpa_min_max": [hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]],
        "notes": metering.plan(users[-1], rpm, TARGET_P99_MS, measurement, model).notes,
        "steps": steps,
    }


# --- the run ---------------------------------------------------------------------------


@contextlib.contextmanager
def server_dsn(args: argparse.Namespace) -> Iterator[tuple[str, Path | None]]:
    """FUNDAMENT_DATABASE_URL's server, else an embedded PostgreSQL of this run's own (its
    processes' CPU is then measured too)."""
    if os.environ.get("FUNDAMENT_DATABASE_URL"):
        yield os.environ["FUNDAMENT_DATABASE_URL"], None
        return
    from fundament.platform import EmbeddedPostgres

    with EmbeddedPostgres(ROOT / ".fundament" / "spike-pg") as pg:
        yield pg.dsn, pg.data_dir


def keepalive_env(args: argparse.Namespace) -> tuple[dict[str, str], float]:
    """The environment that sets the server's idle keep-alive, and the value in effect."""
    supported = "keepalive_seconds" in Settings.model_fields
    if args.keepalive is not None:
        if not supported:
            sys.exit("--keepalive needs FUNDAMENT_KEEPALIVE_SECONDS, which this Fundament lacks")
        return {"FUNDAMENT_KEEPALIVE_SECONDS": str(args.keepalive)}, args.keepalive
    if supported:
        return {}, float(Settings.model_fields["keepalive_seconds"].default)
    return {}, 5.0  # uvicorn's default, which `fundament serve` then keeps


def run_fleet(
    args: argparse.Namespace, env: dict[str, str], raws: list[bytes], pg_dir: Path | None
) -> dict[str, Any]:
    """The ramp through HAProxy in front of ``--fleet`` instances (deploy/local/fleet), on
    the same database. Server CPU is the instances' sum; HAProxy's is its own column."""
    fleet = ROOT / "deploy" / "local" / "fleet"
    if not fleet.exists():
        return {"skipped": "deploy/local/fleet does not exist in this checkout"}
    port = free_port()
    # Kept after the run (bench/results is not committed): HAProxy's and the instances'
    # logs say why a request failed.
    directory = RESULTS / "spike-fleet"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    where = ["--dir", str(directory)]
    up = [str(fleet), "up", "--instances", str(args.fleet), "--port", str(port), *where]
    try:
        subprocess.run(up, env=env, cwd=ROOT, check=True, timeout=240)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        # The single instance's and the floor's figures are still worth writing down.
        subprocess.run([str(fleet), "down", *where], env=env, cwd=ROOT, timeout=180, check=False)
        return {"skipped": f"`fleet up` failed ({exc}); see {directory.relative_to(ROOT)}"}
    try:
        state = json.loads((directory / "state.json").read_text())
        instances = [i["pid"] for i in state["instances"]]
        target = Target(f"fleet-{args.fleet}", port, raws, instances, pg_dir, None, [state["haproxy"]["pid"]])
        return {
            "instances": args.fleet,
            "logs": str(directory.relative_to(ROOT)),
            "steps": asyncio.run(run_ramp(target, args)),
        }
    finally:
        subprocess.run([str(fleet), "down", *where], env=env, cwd=ROOT, timeout=180, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, nargs="+", default=list(DEFAULT_USERS), help="users per step")
    ap.add_argument("--think", type=float, default=10.0, help="seconds each user thinks between requests")
    ap.add_argument("--step-seconds", type=float, default=30.0)
    ap.add_argument("--timeout", type=float, default=10.0, help="a request slower than this is an error")
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--keepalive", type=float, help="FUNDAMENT_KEEPALIVE_SECONDS (and the floor's)")
    ap.add_argument("--profile-step", type=int, help="py-spy the Fundament server during step K (1-based)")
    ap.add_argument("--no-floor", action="store_true", help="skip the floor (tests only)")
    ap.add_argument(
        "--fleet", type=int, metavar="N", help="also ramp against deploy/local/fleet with N instances"
    )
    ap.add_argument(
        "--replay-minutes-per-step", type=int, default=15, help="the planner replay's step length"
    )
    ap.add_argument("--output", type=Path, default=RESULTS / "spike.json", help="where the JSON report goes")
    args = ap.parse_args()
    if args.users != sorted(args.users) or args.users[0] < 1:
        sys.exit("--users must rise")
    if args.step_seconds * len(args.users) > 900:
        sys.exit("a ramp is bounded to 15 minutes per target")
    fd_limit = raise_fd_limit(max(args.users) + 256)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    # The commit the servers start from (others may commit while the ramps run).
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_at_start = os.getloadavg()
    keep_env, keepalive = keepalive_env(args)
    results: dict[str, Any] = {}
    with (
        server_dsn(args) as (server, pg_dir),
        bench_database(ROOT / "tests" / "data" / "plans-roomy.toml", server) as (dsn, env, operator_key),
    ):
        env = {**env, **keep_env}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "fundament.cli", "serve", "--port", str(port), "--workers", "1"]
        with process(cmd, env, base + "/healthz") as server_proc:
            info = asyncio.run(seed(dsn, base, operator_key, args.records))
            ids = (RESULTS / "ids.txt").read_text().split()
            prefix = f"/v1/tenants/{info['tenant']}/collections/contacts"
            auth = f"Authorization: Bearer {info['key']}\r\n"
            ours = [
                f"GET {prefix}/records/{rid} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()
                for rid in random.sample(ids, min(len(ids), 5000))
            ]
            print(f"fundament serve (pid {server_proc.pid}, open files {open_files_limit(server_proc.pid)})")
            target = Target("fundament", port, ours, [server_proc.pid], pg_dir, server_proc.pid)
            results["fundament"] = asyncio.run(run_ramp(target, args))
        if not args.no_floor:
            floor_port = free_port()
            floor_cmd = [
                sys.executable, "-m", "uvicorn", "bench.floor:app", "--port", str(floor_port),
                "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
                "--timeout-keep-alive", str(math.ceil(keepalive)), "--backlog", "2048",
            ]  # fmt: skip
            floor_env = {**os.environ, "FLOOR_DSN": app_dsn(Settings(), dsn), "FLOOR_TENANT": info["tenant"]}
            with process(floor_cmd, floor_env, f"http://127.0.0.1:{floor_port}/records") as floor_proc:
                floor_raws = [
                    f"GET /records/{rid} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                    for rid in random.sample(ids, min(len(ids), 5000))
                ]
                print(f"floor (pid {floor_proc.pid}, open files {open_files_limit(floor_proc.pid)})")
                target = Target("floor", floor_port, floor_raws, [floor_proc.pid], pg_dir)
                results["floor"] = asyncio.run(run_ramp(target, args))
        if args.fleet:
            results["fleet"] = run_fleet(args, env, ours, pg_dir)

    replay = planner_replay(args.users, results["fundament"], args)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} vCPU, Python {platform.python_version()}",
        "started": started,
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "args": vars(args),
        "keepalive_seconds": keepalive,
        "open_files_limit": fd_limit,
        "database": "embedded PostgreSQL (this run's own)" if pg_dir else "FUNDAMENT_DATABASE_URL's server",
        **results,
        "planner_replay": replay,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str))
    print()
    print(markdown(report))


def _ms(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.1f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}%"


def markdown(report: dict[str, Any]) -> str:
    out = [
        "| users | Fundament req/s | p50 ms | p99 ms | errors | reconnects | server CPU | PG CPU |"
        " floor req/s | p50 ms | p99 ms | errors | reconnects | floor CPU | PG CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    floor = report.get("floor") or [None] * len(report["fundament"])
    for a, b in zip(report["fundament"], floor, strict=True):
        line = (
            f"| {a['users']:,} | {a['rps']:.0f} | {_ms(a['p50_ms'])} | {_ms(a['p99_ms'])} | {a['errors']} |"
            f" {a['reconnects']} | {_pct(a['server_cpu_pct'])} | {_pct(a['pg_cpu_pct'])} |"
        )
        if b is None:
            line += " – | – | – | – | – | – | – |"
        else:
            line += (
                f" {b['rps']:.0f} | {_ms(b['p50_ms'])} | {_ms(b['p99_ms'])} | {b['errors']} |"
                f" {b['reconnects']} | {_pct(b['server_cpu_pct'])} | {_pct(b['pg_cpu_pct'])} |"
            )
        out.append(line)
    out += [
        "",
        "| users | requests on a new connection | their p99 ms | p99 ms on kept-alive connections |"
        " client CPU | machine CPU (2 cores) | load 1 min | server RSS MiB | errors by kind |",
    ]
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    fleet = report.get("fleet")
    fleet_rows = fleet.get("steps", []) if isinstance(fleet, dict) else []
    for name, rows in (
        ("fundament", report["fundament"]),
        ("floor", report.get("floor")),
        ("fleet", fleet_rows),
    ):
        for r in rows or []:
            kinds = ", ".join(f"{k}: {v}" for k, v in r["error_kinds"].items()) or "–"
            rss = "–" if r["server_rss_mib"] is None else f"{r['server_rss_mib']:.0f}"
            out.append(
                f"| {name} {r['users']:,} | {r['new_connection_requests']} | {_ms(r['p99_new_connection_ms'])} |"
                f" {_ms(r['p99_kept_alive_ms'])} | {_pct(r['client_cpu_pct'])} | {_pct(r['machine_cpu_pct'])} |"
                f" {r['load_1min']:.2f} | {rss} | {kinds} |"
            )
    if fleet_rows:
        out += [
            "",
            f"| users | fleet ({fleet['instances']} instances, HAProxy) req/s | p50 ms | p99 ms | errors |"
            " reconnects | instances' CPU | HAProxy CPU | PG CPU |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in fleet_rows:
            out.append(
                f"| {r['users']:,} | {r['rps']:.0f} | {_ms(r['p50_ms'])} | {_ms(r['p99_ms'])} | {r['errors']} |"
                f" {r['reconnects']} | {_pct(r['server_cpu_pct'])} | {_pct(r['proxy_cpu_pct'])} |"
                f" {_pct(r['pg_cpu_pct'])} |"
            )
    replay = report["planner_replay"]
    m = replay["measurement"]
    out += [
        "",
        f"Planner replay ({replay['minutes_per_step']} min per step; measurement: {m['rps_per_worker']} req/s"
        f" per worker at p99 {m['p99_ms']} ms, {m['workers_per_instance']} worker per instance;"
        f" {replay['instance']} at {replay['instance_monthly_eur']} EUR/month, fixed"
        f" {replay['fixed_monthly_eur']} EUR/month, target utilisation {replay['target_utilisation']}):",
        "",
        f"The HPA deployed before the spike is `fundament plan --hpa-only` for {replay['steps'][0]['users']:,}"
        f" users: min {replay['hpa_min_max'][0]}, max {replay['hpa_min_max'][1]} replicas.",
        "",
        "| minute | users | load req/s | planned instances (plan's HPA max) | HPA replicas (s to scale) |"
        " utilisation | EUR/month run rate | EUR/hour | step EUR | cumulative EUR | EUR/user/month |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in replay["steps"]:
        capped = ", capped by maxReplicas" if s["hpa_capped"] else ""
        out.append(
            f"| {s['minute']} | {s['users']:,} | {s['load_rps']:g} | {s['instances']} ({s['planned_hpa_max']}) |"
            f" {s['hpa_replicas']} ({s['hpa_seconds_to_scale']}{capped}) |"
            f" {s['utilisation_at_hpa_replicas']:.0%} | {s['monthly_run_rate_eur']} | {s['hourly_eur']} |"
            f" {s['step_cost_eur']} | {s['cumulative_eur']} | {s['cost_per_user_month_eur']} |"
        )
    out += [f"- {n}" for n in replay["notes"]]
    if isinstance(fleet, dict) and "skipped" in fleet:
        out += ["", f"Fleet: not run ({fleet['skipped']})."]
    return "\n".join(out)


if __name__ == "__main__":
    main()
