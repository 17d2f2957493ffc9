"""A minimal HTTP/1.1 client on asyncio streams, for load whose client must cost next to
nothing: the noisy-neighbour suite runs server, PostgreSQL and clients on two cores, and
httpx spent about 4 ms of CPU per request there (63% of a core for 160 requests/s), so
the clients' own CPU decided the latencies measured. Here a request is bytes built once;
an answer is its status and body. Keep-alive, Content-Length and chunked bodies; nothing
else (no TLS, no redirects, no pooling policy)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

__all__ = ["Answer", "Connection", "build_request"]


def build_request(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> bytes:
    """The bytes of one request (``Host`` is added; ``Content-Length`` when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes


class Connection:
    """One keep-alive connection; requests on it go one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> Answer:
        """Send ``raw`` and read the whole answer; (re)connects when needed. Transport
        errors (``OSError``, ``asyncio.IncompleteReadError``) reach the caller."""
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        try:
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head[:-4].split(b"\r\n")
            status = int(status_line.split(b" ", 2)[1])
            length, chunked, close = None, False, False
            for line in header_lines:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            if chunked:
                parts = []
                while True:
                    size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
                    if size == 0:
                        await reader.readuntil(b"\r\n")  # no trailers from our server
                        break
                    parts.append(await reader.readexactly(size + 2))
                body = b"".join(p[:-2] for p in parts)
            elif length is not None:
                body = await reader.readexactly(length)
            else:  # no length: the body ends with the connection
                body, close = await reader.read(), True
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return Answer(status, body)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def aclose(self) -> None:
        writer = self._writer
        self.close()
        if writer is not None:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
