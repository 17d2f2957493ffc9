"""Plans: what a tenant may do (rate, burst, quotas) and what it pays.

One TOML file, named by ``FUNDAMENT_PLANS``, is read by the limits module (rates and
quotas) and by FinOps (prices); without it the built-in catalogue below applies::

    [plans.free]
    requests_per_minute = 3000
    burst = 300
    max_records = 100000
    max_stored_bytes = 104857600
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


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    #: Sustained rate over a sliding minute.
    requests_per_minute: int
    #: Most requests in any one second: how sharp a spike may be.
    burst: int
    max_records: int
    max_stored_bytes: int
    monthly_price_eur: Decimal

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "requests_per_minute": self.requests_per_minute,
            "burst": self.burst,
            "max_records": self.max_records,
            "max_stored_bytes": self.max_stored_bytes,
            "monthly_price_eur": str(self.monthly_price_eur),
        }


_MIB = 1024 * 1024
# Defaults sized so that an ordinary client (a test suite, a batch import) does not trip
# them while a runaway loop does; operators set their own in FUNDAMENT_PLANS.
BUILTIN: dict[str, Plan] = {
    "free": Plan("free", 3_000, 300, 100_000, 100 * _MIB, Decimal("0")),
    "pro": Plan("pro", 30_000, 1_500, 5_000_000, 10 * 1024 * _MIB, Decimal("99")),
    "enterprise": Plan("enterprise", 300_000, 10_000, 500_000_000, 1024 * 1024 * _MIB, Decimal("990")),
}

_INT_FIELDS = ("requests_per_minute", "burst", "max_records", "max_stored_bytes")


class Catalogue(Mapping[str, Plan]):
    """The plans in force, by name; ``source`` says where they came from."""

    def __init__(self, plans: Mapping[str, Plan], source: str) -> None:
        self._plans = dict(plans)
        self.source = source

    def __getitem__(self, name: str) -> Plan:
        return self._plans[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)


def load_plans(path: str | Path | None) -> Catalogue:
    """Read the plans file, or the built-in catalogue when ``path`` is None."""
    if path is None:
        return Catalogue(BUILTIN, "built-in")
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
        missing = expected - table.keys()
        extra = table.keys() - expected
        if missing or extra:
            raise PlansError(f"{where}: missing {sorted(missing)}, unknown {sorted(extra)}.")
        values: dict[str, object] = {}
        for key in _INT_FIELDS:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PlansError(f"{where}.{key} must be a positive integer, not {value!r}.")
            values[key] = value
        try:
            price = Decimal(str(table["monthly_price_eur"]))
        except InvalidOperation as exc:
            raise PlansError(f"{where}.monthly_price_eur must be a number.") from exc
        if not price.is_finite() or price < 0:
            raise PlansError(f"{where}.monthly_price_eur must be zero or more.")
        plans[name] = Plan(name=name, monthly_price_eur=price, **values)  # type: ignore[arg-type]
    return Catalogue(plans, str(path))
