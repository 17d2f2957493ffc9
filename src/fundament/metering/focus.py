"""Read a FinOps FOCUS cost export (CSV) and total it per cost-model resource.

FOCUS (https://focus.finops.org, version 1.x) is the common column layout cloud providers use
for cost exports (AWS "FOCUS 1.0 with AWS columns", Azure, Google Cloud). Only the columns
below are read; others are ignored.

Required: ``BilledCost``, ``ChargePeriodStart``, ``ServiceName``.
Optional: ``BillingCurrency``, ``ResourceId``, ``Tags`` (a JSON object).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from fundament.metering.costmodel import CostModel

__all__ = ["RESOURCE_TAG", "Charge", "FocusError", "costs_by_resource", "parse_focus"]

# A bill line tagged with this key goes to the named resource whatever its ServiceName. It is
# needed where one AWS service holds several resources (EBS volumes are billed under EC2).
RESOURCE_TAG = "fundament-resource"
# AWS exports user-defined cost allocation tags with this prefix.
_TAG_KEYS = (RESOURCE_TAG, f"user:{RESOURCE_TAG}")

_REQUIRED = ("BilledCost", "ChargePeriodStart", "ServiceName")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


class FocusError(ValueError):
    """The export is not a readable FOCUS CSV; the message names the line."""


@dataclass(frozen=True)
class Charge:
    """One FOCUS row."""

    period_start: datetime  # timezone-aware, UTC
    service_name: str
    resource_id: str
    billed_cost: Decimal  # may be negative (credits, refunds)
    currency: str  # "" when the export has no BillingCurrency column
    tags: dict[str, str] = field(default_factory=dict)


def _parse_time(value: str) -> datetime:
    # FOCUS writes RFC 3339 ("2026-01-01T00:00:00Z"); some exports use a space or omit the zone,
    # in which case the time is UTC (FOCUS requires UTC).
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_tags(value: str) -> dict[str, str]:
    if not value.strip():
        return {}
    parsed = json.loads(value)
    if not isinstance(parsed, dict):
        raise ValueError("Tags must be a JSON object")
    # FOCUS allows key-only tags (null value); keep them as "".
    return {str(k): "" if v is None else str(v) for k, v in parsed.items()}


def parse_focus(text: str) -> list[Charge]:
    """Parse FOCUS CSV text into charges.

    Raises :class:`FocusError` if a required column is missing, or naming the line of a row
    whose cost, time or tags cannot be read.
    """
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    columns = reader.fieldnames or []
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise FocusError(f"not a FOCUS export: missing column(s) {', '.join(missing)}")
    charges: list[Charge] = []
    for row in reader:
        line = reader.line_num
        try:
            cost = Decimal(row["BilledCost"].strip())
            if not cost.is_finite():
                raise InvalidOperation
        except (InvalidOperation, AttributeError):
            raise FocusError(f"line {line}: BilledCost is not a number: {row['BilledCost']!r}") from None
        try:
            start = _parse_time(row["ChargePeriodStart"] or "")
        except ValueError:
            raise FocusError(
                f"line {line}: ChargePeriodStart is not an RFC 3339 time: {row['ChargePeriodStart'] or ''!r}"
            ) from None
        service = (row["ServiceName"] or "").strip()
        if not service:
            raise FocusError(f"line {line}: ServiceName is empty")
        try:
            tags = _parse_tags(row.get("Tags") or "")
        except ValueError as e:
            raise FocusError(f"line {line}: Tags is not a JSON object: {e}") from None
        charges.append(
            Charge(
                period_start=start,
                service_name=service,
                resource_id=(row.get("ResourceId") or "").strip(),
                billed_cost=cost,
                currency=(row.get("BillingCurrency") or "").strip(),
                tags=tags,
            )
        )
    return charges


def costs_by_resource(
    charges: Iterable[Charge], model: CostModel, month: str
) -> tuple[dict[str, Decimal], Decimal]:
    """Total the charges of ``month`` ("YYYY-MM", by ChargePeriodStart in UTC) per resource.

    A charge goes to the resource named by its ``fundament-resource`` tag (or AWS's
    ``user:fundament-resource``), else to the resource listing its ServiceName, else it is
    unmatched; a tag naming no model resource is ignored. Returns every model resource's actual cost
    (0 where the bill has nothing) and the unmatched total. The report shows unmatched cost as
    its own line, "unmatched", split evenly between tenants: money on the bill is never dropped.
    Raises :class:`FocusError` for a bad month or a charge in another currency than the model.
    """
    if not _MONTH.fullmatch(month):
        raise FocusError(f"month must be YYYY-MM, got {month!r}")
    names = {r.name for r in model.resources}
    by_service = {s: r.name for r in model.resources for s in r.service_names}
    totals = {r.name: Decimal(0) for r in model.resources}
    unmatched = Decimal(0)
    for charge in charges:
        if charge.period_start.astimezone(UTC).strftime("%Y-%m") != month:
            continue
        if charge.currency and charge.currency != model.currency:
            # No exchange rates here: a converted bill would be an estimate again.
            raise FocusError(
                f"a charge for {charge.service_name!r} is in {charge.currency} but the cost model is in "
                f"{model.currency}; export the bill in {model.currency} or convert it first"
            )
        tagged = next((charge.tags[k] for k in _TAG_KEYS if k in charge.tags), "")
        target = tagged if tagged in names else by_service.get(charge.service_name)
        if target is None:
            unmatched += charge.billed_cost
        else:
            totals[target] += charge.billed_cost
    return totals, unmatched
