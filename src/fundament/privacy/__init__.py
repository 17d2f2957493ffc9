"""Privacy: subject export, erasure, retention, register of processing, residency."""

from __future__ import annotations

from typing import Any

from fundament.privacy.service import count_open_requests, handlers, schedule_retention

__all__ = ["count_open_requests", "handlers", "install"]


def install(app: Any, *, db: Any, secret: bytes) -> None:
    """Mount privacy routes; schedule retention when collections change."""
    from fundament.privacy.api import router

    app.state.privacy_secret = secret
    db.before_commit.append(schedule_retention)
    app.include_router(router)
