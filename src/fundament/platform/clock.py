"""The clock, injectable so tests move time instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` suffix, as the API promises."""
    if value.tzinfo is not UTC:  # asyncpg already returns UTC; skip the conversion then
        value = value.astimezone(UTC)
    return value.isoformat()[:-6] + "Z"
