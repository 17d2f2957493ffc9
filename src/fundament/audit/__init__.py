"""Audit: an append-only, hash-chained trail of every write, per tenant."""

from __future__ import annotations

from typing import Any, Protocol

from fundament.audit.chain import verify
from fundament.audit.schemas import ChainVerification
from fundament.audit.service import (
    PendingRecorder,
    Sealer,
    events_for_targets,
    footprint,
    iter_events,
    record_platform_event,
    recorded_bytes,
    reveal_personal,
    seal_pending,
    shred_subject,
    verify_tenant,
)

__all__ = [
    "ChainVerification",
    "Needs",
    "Sealer",
    "events_for_targets",
    "footprint",
    "install",
    "iter_events",
    "record_platform_event",
    "recorded_bytes",
    "reveal_personal",
    "seal_pending",
    "shred_subject",
    "verify",
    "verify_tenant",
]


class Needs(Protocol):
    """What the audit routes read from the services object."""

    @property
    def audit_sealer(self) -> Sealer: ...


def install(app: Any, *, db: Any, master: bytes, enabled: bool = True) -> Sealer:
    """Mount the audit routes and hook the trail into every write transaction; return the
    sealer (the services object's ``audit_sealer``), which the app closes at shutdown."""
    from fundament.audit.api import router

    sealer = Sealer(db)
    if enabled:
        db.before_commit.append(PendingRecorder(master))
        db.after_commit.append(sealer.after_commit)
    app.include_router(router)
    return sealer
