"""CORS (the Fetch standard's cross-origin protocol): which browser origins may call the API.

The edge asks :class:`CorsPolicy` once per request that carries an ``Origin`` header (for a
preflight before answering it, for any other request when its response starts, by which
time authentication has put the key's tenant in the cache); a request without one (every
server-to-server call) never gets here. A tenant path
(``/v1/tenants/{tenant}`` and below) allows the tenant's own origins (a tenant admin's
setting, looked up through a callable the composition root gives, the tenant cache) plus the
operator's; every other path allows the operator's origins only (``FUNDAMENT_CORS_OPERATOR_ORIGINS``).

The answer never says ``*`` and never allows credentials: Fundament authenticates with a
bearer key the client sets itself, which CORS does not count as credentials, so no cookie or
TLS client certificate ever needs to cross origins.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Callable, Collection
from typing import Protocol

from fundament.platform.ids import looks_like_id

log = logging.getLogger("fundament.cors")

#: Origins one tenant may list.
MAX_ORIGINS = 20
#: How long a browser may reuse a preflight's answer; also how long an origin removed from
#: the list can still send (not read) requests from a browser that asked just before.
MAX_AGE_SECONDS = 600
#: Request headers a browser client may send beyond the CORS-safelisted ones.
ALLOW_HEADERS = (
    b"Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-Request-Id, "
    b"Fundament-Consistency, traceparent, tracestate"
)
#: Response headers a browser client may read beyond the CORS-safelisted ones.
EXPOSE_HEADERS = (
    b"ETag, Location, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, "
    b"Retry-After, X-Request-Id, Idempotent-Replayed, Content-Disposition, Allow, Fundament-Consistency"
)

_TENANT_PATH = "/v1/tenants/"
# Labels of a DNS name as a URL parser leaves them: lowercase ASCII (IDNs in their xn-- form);
# `_` is allowed because browsers accept it in host names.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_PORT = re.compile(r"^[0-9]{1,5}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_LENGTH = 300


def parse_origin(value: str) -> str:
    """``value`` as a browser serialises it in ``Origin`` (RFC 6454 §6.2, WHATWG URL), or
    :class:`ValueError` saying what is wrong.

    Hand-written rather than through a URL library: those accept paths, user info and
    wildcards and turn them into something else, where the point here is to refuse them with
    a reason, and to normalise exactly as browsers do (lowercase, no default port) so that a
    plain string comparison with the header is right.
    """
    if value == "*" or "*" in value:
        raise ValueError("wildcards are not allowed; list each origin as scheme://host[:port]")
    if value.lower() == "null":
        raise ValueError("'null' is the origin of sandboxed and file: documents; it cannot be allowed")
    if len(value) > _MAX_LENGTH:
        raise ValueError(f"longer than {_MAX_LENGTH} characters")
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower()
    if not sep or not rest:
        raise ValueError("must be scheme://host[:port], e.g. https://app.example.com")
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("the scheme must be http or https")
    if any(c in rest for c in "/?#\\"):
        raise ValueError("an origin has no path, query or fragment (not even a trailing '/')")
    if "@" in rest:
        raise ValueError("an origin has no user name or password")
    if any(c.isspace() for c in rest):
        raise ValueError("contains white space")
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ValueError("an IPv6 address needs its closing ']'")
        try:
            host = f"[{ipaddress.IPv6Address(rest[1:end]).compressed}]"
        except ValueError:
            raise ValueError("not a valid IPv6 address") from None
        port = rest[end + 1 :]
        if port and not port.startswith(":"):
            raise ValueError("only ':port' may follow the host")
        port = port[1:]
    else:
        host, _, port = rest.partition(":")
        host = host.lower()
        if not host.isascii():
            raise ValueError("write an international domain name in its ASCII (xn--) form")
        if host.replace(".", "").isdigit():
            try:
                host = str(ipaddress.IPv4Address(host))
            except ValueError:
                raise ValueError("not a valid IPv4 address") from None
        elif len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
            raise ValueError("not a valid host name")
    if port or rest.endswith(":"):
        if not _PORT.match(port) or not 1 <= int(port) <= 65535:
            raise ValueError("the port must be a number from 1 to 65535")
        if int(port) == _DEFAULT_PORTS[scheme]:
            port = ""  # browsers leave the scheme's default port out of Origin
    return f"{scheme}://{host}" + (f":{int(port)}" if port else "")


def parse_origin_list(text: str | None) -> tuple[str, ...]:
    """A comma-separated list of origins (a setting), each checked by :func:`parse_origin`."""
    if not text:
        return ()
    origins: list[str] = []
    for item in text.split(","):
        item = item.strip()
        if item:
            try:
                origins.append(parse_origin(item))
            except ValueError as exc:
                raise ValueError(f"{item!r}: {exc}") from None
    return tuple(dict.fromkeys(origins))


class TenantOrigins(Protocol):
    """Where the policy learns a tenant's origins (the tenant cache)."""

    def held_origins(self, tenant_id: str) -> Collection[str] | None:
        """The tenant's origins if this process holds the tenant, else None: no lookup."""
        ...

    async def cors_origins(self, tenant_id: str) -> Collection[str] | None:
        """The tenant's origins, looked up if need be; None if there is no such tenant."""
        ...


