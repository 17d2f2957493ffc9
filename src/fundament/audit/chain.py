"""The hash chain: canonical JSON and SHA-256, shared by the writer and the verifier.

``hash = SHA-256(canonical JSON of the event including prev_hash)``. Canonical JSON here is
RFC 8785 (JCS) for the values events hold (strings, integers, nested objects): keys sorted,
no insignificant whitespace, UTF-8. Each tenant's chain starts from a genesis hash derived
from the tenant id, so a chain cannot be transplanted into another tenant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson

from fundament.audit.schemas import ChainVerification


def genesis(tenant_id: str) -> bytes:
    return hashlib.sha256(f"fundament-audit:{tenant_id}".encode()).digest()


def canonical(event: dict[str, Any]) -> bytes:
    # orjson with sorted keys emits compact UTF-8 JSON: JCS for strings, integers and
    # objects (events hold no floats), at a fraction of json.dumps's cost.
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def event_hash(body: dict[str, Any]) -> bytes:
    """Hash of an event body (every field but ``hash``; ``prev_hash`` as hex)."""
    return hashlib.sha256(canonical(body)).digest()


def verify(
    tenant_id: str, events: Iterable[dict[str, Any]], *, after: ChainVerification | None = None
) -> ChainVerification:
    """Recompute the chain; report the first seq whose link, number or hash is wrong.

    ``events`` are API-shaped dicts (hex hashes) in ascending ``seq`` order. ``after``: a
    valid verification of the chain's first events; ``events`` are the ones after them (a
    tenant move verifies the bulk before its freeze and the rest during it).
    """
    prev = genesis(tenant_id).hex() if after is None or after.head is None else after.head
    count = 0 if after is None else after.count
    for event in events:
        count += 1
        seq = event["seq"]
        if seq != count:
            return ChainVerification(False, count - 1, prev, seq, f"gap: expected seq {count}")
        if event["prev_hash"] != prev:
            return ChainVerification(False, count - 1, prev, seq, "prev_hash does not link")
        body = {k: v for k, v in event.items() if k != "hash"}
        if event_hash(body).hex() != event["hash"]:
            return ChainVerification(False, count - 1, prev, seq, "content does not match its hash")
        prev = event["hash"]
    return ChainVerification(True, count, prev if count else None)
