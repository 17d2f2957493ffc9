"""Response shapes of usage, the FinOps report and the capacity plan (msgspec Structs, which
encode them). The CLI and the benches read the same Structs as plain values
(``msgspec.to_builtins``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from fundament.platform import Timestamp


class UsageFigures(Struct, frozen=True):
    requests: int
    errors: Annotated[int, Meta(description="Answers with status 4xx or 5xx.")]
    server_errors: Annotated[int, Meta(description="Answers with status 5xx.")]
    server_ms: Annotated[float, Meta(description="Server time, milliseconds.")]
    db_ms: Annotated[
        float, Meta(description="Database time (transactions, pool wait included), milliseconds.")
    ]
    bytes_in: int
    bytes_out: int
    p99_ms: Annotated[
        float | None,
        Meta(
            description="99th percentile of server time, milliseconds, from a fixed-bucket histogram "
            "(interpolated within its bucket); null without measured requests."
        ),
    ]


class FeatureUsage(UsageFigures, frozen=True):
    feature: Annotated[
        str, Meta(examples=["GET /v1/tenants/{tenant}/collections/{name}/records/{record_id}"])
    ]


class UsageBucket(UsageFigures, frozen=True):
    start: Timestamp
    stored_bytes: Annotated[int | None, Meta(description="Last storage sample in this bucket, if any.")]
    records: int | None
    features: list[FeatureUsage]


class Usage(Struct, frozen=True):
    tenant_id: str
    from_: Timestamp = msgspec.field(name="from")
    to: Timestamp
    granularity: Literal["hour", "day"]
    totals: UsageFigures
    stored_bytes: Annotated[int, Meta(description="Latest measurement of the tenant's stored record bytes.")]
    records: int
    storage_measured_at: Timestamp | None
    features: list[FeatureUsage]
    buckets: list[UsageBucket]


# `capacity_measurement` is UNSET (left out) until the report is given the measurement.
class FinopsReport(Struct, frozen=True):
    month: str
    currency: str
    cost_source: str
    method: Annotated[str, Meta(description="How costs were split, in plain words.")]
    total_cost_eur: str
    total_revenue_eur: str
    total_margin_eur: str
    unallocated_eur: str
    unallocated_note: str | None
    resources: list[dict[str, Any]]
    tenants: list[dict[str, Any]]
    features: dict[str, Any]
    teams: Annotated[
        dict[str, Any],
        Meta(
            description="Cost per owning team (the cost model's [[teams]]); features no team claims are "
            "'unassigned', costs no feature causes '(shared)'. Adds up to total_cost_eur."
        ),
    ]
    capacity: dict[str, Any]
    capacity_measurement: dict[str, Any] | UnsetType = UNSET


class CapacityPlan(Struct, frozen=True):
    users: int
    requests_per_user_per_minute: float
    load_rps: float
    peak_rps: float
    peak_factor: int
    measurement: dict[str, Any]
    target_utilisation: float
    usable_rps_per_instance: float
    instances: int
    utilisation_at_load: float
    p99_target_ms: float
    p99_feasible: bool
    hpa_min_replicas: int
    hpa_max_replicas: int
    instance: str
    currency: str
    instance_monthly_cost_eur: str
    compute_monthly_cost_eur: str
    fixed_monthly_cost_eur: str
    monthly_cost_eur: str
    cost_per_user_eur: str
    marginal_cost_per_user: list[dict[str, Any]]
    marginal_method: str
    notes: list[str]
    hpa: Annotated[dict[str, Any], Meta(description="A HorizontalPodAutoscaler (autoscaling/v2) manifest.")]
