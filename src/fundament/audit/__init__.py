"""Audit: an append-only, hash-chained trail of every write, per tenant."""

from __future__ import annotations

from typing import Any

from fundament.audit.chain import Verification, verify
from fundament.audit.service import (
    Sealer,
    events_for_targets,
    iter_events,
    record_pending,
    seal_pending,
    verify_tenant,
)

__all__ = [
    "Verification",
    "events_for_targets",
    "install",
    "iter_events",
    "seal_pending",
    "verify",
    "verify_tenant",
]


def install(app: Any, *, db: Any, enabled: bool = True) -> None:
    """Mount the audit routes and hook the trail into every write transaction."""
    from fundament.audit.api import router

    sealer = Sealer(db)
    app.state.audit_sealer = sealer
    if enabled:
        db.before_commit.append(record_pending)
        db.after_commit.append(sealer.after_commit)
    app.include_router(router)
