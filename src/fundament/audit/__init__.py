"""Audit: an append-only, hash-chained trail of every write, per tenant."""

from __future__ import annotations

from typing import Any

from fundament.audit.chain import Verification, verify
from fundament.audit.service import append_events, iter_events, verify_tenant

__all__ = ["Verification", "install", "iter_events", "verify", "verify_tenant"]


def install(app: Any, *, db: Any, enabled: bool = True) -> None:
    """Mount the audit routes and hook the trail into every write transaction."""
    from fundament.audit.api import router

    if enabled:
        db.before_commit.append(append_events)
    app.include_router(router)
