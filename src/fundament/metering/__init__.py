"""Usage per tenant and feature, the cost model, cost and margin reports, capacity planning."""

from __future__ import annotations

from typing import Any

from fundament.metering.meter import UsageMeter
from fundament.platform import Database

__all__ = ["UsageMeter", "install"]


def install(app: Any, *, db: Database, meter: UsageMeter | None) -> None:
    """Mount the usage and FinOps routes; ``meter`` observes every request (None: off)."""
    from fundament.metering.api import router

    app.state.meter = meter
    app.include_router(router)
