"""The gateway: one ASGI app in front of legacy and Fundament, its route table, the shadow
comparisons and the numbers of the migration report.

A request takes the route table as it is when it arrives (one attribute read): a reload
swaps the table whole, so a request is served entirely by the table it started with and a
flip loses none. Counts are kept by route ``match``, so they outlive reloads and flips.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from prometheus_client import Counter, Histogram

from fundament.gateway import compare
from fundament.gateway.config import (
    SAFE_METHODS,
    UNMATCHED,
    ConfigError,
    GatewayConfig,
    Route,
    RouteTable,
    load_config,
    route_table,
)
from fundament.gateway.schemas import GatewayDifference, GatewayExample, GatewayRoute, GatewayRouteList
from fundament.gateway.upstream import (
    AppUpstream,
    ASGIApp,
    Capture,
    HttpUpstream,
    RawHeaders,
    request_headers,
    upstream_problem,
)
from fundament.platform import NotFound, PayloadTooLarge
from fundament.platform import problem_response as render_problem

log = logging.getLogger("fundament.gateway")

REQUESTS = Counter(
    "fundament_gateway_requests", "Requests the gateway served, by route and mode.", ["route", "mode"]
)
COMPARISONS = Counter(
    "fundament_gateway_shadow_comparisons",
    "Shadow requests by outcome: `match`, `mismatch`, `dropped` (saturated or too large), "
    "`failed` (Fundament did not answer).",
    ["route", "outcome"],
)
UPSTREAM_SECONDS = Histogram(
    "fundament_gateway_upstream_duration_seconds",
    "Time of an upstream's answer, first byte out to last byte in.",
    ["route", "upstream"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

#: Samples kept per route and side for the percentiles: the latest, a bounded window.
_WINDOW = 4096


class RouteStats:
    """One route's counts and recent latencies (milliseconds)."""

    def __init__(self, key: str, examples: int) -> None:
        self.key = key
        self.requests = 0
        self.compared = 0
        self.mismatches = 0
        self.dropped = 0
        self.failed = 0
        self.noise_sampled = 0
        self.noise: set[tuple[str, ...]] = set()
        self.legacy_ms: deque[float] = deque(maxlen=_WINDOW)
        self.fundament_ms: deque[float] = deque(maxlen=_WINDOW)
        self.examples: deque[GatewayExample] = deque(maxlen=examples)
        self._counters: dict[str, Any] = {}
        self._timers: dict[str, Any] = {}

    def count(self, mode: str) -> None:
        self.requests += 1
        counter = self._counters.get(mode)
        if counter is None:
            counter = self._counters[mode] = REQUESTS.labels(self.key, mode)
        counter.inc()

    def outcome(self, outcome: str) -> None:
        counter = self._counters.get(outcome)
        if counter is None:
            counter = self._counters[outcome] = COMPARISONS.labels(self.key, outcome)
        counter.inc()

    def timed(self, side: str, seconds: float) -> None:
        (self.legacy_ms if side == "legacy" else self.fundament_ms).append(seconds * 1000)
        timer = self._timers.get(side)
        if timer is None:
            timer = self._timers[side] = UPSTREAM_SECONDS.labels(self.key, side)
        timer.observe(seconds)


