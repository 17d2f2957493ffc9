"""A tiny HTTP/1.1 receiver on 127.0.0.1 for webhook tests: records every request and
answers from a script (status, headers, body), then 200 once the script is used up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    #: When the answer went out (None: not yet, or never).
    answered: float | None = None


@dataclass
class Receiver:
    port: int = 0
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    #: Seconds each answer waits; None: the first request is never answered (a hung endpoint).
    delay: float | None = 0.0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + within
        while len(self.requests) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)
        return self.requests

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                got = Received(path, headers, body, time.monotonic())
                self.requests.append(got)
                self.arrived.set()
                if self.delay is None:
                    await self.released.wait()
                    return  # hung up without an answer
                await asyncio.sleep(self.delay)
                status, extra, answer = self.script.pop(0) if self.script else (200, {}, b"ok")
                out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(answer)}"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + answer)
                await writer.drain()
                got.answered = time.monotonic()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    server = await asyncio.start_server(r._handle, "127.0.0.1", 0)
    r.port = server.sockets[0].getsockname()[1]
    try:
        yield r
    finally:
        r.released.set()
        server.close()
