"""The two upstreams: a streaming reverse proxy over HTTP (aiohttp's client), or this
process's own Fundament app called in place (no hop).

One shared session per upstream holds its bounded connection pool; a request allocates no
client. Bodies are streamed both ways in the chunks they arrive in
(``aiter_raw``: an encoded answer passes as it was encoded), so memory per request is a
chunk, not a body; a request or answer is captured whole only for a shadow comparison,
and only up to its limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import yarl

from fundament.gateway.compare import Answer
from fundament.gateway.config import Upstream
from fundament.platform import BadGateway, GatewayTimeout, Problem
from fundament.platform import problem_response as render_problem

log = logging.getLogger("fundament.gateway")

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

#: RFC 9110 §7.6.1: meaningful for one connection only; never forwarded. Host is the
#: upstream's (the client sets it), the client's goes on as X-Forwarded-Host.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)
#: Written by this server itself (uvicorn adds its own Date and Server).
_OWN_RESPONSE_HEADERS = _HOP_BY_HOP | {b"date", b"server"}
#: An answer longer than this (or of unknown length) is streamed with a watch on the client:
#: uvicorn drops what is sent to a client that left, so without one the upstream's whole
#: body would still be read.
_WATCH_OVER = 1 << 20
#: An answer of a known length up to this is read in one piece (aiohttp's own read size).
_ONE_CHUNK = 1 << 16


class Capture:
    """What a shadowed request and its legacy answer were, up to ``limit`` bytes each."""

    __slots__ = ("headers", "limit", "over", "request", "response", "seconds", "status")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.over = False
        self.request = bytearray()
        self.response = bytearray()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.seconds = 0.0

    def add(self, buffer: bytearray, chunk: bytes) -> None:
        if self.over:
            return
        if len(buffer) + len(chunk) > self.limit:
            self.over = True
            buffer.clear()
        else:
            buffer += chunk

    def answer(self) -> Answer:
        # The client got legacy's answer as legacy encoded it; compared is what it says.
        return Answer(self.status, self.headers, decoded(bytes(self.response), self.headers), self.seconds)


def upstream_problem(exc: BaseException, name: str) -> Problem:
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts are TimeoutErrors
        return GatewayTimeout(f"The {name} upstream did not answer in time.")
    return BadGateway(f"The {name} upstream could not be reached or broke off its answer.")


def request_headers(scope: Any, extra: RawHeaders, drop: frozenset[bytes] = frozenset()) -> RawHeaders:
    """The client's headers less hop-by-hop ones (and those its Connection names), with
    X-Forwarded-For/-Proto/-Host and a traceparent for this hop."""
    out: RawHeaders = []
    host = b""
    forwarded_for = b""
    named: frozenset[bytes] = frozenset()
    for name, value in scope["headers"]:
        if name == b"connection":
            named = frozenset(v.strip().lower() for v in value.split(b","))
        elif name == b"host":
            host = value
        elif name == b"x-forwarded-for":
            forwarded_for = value
    for name, value in scope["headers"]:
        if name in _HOP_BY_HOP or name in named or name in drop:
            continue
        if name in (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"traceparent"):
            continue
        out.append((name, value))
    client = scope.get("client")
    if client:
        address = client[0].encode()
        forwarded_for = forwarded_for + b", " + address if forwarded_for else address
    if forwarded_for:
        out.append((b"x-forwarded-for", forwarded_for))
    out.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
    if host:
        out.append((b"x-forwarded-host", host))
    out.append((b"traceparent", _traceparent(scope)))
    out.extend(extra)
    return out


def _traceparent(scope: Any) -> bytes:
    """W3C Trace Context: the client's trace goes on with this hop as its parent; a request
    without one starts a trace (sampled: the gateway is where it entered)."""
    span = os.urandom(8).hex().encode()
    for name, value in scope["headers"]:
        if name == b"traceparent":
            parts: list[bytes] = value.split(b"-")
            if len(parts) == 4 and parts[0] == b"00" and len(parts[1]) == 32 and len(parts[3]) == 2:
                return b"00-" + parts[1] + b"-" + span + b"-" + parts[3]
    return b"00-" + os.urandom(16).hex().encode() + b"-" + span + b"-01"


def response_headers(raw: RawHeaders) -> RawHeaders:
    return [(name, value) for name, value in raw if name.lower() not in _OWN_RESPONSE_HEADERS]


class ClientGone(Exception):
    """The client went away while its request body was being sent on."""


async def _request_body(receive: Any, capture: Capture | None) -> AsyncIterator[bytes]:
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        if chunk:
            if capture is not None:
                capture.add(capture.request, chunk)
            yield chunk


class HttpUpstream:
    """An upstream over HTTP: its own bounded pool of kept-alive connections and timeouts.

    On aiohttp's client, not httpx's. Measured on this machine (docs/benchmarks.md, the
    gateway): the gateway with its upstream call stubbed out costs 0.06 ms of CPU per request;
    the upstream call is the rest, and its client's cost decides the proxy's. One request to a
    local upstream, CPU: httpx's AsyncClient 0.72 ms, httpcore (its engine) 0.37 ms on
    asyncio's streams, aiohttp 0.15 ms (its HTTP parser is in C).
    """

    def __init__(self, name: str, config: Upstream) -> None:
        assert config.url is not None
        self.name = name
        url = yarl.URL(config.url.rstrip("/"))
        self.origin = str(url.origin())
        self.base_path = url.raw_path.rstrip("/").encode()
        self.total = config.total_timeout
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=config.connect_timeout, sock_read=config.read_timeout
        )
        self.max_connections = config.max_connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        # Made on first use: aiohttp binds a session to the running loop, which a worker
        # has only once it serves.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0),
                timeout=self.timeout,
                # A proxy passes the answer as it was encoded, and adds no header of its own.
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    def url(self, path: bytes, query: bytes) -> yarl.URL:
        target = (self.base_path + path + (b"?" + query if query else b"")).decode("latin-1")
        return yarl.URL(self.origin + target, encoded=True)

    async def proxy(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        *,
        path: bytes,
        query: bytes,
        headers: RawHeaders,
        capture: Capture | None = None,
    ) -> int:
        """Send the request on and stream the answer back; the status the client got (a
        502 or 504 problem when the upstream fails before answering)."""
        started = time.perf_counter()
        first = await receive()
        body: Any = first.get("body", b"")
        if capture is not None:
            capture.add(capture.request, body)
        if first.get("more_body", False):
            # Without the client's Content-Length aiohttp chunks it: the client's own
            # chunking was its connection's (hop-by-hop), this is ours.
            body = _chain(body, _request_body(receive, capture))
        response: aiohttp.ClientResponse | None = None
        started_answer = False
        complete = False
        watch: asyncio.Task[None] | None = None
        gone = asyncio.Event()
        try:
            async with asyncio.timeout(self.total):
                response = await self.session.request(
                    scope["method"],
                    self.url(path, query),
                    headers=_str_headers(headers),
                    data=body or None,
                    allow_redirects=False,
                )
                if capture is not None:
                    capture.status = response.status
                    capture.headers = _text_headers(list(response.raw_headers))
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": response_headers(list(response.raw_headers)),
                    }
                )
                started_answer = True
                length = response.content_length
                if length is not None and length <= _ONE_CHUNK:
                    # As small as a chunk: read whole and sent in one message, as it would
                    # have been streamed (one loop turn and one send fewer a request).
                    chunk = await response.read()
                    if capture is not None:
                        capture.add(capture.response, chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": False})
                else:
                    if length is None or length > _WATCH_OVER:
                        watch = asyncio.create_task(_watch_disconnect(receive, gone))
                    async for chunk in response.content.iter_any():
                        if gone.is_set():
                            return response.status
                        if capture is not None:
                            capture.add(capture.response, chunk)
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                complete = True
                if capture is not None:
                    capture.seconds = time.perf_counter() - started
                return response.status
        except ClientGone:
            return 499
        except _FAILURES as exc:
            if started_answer:
                # Too late for a problem: the client sees the connection close (its answer
                # is shorter than announced), which is what a proxy can say then.
                log.warning("gateway: %s upstream broke off an answer: %r", self.name, exc)
                return 502
            problem = upstream_problem(exc, self.name)
            log.warning("gateway: %s upstream failed: %r", self.name, exc)
            await render_problem(problem)(scope, receive, send)
            return problem.status
        finally:
            if watch is not None:
                watch.cancel()
            if response is not None:
                # Read to its end, the connection goes back to the pool; else it is closed.
                response.release() if complete else response.close()

    async def fetch(
        self, method: str, path: bytes, query: bytes, headers: RawHeaders, body: bytes, limit: int
    ) -> Answer | None:
        """One exchange read whole (for a comparison); None when the answer exceeds ``limit``."""
        started = time.perf_counter()
        async with asyncio.timeout(self.total):
            response = await self.session.request(
                method,
                self.url(path, query),
                headers=_str_headers(headers),
                data=body or None,
                allow_redirects=False,
            )
            try:
                data = bytearray()
                async for chunk in response.content.iter_any():
                    data += chunk
                    if len(data) > limit:
                        return None
            finally:
                response.close() if len(data) > limit else response.release()
        text = _text_headers(list(response.raw_headers))
        return Answer(response.status, text, decoded(bytes(data), text), time.perf_counter() - started)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


_FAILURES = (aiohttp.ClientError, TimeoutError, OSError)


def _str_headers(headers: RawHeaders) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]


def _header(headers: RawHeaders, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _text_headers(headers: RawHeaders) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}


def decoded(body: bytes, headers: dict[str, str]) -> bytes:
    """The body as it reads: a gzip or deflate encoding undone (what a client sees)."""
    if headers.get("content-encoding", "").strip().lower() in ("gzip", "deflate"):
        with contextlib.suppress(zlib.error):
            return zlib.decompress(body, wbits=47)
    return body


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


async def _watch_disconnect(receive: Any, gone: asyncio.Event) -> None:
    with contextlib.suppress(Exception):
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()


class AppUpstream:
    """This process's Fundament, called in place with the rewritten request."""

    name = "fundament"

    def __init__(self, app: ASGIApp, total_timeout: float) -> None:
        self.app = app
        self.total = total_timeout

    @staticmethod
    def _scope(scope: Any, method: str, path: bytes, query: bytes, headers: RawHeaders) -> Any:
        sub = dict(scope)
        sub["method"] = method
        sub["path"] = path.decode("ascii", "replace")
        sub["raw_path"] = path
        sub["query_string"] = query
        sub["headers"] = headers
        return sub

    async def proxy(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        *,
        path: bytes,
        query: bytes,
        headers: RawHeaders,
        capture: Capture | None = None,
    ) -> int:
        status = 0

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(self._scope(scope, scope["method"], path, query, headers), receive, sending)
        return status

    async def fetch(
        self,
        method: str,
        path: bytes,
        query: bytes,
        headers: RawHeaders,
        body: bytes,
        limit: int,
        scope: Any = None,
    ) -> Answer | None:
        started = time.perf_counter()
        done = asyncio.Event()
        sent = False
        status = 0
        out_headers: dict[str, str] = {}
        data = bytearray()

        async def receive() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            nonlocal status, out_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                out_headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]
                }
            elif message["type"] == "http.response.body":
                data.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        base = scope or {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "http",
            "server": ("127.0.0.1", 0),
            "client": ("127.0.0.1", 0),
            "root_path": "",
            "headers": [],
        }
        async with asyncio.timeout(self.total):
            await self.app(self._scope(base, method, path, query, headers), receive, send)
        done.set()
        if len(data) > limit:
            return None
        return Answer(status, out_headers, bytes(data), time.perf_counter() - started)

    async def aclose(self) -> None:
        pass
