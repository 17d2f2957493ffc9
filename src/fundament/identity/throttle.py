"""Failed authentication throttled in memory, before any database round trip.

Finding out that a key is wrong costs a database transaction; without a throttle an
attacker (or a client with a stale key) buys one per request for free. So failures are
counted per client address and per key id (what a key names before its secret: the
tenant of a tenant key; all operator keys share one id), and past a limit in a minute
an unknown key gets 429 with ``Retry-After`` without a lookup. A key id that failed a
moment ago waits a second the same way, and the exact key that failed is answered 401
from memory for a while: it cannot become valid (secrets are made by the server).

Only keys this process has not seen succeed are throttled. A key it has seen (in the
key cache, or dropped from it by an invalidation or the TTL) is looked up as before:
nobody can present it without having it, so a flood of wrong keys never locks out a key
in use. What a flood does cost, by choice: a key of the flooded tenant that this
process has not seen yet waits (429) until the flood's minute is over, and from a
flooding address every new key does. The other tenants, and other addresses, notice
nothing.

The tables live in each process, capped (the oldest entry goes first): an attacker
decides how many addresses and key ids it shows us, so they must not grow without
bound. That is also why they are written here rather than on the ``limits`` library's
memory storage, which has no cap. They are not shared through Redis: their job is to
bound the database work each process does for bad keys, which is per process anyway,
and guessing a 256-bit key is hopeless at any rate.
"""

from __future__ import annotations

import ipaddress
import math

from prometheus_client import Counter

from fundament.platform import AuthenticationThrottled, Unauthenticated

REFUSED = Counter(
    "fundament_auth_failures",
    "Requests whose key was refused: 401 for a wrong key, 429 while failures are throttled.",
    ["answer"],
)
LOOKUPS = Counter("fundament_auth_key_lookups", "Key lookups that went to the database.")

_REJECTED = REFUSED.labels("rejected")
_THROTTLED = REFUSED.labels("throttled")

WINDOW_SECONDS = 60.0


def address_key(host: str | None) -> str | None:
    """What failures are counted against for a client address: the address itself, or
    for IPv6 its /64 (one subscriber's usual allocation, as cheap to vary as a port)."""
    if not host:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return host


class _Windows:
    """Failures per key in a fixed window that opens with the key's first failure.

    A window, not a sliding count: it closes at most ``window`` seconds after a flood
    stops, which bounds how long the owner of a flooded address or key id waits.
    """

    __slots__ = ("_cap", "_limit", "_table", "_window")

    def __init__(self, limit: int, window: float, cap: int) -> None:
        self._limit = limit
        self._window = window
        self._cap = cap
        self._table: dict[str, list[float]] = {}  # key -> [opened_at, failures]

    def retry_after(self, key: str, now: float) -> float | None:
        entry = self._table.get(key)
        if entry is None:
            return None
        if now - entry[0] >= self._window:
            del self._table[key]
            return None
        return entry[0] + self._window - now if entry[1] >= self._limit else None

    def add(self, key: str, now: float) -> None:
        entry = self._table.get(key)
        if entry is not None and now - entry[0] < self._window:
            entry[1] += 1
            return
        self._table.pop(key, None)
        if len(self._table) >= self._cap:
            del self._table[next(iter(self._table))]
        self._table[key] = [now, 1.0]

    def discount(self, key: str) -> None:
        entry = self._table.get(key)
        if entry is not None and entry[1] > 0:
            entry[1] -= 1


class _Until:
    """Keys marked until a moment, capped; an expired mark is dropped when next read."""

    __slots__ = ("_cap", "_table")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._table: dict[str | bytes, float] = {}

    def remaining(self, key: str | bytes, now: float) -> float:
        until = self._table.get(key)
        if until is None:
            return 0.0
        if until <= now:
            del self._table[key]
            return 0.0
        return until - now

    def mark(self, key: str | bytes, until: float) -> None:
        self._table.pop(key, None)
        if len(self._table) >= self._cap:
            del self._table[next(iter(self._table))]
        self._table[key] = until


