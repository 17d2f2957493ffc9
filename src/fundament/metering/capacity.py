"""Capacity planning: from measured throughput per worker to instances, HPA bounds and cost."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from fundament.metering.costmodel import CostModel
from fundament.metering.schemas import CapacityPlan

__all__ = [
    "MARGINAL_STEP",
    "MARGINAL_USERS",
    "PEAK_FACTOR",
    "Measurement",
    "hpa_manifest",
    "plan",
]

# HPA max replicas cover this multiple of the average load: the daily peak of business
# traffic (about 2-3x the average) or a burst, without paging anyone.
PEAK_FACTOR = 3
# Marginal cost per user is (cost(N × 1.1) − cost(N)) / (0.1 × N): the cost of the next 10%
# of users, averaged over them. A step of one user would read 0 almost everywhere because
# instances come in whole units; 10% is wide enough to see the step and small enough to be local.
MARGINAL_STEP = Fraction(1, 10)
MARGINAL_USERS = (1_000, 10_000, 100_000)

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_CENT = Decimal("0.01")
_UNIT = Decimal("0.0001")


@dataclass(frozen=True)
class Measurement:
    """What ``fundament bench capacity`` measured on one machine."""

    rps_per_worker: float  # sustained requests/s one worker serves ...
    p99_ms: float  # ... with this 99th percentile latency
    workers_per_instance: int
    measured_at: str  # ISO date, for the reader to judge staleness
    machine: str  # e.g. "c7g.large"; should match the model's instance type


def _exact(x: float | int | Decimal) -> Fraction:
    # Through str() so 0.6 is six tenths and ceil() never lands on the wrong side of a whole.
    return Fraction(Decimal(str(x)))


def _money(x: Fraction, unit: Decimal = _CENT) -> str:
    value = Decimal(x.numerator) / Decimal(x.denominator)
    return str(value.quantize(unit, rounding=ROUND_HALF_UP))


def _instances_for(rps: Fraction, usable_per_instance: Fraction, minimum: int) -> int:
    return max(minimum, math.ceil(rps / usable_per_instance))


def _fixed_cost(model: CostModel) -> Fraction:
    return sum((_exact(r.monthly_cost_eur) for r in model.resources if r.kind != "compute"), Fraction(0))


def _monthly_cost(users: Fraction, rpm: Fraction, usable: Fraction, model: CostModel) -> Fraction:
    instances = _instances_for(users * rpm / 60, usable, model.min_replicas)
    return instances * _exact(model.instance.monthly_cost_eur) + _fixed_cost(model)


def plan(
    users: int,
    requests_per_user_per_minute: float,
    p99_ms: float,
    measurement: Measurement,
    model: CostModel,
) -> CapacityPlan:
    """Instances, HPA bounds and monthly cost to serve ``users`` at ``p99_ms``.

    Load (req/s) = users × requests per user per minute / 60. One instance serves
    rps_per_worker × workers_per_instance × target_utilisation. Instances = that load's
    share rounded up, at least ``model.min_replicas``; HPA max covers ``PEAK_FACTOR`` × load.
    Cost = instances × instance price + every non-"compute" resource of the model as a fixed
    cost. A p99 below the measured one cannot be promised (``p99_feasible`` false). Money is
    a string with 2 decimals, per-user unit costs with 4. Raises ``ValueError`` for
    non-positive inputs.
    """
    if isinstance(users, bool) or not isinstance(users, int) or users < 1:
        raise ValueError(f"users must be a whole number >= 1, got {users!r}")
    for label, value in (
        ("requests_per_user_per_minute", requests_per_user_per_minute),
        ("p99_ms", p99_ms),
        ("rps_per_worker", measurement.rps_per_worker),
        ("measured p99_ms", measurement.p99_ms),
    ):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{label} must be a positive number, got {value!r}")
    if measurement.workers_per_instance < 1:
        raise ValueError(f"workers_per_instance must be >= 1, got {measurement.workers_per_instance}")

    rpm = _exact(requests_per_user_per_minute)
    load = users * rpm / 60
    per_instance = _exact(measurement.rps_per_worker) * measurement.workers_per_instance
    usable = per_instance * _exact(model.target_utilisation)
    instances = _instances_for(load, usable, model.min_replicas)
    hpa_max = max(instances, _instances_for(load * PEAK_FACTOR, usable, model.min_replicas))
    cpu_target = round(model.target_utilisation * 100)

    instance_price = _exact(model.instance.monthly_cost_eur)
    fixed = _fixed_cost(model)
    monthly = instances * instance_price + fixed

    notes: list[str] = []
    feasible = p99_ms >= measurement.p99_ms
    if not feasible:
        notes.append(
            f"A p99 of {p99_ms:g} ms cannot be promised: the measurement gives p99 {measurement.p99_ms:g} ms "
            f"at {measurement.rps_per_worker:g} req/s per worker. More instances lower utilisation but "
            "were not measured; measure at a lower load per worker to plan for this target."
        )
    if measurement.machine != model.instance.name:
        notes.append(
            f"Measured on {measurement.machine!r} but priced as {model.instance.name!r}: "
            "re-measure on the instance type you pay for."
        )
    if measurement.workers_per_instance != model.instance.workers:
        notes.append(
            f"Measured with {measurement.workers_per_instance} workers per instance; the cost model "
            f"runs {model.instance.workers}."
        )

    marginal = []
    for n in MARGINAL_USERS:
        more = Fraction(n) * (1 + MARGINAL_STEP)
        base_cost = _monthly_cost(Fraction(n), rpm, usable, model)
        more_cost = _monthly_cost(more, rpm, usable, model)
        marginal.append(
            {
                "users": n,
                "step_users": int(more - n),
                "monthly_cost_eur": _money(base_cost),
                "monthly_cost_after_step_eur": _money(more_cost),
                "marginal_cost_per_user_eur": _money((more_cost - base_cost) / (more - n), _UNIT),
            }
        )

    return CapacityPlan(
        users=users,
        requests_per_user_per_minute=requests_per_user_per_minute,
        load_rps=float(round(load, 3)),
        peak_rps=float(round(load * PEAK_FACTOR, 3)),
        peak_factor=PEAK_FACTOR,
        measurement={
            "rps_per_worker": measurement.rps_per_worker,
            "p99_ms": measurement.p99_ms,
            "workers_per_instance": measurement.workers_per_instance,
            "measured_at": measurement.measured_at,
            "machine": measurement.machine,
        },
        target_utilisation=model.target_utilisation,
        usable_rps_per_instance=float(round(usable, 3)),
        instances=instances,
        utilisation_at_load=float(round(load / (instances * per_instance), 4)),
        p99_target_ms=p99_ms,
        p99_feasible=feasible,
        hpa_min_replicas=instances,
        hpa_max_replicas=hpa_max,
        instance=model.instance.name,
        currency=model.currency,
        instance_monthly_cost_eur=_money(instance_price),
        compute_monthly_cost_eur=_money(instances * instance_price),
        fixed_monthly_cost_eur=_money(fixed),
        monthly_cost_eur=_money(monthly),
        cost_per_user_eur=_money(monthly / users, _UNIT),
        marginal_cost_per_user=marginal,
        marginal_method=(
            "(monthly cost at 1.1 × N users − monthly cost at N users) / (0.1 × N): what each of "
            "the next 10% of users adds. Instances come whole, so this is 0 until the next "
            "instance is needed and the fixed costs (database, load balancer, ...) add nothing."
        ),
        notes=notes,
        hpa=hpa_manifest("fundament", instances, hpa_max, cpu_target),
    )


def hpa_manifest(
    name: str, min_replicas: int, max_replicas: int, target_cpu_utilisation_pct: int
) -> dict[str, Any]:
    """An ``autoscaling/v2`` HorizontalPodAutoscaler for the ``fundament`` Deployment.

    One pod stands for one planned instance (same vCPUs and workers). Scaling down waits 300 s
    of lower load so a short dip does not drop capacity a spike needs next; scaling up may
    double the pods (or add 4) every 15 s. Raises ``ValueError`` for an invalid name or bounds.
    """
    if not _DNS_LABEL.fullmatch(name):
        raise ValueError(f"name must be a DNS-1123 label (lower case, digits, '-'), got {name!r}")
    if min_replicas < 1 or max_replicas < min_replicas:
        raise ValueError(f"need 1 <= min_replicas <= max_replicas, got {min_replicas}, {max_replicas}")
    if not 1 <= target_cpu_utilisation_pct <= 100:
        raise ValueError(f"target CPU utilisation must be 1..100 %, got {target_cpu_utilisation_pct}")
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/name": "fundament",
                "app.kubernetes.io/component": "api",
                "app.kubernetes.io/managed-by": "fundament-plan",
            },
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fundament"},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": target_cpu_utilisation_pct},
                    },
                }
            ],
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
                },
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [
                        {"type": "Percent", "value": 100, "periodSeconds": 15},
                        {"type": "Pods", "value": 4, "periodSeconds": 15},
                    ],
                },
            },
        },
    }