class CorsPolicy:
    """Whether ``Origin`` may use a path; the headers that say so."""

    def __init__(
        self,
        tenants: TenantOrigins,
        *,
        operator_origins: Collection[str] = (),
        unknown_ttl_seconds: float = 10.0,
        unknown_per_second: int = 20,
        max_unknown: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tenants = tenants
        self._operator = frozenset(operator_origins)
        # A preflight carries no key, so the failed-authentication throttle never sees it:
        # ids that named no tenant are remembered for a while, and past a number of them in
        # one second (a scan of ids, not browsers) tenants this process does not hold are not
        # looked up until the next second. (Ids are unguessable ULIDs: a real one is never
        # asked for before its tenant exists.)
        self._unknown: dict[str, float] = {}
        self._unknown_ttl = unknown_ttl_seconds
        self._unknown_per_second = unknown_per_second
        self._max_unknown = max_unknown
        self._clock = clock
        self._second = 0
        self._unknown_this_second = 0

    async def allows(self, origin: str, path: str) -> bool | None:
        """True if ``origin`` may use ``path``, False if not, None if the path's answers do
        not depend on the origin at all (an operator path with no operator origins set)."""
        if path.startswith(_TENANT_PATH):
            tenant = path[len(_TENANT_PATH) :].split("/", 1)[0]
            if tenant:
                return origin in self._operator or await self._tenant_allows(tenant, origin)
        if not self._operator:
            return None
        return origin in self._operator

    async def _tenant_allows(self, tenant: str, origin: str) -> bool:
        if not looks_like_id(tenant, "tnt"):
            return False
        held = self._tenants.held_origins(tenant)
        if held is not None:
            return origin in held
        now = self._clock()
        seen = self._unknown.get(tenant)
        if seen is not None and now - seen < self._unknown_ttl:
            return False
        if int(now) != self._second:
            self._second, self._unknown_this_second = int(now), 0
        if self._unknown_this_second >= self._unknown_per_second:
            return False
        try:
            origins = await self._tenants.cors_origins(tenant)
        except Exception:  # CORS must not turn a request (or its error answer) into a 500
            log.warning("could not look up the CORS origins of %s", tenant, exc_info=True)
            return False
        if origins is None:
            self._unknown_this_second += 1
            if len(self._unknown) >= self._max_unknown:
                self._unknown.clear()
            self._unknown[tenant] = now
            return False
        return origin in origins

    @staticmethod
    def response_headers(origin: bytes, allowed: bool) -> list[tuple[bytes, bytes]]:
        """Headers of an actual (not preflight) response to ``origin``."""
        if not allowed:
            return [(b"vary", b"Origin")]
        return [
            (b"access-control-allow-origin", origin),
            (b"vary", b"Origin"),
            (b"access-control-expose-headers", EXPOSE_HEADERS),
        ]

    @staticmethod
    def preflight_headers(origin: bytes, allowed: bool, methods: list[str]) -> list[tuple[bytes, bytes]]:
        """Headers of a preflight's 204: without the allow headers the browser refuses."""
        if not allowed:
            return [(b"vary", b"Origin")]
        return [
            (b"access-control-allow-origin", origin),
            (b"vary", b"Origin"),
            (b"access-control-allow-methods", ", ".join(methods).encode()),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
        ]
