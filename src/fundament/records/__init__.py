"""Records: collections with JSON Schema, record CRUD, SCIM filters, keyset pagination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fundament.platform import InvalidFilter, TenantLane
from fundament.records import _query
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
    "change_filter_sql",
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


def change_filter_sql(text: str, args: list[object], fields: Any = None) -> str:
    """A SCIM filter (the records' grammar) as SQL over a row aliased ``r`` with the columns
    ``id``, ``data``, ``created_at`` and ``updated_at``: for change events, whose ``data`` is
    the record after the change. ``fields`` (a collection's) makes a path no record can hold
    an error, as on the records list. A bad filter is 400 ``invalid-filter``."""
    try:
        return _query.compile_filter(_query.parse_filter(text, fields=fields), args)
    except _query.QueryError as exc:
        raise InvalidFilter(exc.detail, extra={"position": exc.position}) from exc


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