def _percentile(samples: deque[float], q: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


class Gateway:
    """The strangler-fig gateway as an ASGI app in front of ``inner`` (this process's
    Fundament), which also serves Fundament's own paths."""

    def __init__(
        self, config: GatewayConfig, *, path: Path | None = None, inner: ASGIApp | None = None
    ) -> None:
        self.config = config
        self.path = path
        self.inner = inner
        self.table: RouteTable = route_table(config)
        self.own_paths = tuple(config.gateway.fundament_paths) if inner is not None else ()
        self.legacy = HttpUpstream("legacy", config.legacy)
        self.fundament: HttpUpstream | AppUpstream
        if config.fundament.url is not None:
            self.fundament = HttpUpstream("fundament", config.fundament)
        elif inner is not None:
            self.fundament = AppUpstream(inner, config.fundament.total_timeout)
        else:
            raise ConfigError("[fundament] url is needed where no Fundament runs in the same process")
        key = os.environ.get(config.fundament.key_env) if config.fundament.key_env else None
        self.fundament_auth: RawHeaders = [(b"authorization", b"Bearer " + key.encode())] if key else []
        self.tenant = config.fundament.tenant or ""
        self.stats: dict[str, RouteStats] = {}
        self.total = 0
        self.shadowing: set[asyncio.Task[None]] = set()
        self.loaded_at = time.time()
        self._stamp = self._file_stamp()
        self._watch: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self.path is not None and self._watch is None:
            self._watch = asyncio.create_task(self._watch_file(), name="gateway config watch")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for task in list(self.shadowing):
            task.cancel()
        await asyncio.gather(*self.shadowing, return_exceptions=True)
        await self.legacy.aclose()
        await self.fundament.aclose()

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    async def _watch_file(self) -> None:
        while True:
            await asyncio.sleep(self.config.gateway.reload_seconds)
            stamp = self._file_stamp()
            if stamp is not None and stamp != self._stamp:
                self._stamp = stamp
                self.reload()

    def reload(self) -> bool:
        """Read the file again and use its route table (and shadow settings) from now on;
        a file that does not load is logged and the table in use stays."""
        assert self.path is not None
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            log.error("gateway: route table not reloaded, the one in use stays: %s", exc)
            return False
        if (config.legacy, config.fundament) != (self.config.legacy, self.config.fundament):
            log.warning("gateway: [legacy] and [fundament] changes take effect at the next restart")
        self.config = GatewayConfig(
            legacy=self.config.legacy,
            fundament=self.config.fundament,
            gateway=config.gateway,
            shadow=config.shadow,
            routes=config.routes,
        )
        self.table = route_table(self.config)
        self.loaded_at = time.time()
        log.info("gateway: route table reloaded from %s (%d routes)", self.path, len(self.table.routes))
        return True

    def _stats(self, route: Route) -> RouteStats:
        stats = self.stats.get(route.key)
        if stats is None:
            stats = self.stats[route.key] = RouteStats(route.key, self.config.shadow.examples)
        return stats

    # --- serving -----------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (self.own_paths and scope["path"].startswith(self.own_paths)):
            if self.inner is None:
                return
            await self.inner(scope, receive, send)
            return
        route, params = self.table.find(scope["method"], scope["path"])
        stats = self._stats(route)
        self.total += 1
        stats.count(route.mode)
        if route.mode == "fundament":
            await self._to_fundament(route, params, stats, scope, receive, send)
            return
        capture = Capture(self.config.shadow.max_body_bytes) if route.shadows(scope["method"]) else None
        started = time.perf_counter()
        await self.legacy.proxy(
            scope,
            receive,
            send,
            path=scope.get("raw_path") or scope["path"].encode(),
            query=scope["query_string"],
            headers=request_headers(scope, []),
            capture=capture,
        )
        stats.timed("legacy", time.perf_counter() - started)
        # Compared only once legacy's whole answer reached the client (``seconds`` is set
        # then): not after a failed upstream (the gateway's own 502/504) or a client gone.
        if capture is not None and capture.seconds > 0:
            self._shadow(route, params, stats, scope, capture)

    def _target(self, route: Route, params: dict[str, str], scope: Any) -> tuple[bytes, bytes]:
        """The Fundament path and query of a request to ``route``."""
        rewrite = route.rewrite
        if rewrite is None:
            return scope.get("raw_path") or scope["path"].encode(), scope["query_string"]
        values = {"tenant": self.tenant, **params}
        if route.prefix is not None:
            path = rewrite.path.format_map(values) + params["rest"]
        else:
            path = rewrite.path.format_map(values)
        if rewrite.query is None:
            query = scope["query_string"]
        else:
            query = urlencode({k: v.format_map(values) for k, v in rewrite.query.items()}).encode()
        return path.encode(), query

    def _fundament_headers(self, scope: Any) -> RawHeaders:
        drop = frozenset({b"authorization"}) if self.fundament_auth else frozenset()
        return request_headers(scope, self.fundament_auth, drop)

    async def _to_fundament(
        self, route: Route, params: dict[str, str], stats: RouteStats, scope: Any, receive: Any, send: Any
    ) -> None:
        path, query = self._target(route, params, scope)
        headers = self._fundament_headers(scope)
        started = time.perf_counter()
        if route.pick is None:
            await self.fundament.proxy(scope, receive, send, path=path, query=query, headers=headers)
            stats.timed("fundament", time.perf_counter() - started)
            return
        # The legacy resource is a part of Fundament's answer: that answer is read whole.
        body = await _read_body(receive, self.config.shadow.max_body_bytes)
        if body is None:
            too_large = PayloadTooLarge(
                f"A body larger than {self.config.shadow.max_body_bytes} bytes cannot be sent to this route."
            )
            await render_problem(too_large)(scope, receive, send)
            return
        try:
            answer = await self._fetch_fundament(scope["method"], path, query, headers, body, scope)
        except Exception as exc:
            problem = upstream_problem(exc, "fundament")
            log.warning("gateway: fundament upstream failed: %r", exc)
            await render_problem(problem)(scope, receive, send)
            return
        stats.timed("fundament", time.perf_counter() - started)
        status, out, content = _picked(answer, route)
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": content, "more_body": False})

    async def _fetch_fundament(
        self, method: str, path: bytes, query: bytes, headers: RawHeaders, body: bytes, scope: Any
    ) -> compare.Answer | None:
        limit = 64 << 20
        if isinstance(self.fundament, AppUpstream):
            return await self.fundament.fetch(method, path, query, headers, body, limit, scope)
        return await self.fundament.fetch(method, path, query, headers, body, limit)

    # --- shadow ------------------------------------------------------------------------

    def _shadow(
        self, route: Route, params: dict[str, str], stats: RouteStats, scope: Any, capture: Capture
    ) -> None:
        """Compare off the client's path: the client has its whole answer by now. Saturated
        or too large: dropped and counted, never waited for."""
        if capture.over or len(self.shadowing) >= self.config.shadow.max_concurrency:
            stats.dropped += 1
            stats.outcome("dropped")
            return
        task = asyncio.create_task(self._compare(route, params, stats, scope, capture))
        self.shadowing.add(task)
        task.add_done_callback(self.shadowing.discard)

    def _learns_noise(self, stats: RouteStats, method: str) -> bool:
        if method not in SAFE_METHODS:
            return False  # a write sent twice to legacy would be written twice
        shadow = self.config.shadow
        if stats.noise_sampled < shadow.noise_samples:
            return True
        return random.random() < shadow.noise_rate

    async def _compare(
        self, route: Route, params: dict[str, str], stats: RouteStats, scope: Any, capture: Capture
    ) -> None:
        method = scope["method"]
        body = bytes(capture.request)
        legacy_answer = capture.answer()
        try:
            if self._learns_noise(stats, method):
                stats.noise_sampled += 1
                raw = scope.get("raw_path") or scope["path"].encode()
                second = await self.legacy.fetch(
                    method,
                    raw,
                    scope["query_string"],
                    request_headers(scope, []),
                    body,
                    self.config.shadow.max_body_bytes,
                )
                if second is not None:
                    for where in compare.diff_answers(legacy_answer, second, route.headers):
                        if where != compare.STATUS:
                            stats.noise.add(compare.generalise(where))
        except Exception as exc:  # legacy's second answer is only a help: go on without it
            log.debug("gateway: noise sample of %s failed: %r", route.key, exc)
        path, query = self._target(route, params, scope)
        try:
            answer = await self._fetch_fundament(
                method, path, query, self._fundament_headers(scope), body, scope
            )
        except Exception as exc:
            stats.failed += 1
            stats.outcome("failed")
            log.info("gateway: shadow request of %s to fundament failed: %r", route.key, exc)
            return
        if answer is None:
            stats.dropped += 1
            stats.outcome("dropped")
            return
        stats.timed("fundament", answer.seconds)
        status, headers, content = _picked(answer, route)
        candidate = compare.Answer(
            status, {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}, content, answer.seconds
        )
        differences = [
            p
            for p in compare.diff_answers(legacy_answer, candidate, route.headers)
            if not compare.covered(p, route.ignore) and not compare.covered(p, stats.noise)
        ]
        stats.compared += 1
        if not differences:
            stats.outcome("match")
            return
        stats.mismatches += 1
        stats.outcome("mismatch")
        example = GatewayExample(
            at=datetime.now(UTC),
            method=method,
            path=scope["path"],
            legacy_status=legacy_answer.status,
            fundament_status=candidate.status,
            differences=[
                GatewayDifference(
                    compare.pointer(p),
                    _shown(compare.value_at(legacy_answer.body, p), p, route),
                    _shown(compare.value_at(candidate.body, p), p, route),
                )
                for p in differences[:20]
            ],
        )
        stats.examples.append(example)
        log.warning(
            "gateway: %s answers differ on %s",
            route.key,
            ", ".join(d.path for d in example.differences),
            extra={
                "gateway_route": route.key,
                "request_headers": _redacted_headers(scope, self.config.shadow.redact_headers),
                "differences": [
                    {"path": d.path, "legacy": d.legacy, "fundament": d.fundament}
                    for d in example.differences
                ],
            },
        )

    # --- report ------------------------------------------------------------------------

    def report(self) -> GatewayRouteList:
        """Every route of the table in use, in its order, then what matched none."""
        rows = []
        routes = [*self.table.routes]
        keys = {r.key for r in routes}
        for route in [*routes, *[_gone(k) for k in self.stats if k not in keys and k != "(unmatched)"]]:
            rows.append(self._row(route.key, route.mode))
        rows.append(self._row("(unmatched)", "legacy"))
        return GatewayRouteList(rows, None)

    def _row(self, key: str, mode: Any) -> GatewayRoute:
        s = self.stats.get(key) or RouteStats(key, 1)
        return GatewayRoute(
            match=key,
            mode=mode,
            requests=s.requests,
            share=round(s.requests / self.total, 4) if self.total else 0.0,
            compared=s.compared,
            mismatches=s.mismatches,
            mismatch_rate=round(s.mismatches / s.compared, 4) if s.compared else None,
            dropped=s.dropped,
            failed=s.failed,
            noise=sorted(compare.pointer(tuple(n)) for n in s.noise),
            legacy_p50_ms=_percentile(s.legacy_ms, 0.50),
            legacy_p99_ms=_percentile(s.legacy_ms, 0.99),
            fundament_p50_ms=_percentile(s.fundament_ms, 0.50),
            fundament_p99_ms=_percentile(s.fundament_ms, 0.99),
            examples=list(s.examples),
        )


def _gone(key: str) -> Route:
    """A route no longer in the table whose counts are still kept: shown as legacy."""
    return replace(UNMATCHED, key=key)


def _shown(value: Any, path: compare.Path, route: Route) -> Any:
    if value is compare.ABSENT or value == compare.ABSENT:
        return value
    if compare.covered(path, route.personal):
        return compare.REDACTED
    return compare.redact(value, route.personal, path)


def _redacted_headers(scope: Any, redact: list[str]) -> dict[str, str]:
    names = {n.lower() for n in redact}
    return {
        k.decode("latin-1"): (compare.REDACTED if k.decode("latin-1") in names else v.decode("latin-1"))
        for k, v in scope["headers"]
    }


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The request body whole; None when it is larger than ``limit``."""
    data = bytearray()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        data += message.get("body", b"")
        more = message.get("more_body", False)
        if len(data) > limit:
            return None
    return bytes(data)


def _picked(answer: compare.Answer | None, route: Route) -> tuple[int, RawHeaders, bytes]:
    """Fundament's answer as the client gets it: the part the route's ``pick`` names of a
    2xx JSON answer (a 404 problem when it is not there), anything else as it is."""
    if answer is None:
        problem = upstream_problem(ValueError("answer too large"), "fundament")
        return problem.status, [(b"content-type", b"application/problem+json")], orjson.dumps(problem.body())
    keep = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in answer.headers.items()
        if k
        not in ("content-length", "transfer-encoding", "connection", "date", "server", "content-encoding")
    ]
    if route.pick is None or not 200 <= answer.status < 300:
        return answer.status, keep, answer.body
    try:
        doc = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return answer.status, keep, answer.body
    found, part = compare.pick(doc, route.pick)
    if not found:
        problem = NotFound("No such resource.")
        return 404, [(b"content-type", b"application/problem+json")], orjson.dumps(problem.body())
    keep = [(k, v) for k, v in keep if k not in (b"etag", b"content-type")]
    return answer.status, [*keep, (b"content-type", b"application/json")], orjson.dumps(part)
