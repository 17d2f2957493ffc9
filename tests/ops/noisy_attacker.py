"""Tenant A's side of the noisy-neighbour suite (test_noisy_neighbour.py), in its own process.

    python tests/ops/noisy_attacker.py   # one JSON line on stdin, then "go"

Its own process, so the attacking client's CPU is not spent in the event loop that times
tenant B's requests, and on tests/rawhttp.py, so it spends little CPU at all (the server
and PostgreSQL share two cores with it). Needs ``tests/`` on PYTHONPATH. Protocol on
stdin/stdout:

1. read one JSON line: ``base`` (a 127.0.0.1 URL), ``requests`` (templates, below),
   ``rate`` (requests a second, sent whatever the answers: an open loop, as a flood is),
   ``max_in_flight`` (connections; a due request that finds none free is skipped and
   counted), ``seconds`` and ``max_requests`` (the bounds of the whole attack), ``first``
   (the number of the first request, default 0);
2. print ``ready`` (imports done, client made), wait for a line ``go``;
3. attack: request n uses template n modulo their number; stop at ``seconds`` or
   ``max_requests``, whichever comes first, and wait for the answers still due;
4. print one JSON line: ``statuses`` (status -> count), ``errors`` (transport error class ->
   count), ``sent``, ``skipped``, ``seconds``, A's own ``p50_ms``/``p99_ms``, ``samples``
   (status, path and start of the body of the first few 5xx answers).

A template is ``{"method", "path", "headers", "body"}`` (``body`` a string or null). In the
path, header values and body, ``%N%`` becomes the request's number (from ``first``), ``%RAND%`` 32 random
URL-safe characters and ``%ULID%`` 26 random ULID characters; a template with none of them
is encoded once.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from rawhttp import Connection, build_request

_ULID_CHARS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MARKS = ("%N%", "%RAND%", "%ULID%")
_MAX_SAMPLES = 5


def _fill(text: str, n: int) -> str:
    if "%N%" in text:
        text = text.replace("%N%", str(n))
    while "%RAND%" in text:
        text = text.replace("%RAND%", secrets.token_urlsafe(24), 1)
    while "%ULID%" in text:
        text = text.replace("%ULID%", "".join(secrets.choice(_ULID_CHARS) for _ in range(26)), 1)
    return text


class _Template:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.method: str = spec["method"]
        self.path: str = spec["path"]
        self.headers: dict[str, str] = dict(spec.get("headers") or {})
        self.body: str | None = spec.get("body")
        texts = [self.path, *self.headers.values(), self.body or ""]
        self.dynamic = any(mark in t for t in texts for mark in _MARKS)
        self.raw = b"" if self.dynamic else self._build(0)

    def _build(self, n: int) -> bytes:
        headers = {k: _fill(v, n) for k, v in self.headers.items()}
        body = _fill(self.body, n).encode() if self.body is not None else None
        return build_request(self.method, _fill(self.path, n), headers, body)

    def build(self, n: int) -> bytes:
        return self._build(n) if self.dynamic else self.raw


async def attack(config: dict[str, Any], go: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    """Run the attack ``config`` describes once ``go()`` returns; the figures of it."""
    templates = [_Template(spec) for spec in config["requests"]]
    url = urlsplit(config["base"])
    host, port = url.hostname or "127.0.0.1", url.port or 80
    interval = 1.0 / config["rate"]
    in_flight_max: int = config["max_in_flight"]
    max_requests: int = config["max_requests"]
    first: int = config.get("first", 0)
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    samples: list[dict[str, Any]] = []
    latencies: list[float] = []
    in_flight: set[asyncio.Task[None]] = set()
    idle: list[Connection] = []
    opened: list[Connection] = []
    skipped = 0

    async def one(n: int, conn: Connection) -> None:
        template = templates[n % len(templates)]
        raw = template.build(first + n)
        started = time.perf_counter()
        try:
            answer = await asyncio.wait_for(conn.request(raw), 30)
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            errors[type(exc).__name__] += 1
            conn.close()
        else:
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[answer.status] += 1
            if answer.status >= 500 and len(samples) < _MAX_SAMPLES:
                samples.append(
                    {
                        "status": answer.status,
                        "path": template.path[:200],
                        "body": answer.body[:500].decode(errors="replace"),
                    }
                )
        idle.append(conn)

    # Connections open on demand, after "go": opened before, they would sit idle through
    # B's baseline and meet the server's keep-alive timeout (5 s) mid-request.
    await go()
    started = time.monotonic()
    deadline = started + config["seconds"]
    due = started
    n = 0
    try:
        # Open loop: a request every `interval` whatever the answers, as a flood does; at
        # most `max_in_flight` outstanding (a slot that finds none free is skipped).
        while n < max_requests:
            now = time.monotonic()
            if now >= deadline:
                break
            if due > now:
                await asyncio.sleep(due - now)
            due += interval
            if idle:
                conn = idle.pop()
            elif len(opened) < in_flight_max:
                conn = Connection(host, port)
                opened.append(conn)
            else:
                skipped += 1
                continue
            task = asyncio.create_task(one(n, conn))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            n += 1
        await asyncio.gather(*in_flight)
    finally:
        for conn in opened:
            await conn.aclose()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(errors),
        "sent": n,
        "skipped": skipped,
        "seconds": round(elapsed, 3),
        "p50_ms": round(latencies[len(latencies) // 2], 2) if latencies else None,
        "p99_ms": round(latencies[max(0, math.ceil(0.99 * len(latencies)) - 1)], 2) if latencies else None,
        "samples": samples,
    }


async def _stdin_go() -> None:
    print("ready", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit(f"expected 'go', got {line!r}")


def main() -> None:
    config = json.loads(sys.stdin.readline())
    result = asyncio.run(attack(config, _stdin_go))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
