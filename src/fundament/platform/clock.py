"""The clock, injectable so tests move time instead of sleeping."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

Clock = Callable[[], datetime]

# RFC 3339 §5.6, ASCII digits only (``\d`` would take any script's digits).
_DATE = r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
_TIME = r"[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
_FULL_DATE = re.compile(_DATE)
_DATE_TIME = re.compile(_DATE + _TIME)


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` suffix, as the API promises."""
    if value.tzinfo is not UTC:  # asyncpg already returns UTC; skip the conversion then
        value = value.astimezone(UTC)
    return value.isoformat()[:-6] + "Z"


def parse_rfc3339(text: str, *, date_ok: bool = False) -> datetime:
    """An RFC 3339 ``date-time`` (offset required) as an aware UTC datetime.

    With ``date_ok``, a ``full-date`` too, meaning its midnight UTC. Nothing else: no
    naive times, no numbers, no week dates, no space for ``T``. Raises ValueError.
    A leap second (``:60``) is the next second; ``-00:00`` (offset unknown) is UTC.
    """
    try:
        match = _DATE_TIME.fullmatch(text)
        if match is None:
            day = _FULL_DATE.fullmatch(text) if date_ok else None
            if day is None:
                raise ValueError
            return datetime(int(day[1]), int(day[2]), int(day[3]), tzinfo=UTC)
        year, month, mday, hour, minute, second = (int(match[i]) for i in range(1, 7))
        fraction = int((match[7][1:] + "00000")[:6]) if match[7] else 0
        if match[9]:
            hours, minutes = int(match[10]), int(match[11])
            if hours > 23 or minutes > 59:
                raise ValueError
            offset = timedelta(hours=hours, minutes=minutes) * (1 if match[9] == "+" else -1)
        else:
            offset = timedelta(0)
        leap = second == 60
        value = datetime(year, month, mday, hour, minute, 59 if leap else second, fraction, timezone(offset))
        return (value + timedelta(seconds=1) if leap else value).astimezone(UTC)
    except (ValueError, OverflowError):
        what = "an RFC 3339 date or date-time" if date_ok else "an RFC 3339 date-time with an offset"
        raise ValueError(f"must be {what}, such as 2026-01-31T12:00:00Z") from None


def _strict(date_ok: bool) -> Callable[[Any], datetime]:
    def validate(value: Any) -> datetime:
        if isinstance(value, datetime) and value.tzinfo is not None:  # from Python callers
            return value
        if not isinstance(value, str):
            what = "date or date-time" if date_ok else "date-time"
            raise ValueError(f"must be a string holding an RFC 3339 {what}")
        return parse_rfc3339(value, date_ok=date_ok)

    return validate


#: A request field or parameter holding an RFC 3339 date-time with an offset, nothing else
#: (pydantic's own datetime would take ``0.5`` or ``1700000000`` as a time).
DateTime = Annotated[
    datetime,
    PlainValidator(_strict(False)),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
#: A query parameter holding an RFC 3339 date-time, or a full-date meaning its midnight UTC.
Instant = Annotated[
    datetime,
    PlainValidator(_strict(True)),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}],
            "description": "RFC 3339 date-time with an offset (`2026-01-31T12:00:00Z`), or a date "
            "(`2026-01-31`, meaning 00:00 UTC).",
        }
    ),
]
