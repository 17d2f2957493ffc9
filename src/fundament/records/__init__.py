"""Records: collections with JSON Schema, record CRUD, SCIM filters, keyset pagination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fundament.platform import TenantLane
from fundament.records.collections import CollectionCache
from fundament.records.privacy_ops import (
    all_collections,
    erase_subject,
    expire_records,
    find_subject_records,
    processing_facts,
)
from fundament.records.service import count_collections, count_widest_indexes, footprint

__all__ = [
    "Needs",
    "RecordsState",
    "all_collections",
    "count_collections",
    "count_widest_indexes",
    "erase_subject",
    "expire_records",
    "find_subject_records",
    "footprint",
    "install",
    "processing_facts",
]


@dataclass
class RecordsState:
    cache: CollectionCache
    #: Lists that scan a collection (no declared index serves them) run in their tenant's lane.
    scans: TenantLane


class Needs(Protocol):
    """What the records routes read from the services object (besides the kernel's pool)."""

    @property
    def records(self) -> RecordsState: ...


def install(
    app: Any, *, db: Any, scan_share: float = 0.1, collection_cache_ttl_seconds: float = 300.0
) -> RecordsState:
    """Mount collection and record routes; return the module's caches, for the services object."""
    from fundament.records.api import router

    state = RecordsState(
        cache=CollectionCache(db, ttl_seconds=collection_cache_ttl_seconds), scans=TenantLane(scan_share)
    )
    app.include_router(router)
    return state
