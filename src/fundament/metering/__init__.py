"""Usage per tenant and feature, the cost model, cost and margin reports, capacity planning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fundament.metering.capacity import Measurement, hpa_manifest, plan
from fundament.metering.costmodel import CostModel, CostModelError, load_cost_model
from fundament.metering.finops import (
    MONTH,
    REFERENCE,
    current_month,
    import_charges,
    latest_measurement,
    month_report,
    store_measurement,
)
from fundament.metering.focus import FocusError, parse_focus
from fundament.metering.meter import UsageMeter
from fundament.metering.report import render_csv, render_table
from fundament.platform import Database

__all__ = [
    "MONTH",
    "REFERENCE",
    "CostModel",
    "CostModelError",
    "FocusError",
    "Measurement",
    "UsageMeter",
    "current_month",
    "hpa_manifest",
    "import_charges",
    "install",
    "latest_measurement",
    "load_cost_model",
    "month_report",
    "parse_focus",
    "plan",
    "render_csv",
    "render_table",
    "store_measurement",
]


def install(app: Any, *, db: Database, meter: UsageMeter | None, cost_model: str | Path | None) -> None:
    """Mount the usage and FinOps routes; ``meter`` observes every request (None: off)."""
    from fundament.metering.api import router

    app.state.meter = meter
    app.state.cost_model = load_cost_model(cost_model)
    app.include_router(router)
