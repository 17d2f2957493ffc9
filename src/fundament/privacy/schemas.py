"""Response shapes of privacy requests, exports and the register (msgspec Structs, which
encode them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from fundament.platform import Timestamp


# omit_defaults: `erased` is there only once an erasure is done.
class PrivacyRequest(Struct, frozen=True, omit_defaults=True):
    id: str
    kind: Literal["export", "erasure"]
    status: Literal["pending", "done", "failed"]
    created_at: Timestamp
    due_at: Annotated[Timestamp, Meta(description="One month after the request (Art. 12(3) GDPR).")]
    completed_at: Timestamp | None
    erased: Annotated[dict[str, int] | None, Meta(description="Erasures: records per collection.")] = None


class SubjectExport(Struct, frozen=True):
    """A finished subject access export (Art. 15 GDPR): what the tenant holds about the subject."""

    subject: str
    generated_at: Timestamp
    region: str
    records: Annotated[
        dict[str, list[dict[str, Any]]], Meta(description="The subject's records, per collection.")
    ]
    audit_events: Annotated[
        list[dict[str, Any]],
        Meta(description="Audit events about those records, with their personal values revealed."),
    ]
    processing: Annotated[
        list[dict[str, Any]],
        Meta(description="The processing activities of those collections (as in the processing record)."),
    ]


class ProcessingRecord(Struct, frozen=True):
    controller: dict[str, Any]
    region: str
    generated_at: Timestamp
    activities: list[dict[str, Any]]
