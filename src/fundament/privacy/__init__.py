"""Privacy: subject export, erasure, retention, register of processing, residency."""

from __future__ import annotations

from typing import Any, Protocol

from fundament.privacy.service import count_open_requests, handlers, schedule_retention

__all__ = ["Needs", "count_open_requests", "handlers", "install"]


class Needs(Protocol):
    """What the privacy routes read from the services object."""

    @property
    def privacy_secret(self) -> bytes:
        """The key subject references are derived with (the master key)."""
        ...


def install(app: Any, *, db: Any) -> None:
    """Mount privacy routes; schedule retention when collections change."""
    from fundament.privacy.api import router

    db.before_commit.append(schedule_retention)
    app.include_router(router)
