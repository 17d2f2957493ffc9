"""Response shapes of the audit trail (msgspec Structs, which encode them).

An event as answered is also what its hash covers (``hash`` left out, audit/chain.py), so a
client can recompute the chain from the list alone.
"""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct

from fundament.platform import Page, Timestamp


class Ref(Struct, frozen=True):
    type: str
    id: str | None


class AuditEvent(Struct, frozen=True):
    id: str
    seq: int
    at: Timestamp
    actor: Ref
    action: Annotated[str, Meta(examples=["record.created"])]
    target: Ref
    request_id: str | None
    details: Annotated[dict[str, Any], Meta(description="Names of what changed; never personal values.")]
    prev_hash: str
    hash: str


class AuditEventList(Page[AuditEvent], frozen=True):
    pass


# omit_defaults: a valid chain's answer has no `broken_seq` and `reason` at all.
class ChainVerification(Struct, frozen=True, omit_defaults=True):
    valid: bool
    count: int
    head: Annotated[str | None, Meta(description="Hash of the last event (hex).")]
    broken_seq: Annotated[int | None, Meta(description="First seq that fails, if any.")] = None
    reason: str | None = None
