"""Split an amount of cents between parties so the shares add up exactly."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

__all__ = ["ALLOCATION_METHOD", "allocate"]

ALLOCATION_METHOD = (
    "Each cost on the bill is split between tenants in proportion to one measure of use (its "
    "driver): for example the database bill by the database time each tenant's requests took. "
    "Exact shares are worked out in fractions of a cent, then rounded by the largest remainder "
    "method: every tenant first gets its share rounded down to the cent, and the cents left over "
    "go one each to the tenants whose shares lost most in rounding down (ties in tenant-id "
    "order). So the shares always add up to the bill to the cent, none is negative, and each is "
    "within one cent of its exact proportional value. A cost whose driver nobody used this month "
    "is split evenly."
)


Weight = float | int | Decimal | Fraction


def _weight(key: str, value: Weight) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | Fraction):
        raise ValueError(f"weight of {key!r} is not a number: {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"weight of {key!r} is not finite: {value!r}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"weight of {key!r} is not finite: {value!r}")
    exact = Fraction(value)
    if exact < 0:
        raise ValueError(f"weight of {key!r} is negative: {value!r}")
    return exact


def allocate(total_cents: int, weights: Mapping[str, Weight]) -> dict[str, int]:
    """Split ``total_cents`` in proportion to ``weights`` (largest remainder / Hamilton method).

    The result has the same keys; every value is >= 0 and they sum to ``total_cents`` exactly;
    each differs from its exact share by less than one cent. Leftover cents go to the largest
    fractional remainders, ties to the smaller key in sorted order, so the result depends only
    on the input. All-zero weights split evenly. Raises ``ValueError`` for a negative total, a
    negative, NaN or infinite weight, or a non-zero total with no keys.
    """
    if isinstance(total_cents, bool) or not isinstance(total_cents, int):
        raise ValueError(f"total_cents must be a whole number of cents, got {total_cents!r}")
    if total_cents < 0:
        raise ValueError(f"total_cents must not be negative, got {total_cents}")
    keys = sorted(weights)
    exact = {k: _weight(k, weights[k]) for k in keys}
    if not keys:
        if total_cents:
            raise ValueError(f"cannot allocate {total_cents} cents to nobody")
        return {}
    total_weight = sum(exact.values(), Fraction(0))
    if total_weight == 0:
        exact = {k: Fraction(1) for k in keys}
        total_weight = Fraction(len(keys))
    # Fractions, not floats: a float share like 0.1 * 3 can floor to the wrong cent.
    quotas = {k: total_cents * w / total_weight for k, w in exact.items()}
    shares = {k: math.floor(q) for k, q in quotas.items()}
    left = total_cents - sum(shares.values())
    position = {k: i for i, k in enumerate(keys)}
    by_remainder = sorted(keys, key=lambda k: (-(quotas[k] - shares[k]), position[k]))
    for k in by_remainder[:left]:
        shares[k] += 1
    return shares
