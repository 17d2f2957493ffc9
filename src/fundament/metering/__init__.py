"""Usage per tenant and feature, the cost model, cost and margin reports, capacity planning."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

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
from fundament.metering.usage import latest_stored_bytes
from fundament.platform import Database
from fundament.tenancy import Catalogue

__all__ = [
    "MONTH",
    "REFERENCE",
    "CostModel",
    "CostModelError",
    "FocusError",
    "Measurement",
    "Needs",
    "UsageMeter",
    "current_month",
    "hpa_manifest",
    "import_charges",
    "install",
    "latest_measurement",
    "latest_stored_bytes",
    "load_cost_model",
    "month_report",
    "parse_focus",
    "plan",
    "render_csv",
    "render_table",
    "store_measurement",
]


class Needs(Protocol):
    """What the usage and FinOps routes read from the services object."""

    @property
    def meter(self) -> UsageMeter | None:
        """Flushed before a report so it includes the last requests (None: metering is off)."""
        ...

    @property
    def cost_model(self) -> CostModel: ...

    @property
    def plans(self) -> Catalogue:
        """Revenue per tenant comes from its plan's price."""
        ...


def install(app: Any, *, db: Database, cost_model: str | Path | None) -> CostModel:
    """Mount the usage and FinOps routes; return the cost model loaded from ``cost_model``
    (None: the built-in one), for the services object."""
    from fundament.metering.api import router

    app.include_router(router)
    return load_cost_model(cost_model)
