"""Plans: what a tenant may do (rate, burst, quotas, caps) and what it pays.

One TOML file, named by ``FUNDAMENT_PLANS``, is read by the limits module (rates, quotas
and caps) and by FinOps (prices); without it the built-in catalogue below applies. Every
plan sets every key (a missing or unknown key is an error naming the file and key); all
but the price are positive integers::

    [plans.free]
    requests_per_minute = 3000       # sustained, over a sliding minute
    burst = 300                      # most requests in any one second
    max_records = 100000
    max_stored_bytes = 104857600     # records and the audit trail, as PostgreSQL stores them
    max_collections = 50
    max_api_keys = 50                # active tenant keys (not revoked, not expired)
    max_users = 1000
    max_webhooks = 20                # webhook endpoints
    max_open_privacy_jobs = 10       # exports and erasures not yet done or failed
    max_indexes_per_collection = 8   # at most 8: the records table's index slots
    max_inflight_deliveries = 8      # optional: webhook deliveries sent at once
    max_open_streams = 20            # optional: open event streams, per instance
    monthly_price_eur = 0
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path


class PlansError(ValueError):
    """The plans file is unreadable or inconsistent; the message names file and key."""


#: The records table has this many shared index slots (records/_slots.py); a plan cannot
#: promise more declared indexes per collection than there are slots.
MAX_INDEXES_PER_COLLECTION = 8


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    #: Sustained rate over a sliding minute.
    requests_per_minute: int
    #: Most requests in any one second: how sharp a spike may be.
    burst: int
    max_records: int
    #: The tenant's record documents plus its audit trail, PostgreSQL's stored size.
    max_stored_bytes: int
    max_collections: int
    #: Active tenant keys: neither revoked nor expired.
    max_api_keys: int
    max_users: int
    #: Webhook endpoints (enforced by the limits module's caps).
    max_webhooks: int
    #: Privacy exports and erasures of the tenant not yet done or failed.
    max_open_privacy_jobs: int
    #: Declared indexes per collection (enforced by records), at most
    #: :data:`MAX_INDEXES_PER_COLLECTION`.
    max_indexes_per_collection: int
    monthly_price_eur: Decimal
    #: Webhook deliveries of the tenant being sent at once, on every instance together
    #: (the others wait their turn). Optional in a plans file, so older files still load.
    max_inflight_deliveries: int = 8
    #: Open event streams (server-sent events) of the tenant on each instance; optional too.
    max_open_streams: int = 20

    def __post_init__(self) -> None:
        if self.max_indexes_per_collection > MAX_INDEXES_PER_COLLECTION:
            raise PlansError(
                f"max_indexes_per_collection must be at most {MAX_INDEXES_PER_COLLECTION} (the records"
                f" table's index slots), not {self.max_indexes_per_collection}."
            )

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "requests_per_minute": self.requests_per_minute,
            "burst": self.burst,
            "max_records": self.max_records,
            "max_stored_bytes": self.max_stored_bytes,
            "max_collections": self.max_collections,
            "max_api_keys": self.max_api_keys,
            "max_users": self.max_users,
            "max_webhooks": self.max_webhooks,
            "max_open_privacy_jobs": self.max_open_privacy_jobs,
            "max_indexes_per_collection": self.max_indexes_per_collection,
            "max_inflight_deliveries": self.max_inflight_deliveries,
            "max_open_streams": self.max_open_streams,
            "monthly_price_eur": str(self.monthly_price_eur),
        }


_MIB = 1024 * 1024
# Defaults sized so that an ordinary client (a test suite, a batch import) does not trip
# them while a runaway loop does; operators set their own in FUNDAMENT_PLANS.
BUILTIN: dict[str, Plan] = {
    "free": Plan(
        name="free",
        requests_per_minute=3_000,
        burst=300,
        max_records=100_000,
        max_stored_bytes=100 * _MIB,
        max_collections=50,
        max_api_keys=50,
        max_users=1_000,
        max_webhooks=20,
        max_open_privacy_jobs=10,
        max_indexes_per_collection=8,
        monthly_price_eur=Decimal("0"),
    ),
    "pro": Plan(
        name="pro",
        requests_per_minute=30_000,
        burst=1_500,
        max_records=5_000_000,
        max_stored_bytes=10 * 1024 * _MIB,
        max_collections=500,
        max_api_keys=500,
        max_users=50_000,
        max_webhooks=100,
        max_open_privacy_jobs=100,
        max_indexes_per_collection=8,
        monthly_price_eur=Decimal("99"),
        max_inflight_deliveries=32,
        max_open_streams=200,
    ),
    "enterprise": Plan(
        name="enterprise",
        requests_per_minute=300_000,
        burst=10_000,
        max_records=500_000_000,
        max_stored_bytes=1024 * 1024 * _MIB,
        max_collections=5_000,
        max_api_keys=5_000,
        max_users=1_000_000,
        max_webhooks=1_000,
        max_open_privacy_jobs=1_000,
        max_indexes_per_collection=8,
        monthly_price_eur=Decimal("990"),
        max_inflight_deliveries=128,
        max_open_streams=2_000,
    ),
}

_INT_FIELDS = tuple(f.name for f in fields(Plan) if f.name not in ("name", "monthly_price_eur"))
#: Keys added after plans files existed: a file without them gets the free plan's value.
_OPTIONAL = frozenset({"max_inflight_deliveries", "max_open_streams"})


class Catalogue(Mapping[str, Plan]):
    """The plans in force, by name; ``source`` says where they came from, ``default`` is
    the plan of a tenant created without one (FUNDAMENT_DEFAULT_PLAN)."""

    def __init__(self, plans: Mapping[str, Plan], source: str, *, default: str = "free") -> None:
        self._plans = dict(plans)
        self.source = source
        if default not in self._plans:
            where = "the built-in plans" if source == "built-in" else f"the plans of {source}"
            raise PlansError(
                f"The default plan {default!r} (FUNDAMENT_DEFAULT_PLAN) is not among {where}: "
                f"{', '.join(self._plans)}. Set FUNDAMENT_DEFAULT_PLAN to one of them, or add "
                f"[plans.{default}] to the plans file."
            )
        self.default = default

    def __getitem__(self, name: str) -> Plan:
        return self._plans[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)


def load_plans(path: str | Path | None, *, default_plan: str = "free") -> Catalogue:
    """Read the plans file, or the built-in catalogue when ``path`` is None.

    ``default_plan`` must be one of them: the server refuses to start otherwise, rather
    than answer every tenant created without a plan with 422 "Unknown plan"."""
    if path is None:
        return Catalogue(BUILTIN, "built-in", default=default_plan)
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlansError(f"{path}: cannot read the plans file ({exc.strerror}).") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlansError(f"{path}: not valid TOML ({exc}).") from exc
    unknown_top = set(data) - {"plans"}
    if unknown_top:
        raise PlansError(f"{path}: unknown top-level key(s) {sorted(unknown_top)}; expected [plans.NAME].")
    tables = data.get("plans")
    if not isinstance(tables, dict) or not tables:
        raise PlansError(f"{path}: no plans; define at least one [plans.NAME] table.")
    expected = {f.name for f in fields(Plan)} - {"name"}
    plans: dict[str, Plan] = {}
    for name, table in tables.items():
        where = f"{path}: [plans.{name}]"
        if not isinstance(table, dict):
            raise PlansError(f"{where} must be a table.")
        missing = expected - table.keys() - _OPTIONAL
        extra = table.keys() - expected
        if missing or extra:
            # Name the built-in free plan's values, so an older file is easy to complete.
            free = BUILTIN["free"]
            hint = ", ".join(f"{k} = {getattr(free, k)}" for k in sorted(missing & set(_INT_FIELDS)))
            raise PlansError(
                f"{where}: missing {sorted(missing)}, unknown {sorted(extra)}; every plan sets every key"
                + (f" (the built-in free plan has {hint})." if hint else ".")
            )
        values: dict[str, object] = {}
        for key in _INT_FIELDS:
            value = table.get(key, getattr(BUILTIN["free"], key))
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PlansError(f"{where}.{key} must be a positive integer, not {value!r}.")
            values[key] = value
        try:
            price = Decimal(str(table["monthly_price_eur"]))
        except InvalidOperation as exc:
            raise PlansError(f"{where}.monthly_price_eur must be a number.") from exc
        if not price.is_finite() or price < 0:
            raise PlansError(f"{where}.monthly_price_eur must be zero or more.")
        try:
            plans[name] = Plan(name=name, monthly_price_eur=price, **values)  # type: ignore[arg-type]
        except PlansError as exc:
            raise PlansError(f"{where}.{exc}") from None
    return Catalogue(plans, str(path), default=default_plan)
