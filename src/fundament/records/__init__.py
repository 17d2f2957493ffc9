"""Records: collections with JSON Schema, record CRUD, SCIM filters, keyset pagination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def install(
    app: Any, *, db: Any, scan_share: float = 0.1, collection_cache_ttl_seconds: float = 300.0
) -> RecordsState:
    """Mount collection and record routes and create the module's caches."""
    from fundament.records.api import router

    state = RecordsState(
        cache=CollectionCache(db, ttl_seconds=collection_cache_ttl_seconds), scans=TenantLane(scan_share)
    )
    app.state.records = state
    app.include_router(router)
    return state