class Attempt:
    """A lookup the throttle let through, counted as a failure until it turns out not to be."""

    __slots__ = ("address", "digest", "key_id")

    def __init__(self, address: str | None, key_id: str | None, digest: bytes | None) -> None:
        self.address = address
        self.key_id = key_id
        self.digest = digest


class FailureThrottle:
    """The failed-authentication throttle of one process (see the module docstring).

    :meth:`admit` runs before a key is looked up: it raises 429 (or 401 for a key that
    just failed), or counts the attempt as a failure in advance, so a burst of concurrent
    wrong keys is bounded like a sequence of them. :meth:`succeeded` takes a found key's
    count back; :meth:`failed` remembers a key that was not found. A success resets
    nothing else: a valid key does not buy an address more guesses.
    """

    def __init__(
        self,
        *,
        per_address: int = 30,
        per_key_id: int = 10,
        cooldown_seconds: float = 1.0,
        bad_key_seconds: float = 30.0,
        window_seconds: float = WINDOW_SECONDS,
        max_entries: int = 100_000,
    ) -> None:
        self._addresses = _Windows(per_address, window_seconds, max_entries)
        self._key_ids = _Windows(per_key_id, window_seconds, max_entries)
        self._cooling = _Until(max_entries)
        self._bad_keys = _Until(max_entries // 10)
        self._cooldown = cooldown_seconds
        self._bad_key_seconds = bad_key_seconds

    def admit(self, *, client: str | None, key_id: str | None, digest: bytes | None, now: float) -> Attempt:
        """Let a key this process does not know be looked up, or raise.

        ``key_id`` is None for a string of no key's shape (nothing will be looked up),
        ``digest`` None when there is nothing worth remembering about it.
        """
        address = address_key(client)
        if address is not None:
            wait = self._addresses.retry_after(address, now)
            if wait is not None:
                raise _throttled("from this address", wait)
        if key_id is not None:
            wait = self._key_ids.retry_after(key_id, now)
            if wait is not None:
                raise _throttled("with this key's id", wait)
        if digest is not None and self._bad_keys.remaining(digest, now):
            # Counted when it failed; repeating it costs nothing and learns nothing.
            _REJECTED.inc()
            raise Unauthenticated("Unknown or revoked API key.")
        self._count(address, key_id, now)
        if key_id is not None:
            wait = self._cooling.remaining(key_id, now)
            if wait:
                raise _throttled("with this key's id", wait)
        return Attempt(address, key_id, digest)

    def succeeded(self, attempt: Attempt) -> None:
        """The key was found (or the lookup failed for another reason): not a failure."""
        if attempt.address is not None:
            self._addresses.discount(attempt.address)
        if attempt.key_id is not None:
            self._key_ids.discount(attempt.key_id)

    def failed(self, attempt: Attempt, now: float) -> None:
        """No such key: its id waits the cooldown, the key itself is refused from memory."""
        _REJECTED.inc()
        if attempt.key_id is not None and self._cooldown > 0:
            self._cooling.mark(attempt.key_id, now + self._cooldown)
        if attempt.digest is not None and self._bad_key_seconds > 0:
            self._bad_keys.mark(attempt.digest, now + self._bad_key_seconds)

    def _count(self, address: str | None, key_id: str | None, now: float) -> None:
        if address is not None:
            self._addresses.add(address, now)
        if key_id is not None:
            self._key_ids.add(key_id, now)


def _throttled(scope: str, wait: float) -> AuthenticationThrottled:
    _THROTTLED.inc()
    retry = max(1, math.ceil(wait))
    return AuthenticationThrottled(
        f"Too many failed authentications {scope}; retry after {retry} s.",
        headers={"Retry-After": str(retry)},
    )
