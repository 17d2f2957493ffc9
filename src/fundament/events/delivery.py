"""Sending one webhook request: the SSRF guard, the timeout, what is kept of the answer.

The guard is an httpcore network backend: it resolves the host itself, refuses the
connection if any address is loopback, link-local (cloud metadata), private or otherwise
not global, and connects to the address it checked, so a name that resolves to a public
address at creation and to 127.0.0.1 later (DNS rebinding) is still refused. TLS is still
verified against the URL's host name (httpcore sends it as SNI). httpcore is used directly,
not httpx, because httpx's transport does not take a network backend; nothing here reads
proxy settings from the environment either.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore

from fundament.platform import utcnow

#: The first this many bytes of an answer are kept in the delivery log.
KEPT_BYTES = 1024
_RESOLVE_SECONDS = 5.0


class AddressRefused(Exception):
    """The host resolves to an address webhooks may not reach (or to none)."""


def _refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, private, link-local (169.254.169.254, fd00:ec2::254
    # is unique-local), shared (100.64/10), reserved and unspecified addresses.
    return not ip.is_global or ip.is_multicast


async def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for ``host``; :class:`AddressRefused` if it may not be used."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), _RESOLVE_SECONDS
        )
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise AddressRefused(f"{host} does not resolve") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise AddressRefused(f"{host} does not resolve")
    if not allow_private:
        bad = [a for a in addresses if _refused(a)]
        if bad:
            raise AddressRefused(
                f"{host} resolves to {bad[0]}, a loopback, link-local, private or reserved address"
            )
    return addresses[0]


async def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse (:class:`AddressRefused`) an endpoint URL whose host may not be reached now."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # .port raises for one out of range
    except ValueError as exc:
        raise AddressRefused(f"not a URL webhooks can use ({exc})") from None
    if not host:
        raise AddressRefused("the URL has no host")
    await resolve(host, port or (443 if parts.scheme == "https" else 80), allow_private=allow_private)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses :func:`resolve` allows."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            address = await resolve(host, port, allow_private=self._allow_private)
        except AddressRefused as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return await self._inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks do not connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: the answer's status (None: no answer), how long it took, what it said."""

    status: int | None
    duration_ms: int
    response: str
    error: str | None
    retry_after: float | None
    #: When the attempt was signed and sent.
    sent_at: datetime = field(default_factory=utcnow)

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())


class Sender:
    """POSTs deliveries through one guarded connection pool."""

    def __init__(self, *, allow_private: bool, timeout: float) -> None:
        self.timeout = timeout
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=GuardedBackend(allow_private=allow_private),
            max_connections=64,
            keepalive_expiry=30.0,
        )

    async def post(
        self, url: str, headers: list[tuple[bytes, bytes]], body: bytes, *, sent_at: datetime | None = None
    ) -> Outcome:
        began = time.perf_counter()
        status: int | None = None
        kept = b""
        error: str | None = None
        wait: float | None = None
        timeouts = {
            "connect": self.timeout,
            "read": self.timeout,
            "write": self.timeout,
            "pool": self.timeout,
        }
        try:
            async with asyncio.timeout(self.timeout):
                async with self._pool.stream(
                    "POST", url, headers=headers, content=body, extensions={"timeout": timeouts}
                ) as response:
                    status = response.status
                    for name, value in response.headers:
                        if name.lower() == b"retry-after":
                            wait = retry_after(value.decode("latin-1"))
                    async for chunk in response.aiter_stream():
                        kept += chunk[: KEPT_BYTES - len(kept)]
                        if len(kept) >= KEPT_BYTES:
                            break
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except (httpcore.ConnectError, httpcore.TimeoutException) as exc:
            error = str(exc) or type(exc).__name__
        except Exception as exc:  # anything else that goes wrong sending is a failed attempt, not a crash
            error = f"{type(exc).__name__}: {exc}"
        duration = int((time.perf_counter() - began) * 1000)
        return Outcome(status, duration, kept.decode("utf-8", "replace"), error, wait, sent_at or utcnow())

    async def close(self) -> None:
        await self._pool.aclose()
