"""FinOps: allocation, cost model, FOCUS import, the monthly report and capacity planning.

Pure computation: no database, no HTTP.
"""

from __future__ import annotations

import csv
import io
import json
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import kubernetes_validate
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundament.metering import capacity
from fundament.metering import report as reports
from fundament.metering.allocation import ALLOCATION_METHOD, allocate
from fundament.metering.capacity import PEAK_FACTOR, Measurement, hpa_manifest
from fundament.metering.costmodel import (
    DEFAULT_MODEL,
    DRIVERS,
    CostModel,
    CostModelError,
    Instance,
    Resource,
    load_cost_model,
)
from fundament.metering.focus import Charge, FocusError, costs_by_resource, parse_focus
from fundament.metering.report import (
    SHARED_FEATURE,
    FeatureUsage,
    TenantUsage,
    render_csv,
    render_table,
)


def build_report(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The report as the API answers it, in plain values."""
    answer: dict[str, Any] = msgspec.to_builtins(reports.build_report(*args, **kwargs))
    return answer


def plan(*args: Any) -> dict[str, Any]:
    """The capacity plan as the API answers it, in plain values."""
    answer: dict[str, Any] = msgspec.to_builtins(capacity.plan(*args))
    return answer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "cost-model.toml"
SAMPLE = Path(__file__).parent / "data" / "focus-sample.csv"


def cents(text: str) -> int:
    return int(Decimal(text) * 100)


# --- allocation -------------------------------------------------------------------------

keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=4)
weight = st.one_of(
    st.integers(min_value=0, max_value=10**12),
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=0, max_value=10**9, allow_nan=False, allow_infinity=False, places=3),
)
weights_st = st.dictionaries(keys, weight, min_size=1, max_size=12)
totals = st.integers(min_value=0, max_value=10**10)


def exact_shares(total: int, weights: dict) -> dict[str, Fraction]:
    exact = {k: Fraction(v) for k, v in weights.items()}
    whole = sum(exact.values())
    if whole == 0:
        return {k: Fraction(total, len(exact)) for k in exact}
    return {k: total * w / whole for k, w in exact.items()}


@given(totals, weights_st)
def test_allocation_conserves_every_cent_and_is_never_negative(total, weights):
    shares = allocate(total, weights)
    assert set(shares) == set(weights)
    assert sum(shares.values()) == total
    assert all(isinstance(s, int) and s >= 0 for s in shares.values())


@given(totals, weights_st)
def test_allocation_is_within_one_cent_of_the_exact_share(total, weights):
    shares = allocate(total, weights)
    for key, exact in exact_shares(total, weights).items():
        assert abs(shares[key] - exact) < 1
        # Largest remainder only ever rounds an exact share down or up, never further.
        assert shares[key] in (math.floor(exact), math.ceil(exact))


@given(totals, weights_st)
def test_allocation_is_deterministic_whatever_the_key_order(total, weights):
    reversed_weights = dict(reversed(list(weights.items())))
    assert allocate(total, weights) == allocate(total, reversed_weights) == allocate(total, weights)


def test_allocation_examples():
    # 100 cents in three equal parts: 33.33 each; the left-over cent goes to the first key.
    assert allocate(100, {"c": 1, "b": 1, "a": 1}) == {"a": 34, "b": 33, "c": 33}
    # Exact shares 7.5 and 2.5: both remainders are 0.5, the tie goes to "a".
    assert allocate(10, {"a": 3, "b": 1}) == {"a": 8, "b": 2}
    # Exact shares 6.6, 3.3, 0.1 -> floors 6, 3, 0 -> the cent goes to the largest remainder (a).
    assert allocate(10, {"a": Decimal("0.66"), "b": 0.33, "c": 0.01}) == {"a": 7, "b": 3, "c": 0}
    assert allocate(5, {"x": 0, "y": 0}) == {"x": 3, "y": 2}
    assert allocate(0, {}) == {}
    assert allocate(0, {"a": 5}) == {"a": 0}
    assert "largest remainder" in ALLOCATION_METHOD


@pytest.mark.parametrize(
    ("total", "weights", "message"),
    [
        (-1, {"a": 1}, "negative"),
        (10, {"a": -1, "b": 2}, "negative"),
        (10, {"a": float("nan")}, "not finite"),
        (10, {"a": float("inf")}, "not finite"),
        (10, {"a": Decimal("NaN")}, "not finite"),
        (10, {}, "nobody"),
        (1.5, {"a": 1}, "whole number"),
        (10, {"a": "3"}, "not a number"),
    ],
)
def test_allocation_refuses_bad_input(total, weights, message):
    with pytest.raises(ValueError, match=message):
        allocate(total, weights)


# --- cost model -------------------------------------------------------------------------


def test_default_cost_model_is_a_small_frankfurt_setup():
    model = load_cost_model(None)
    assert model is DEFAULT_MODEL
    assert model.source == "built-in"
    assert model.currency == "EUR"
    assert model.instance.name == "c7g.large"
    assert model.instances_running == 2
    assert model.target_utilisation == 0.6
    assert {r.driver for r in model.resources} == set(DRIVERS)
    assert all(r.monthly_cost_eur > 0 for r in model.resources)
    compute = [r for r in model.resources if r.kind == "compute"]
    assert (
        sum(r.monthly_cost_eur for r in compute) == model.instances_running * model.instance.monthly_cost_eur
    )


def test_example_file_is_exactly_the_default():
    model = load_cost_model(EXAMPLE)
    assert model == DEFAULT_MODEL
    assert model.source == str(EXAMPLE)
    # Same amounts to the cent, not only equal as numbers.
    for mine, default in zip(model.resources, DEFAULT_MODEL.resources, strict=True):
        assert mine.monthly_cost_eur.quantize(Decimal("0.01")) == default.monthly_cost_eur
        assert isinstance(mine.monthly_cost_eur, Decimal)


MINIMAL = """
currency = "EUR"
instances_running = 1

[instance]
name = "t4g.small"
monthly_cost_eur = 14.10
vcpus = 2
workers = 1

[[resources]]
name = "everything"
driver = "even"
monthly_cost_eur = 100
"""


def test_minimal_file_gets_defaults(tmp_path):
    path = tmp_path / "cost.toml"
    path.write_text(MINIMAL)
    model = load_cost_model(path)
    assert model == CostModel(
        currency="EUR",
        resources=(Resource("everything", Decimal(100), "even"),),
        instance=Instance("t4g.small", Decimal("14.10"), 2, 1),
        instances_running=1,
        target_utilisation=0.6,
        min_replicas=2,
    )
    assert model.resources[0].kind == "shared"


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ('driver = "even"', 'driver = "cpu"', "resources[0].driver", "unknown driver 'cpu'"),
        ("monthly_cost_eur = 100", "monthly_cost_eur = -5", "resources[0].monthly_cost_eur", "negative"),
        ("monthly_cost_eur = 100", 'monthly_cost_eur = "lots"', "resources[0].monthly_cost_eur", "amount"),
        ("vcpus = 2\n", "", "instance.vcpus", "missing required key"),
        ('currency = "EUR"\n', "", "currency", "missing required key"),
        ('driver = "even"', 'driver = "even"\ncolour = "red"', "resources[0].colour", "unknown key"),
        (
            "instances_running = 1",
            "instances_running = 1\ntarget_utilization = 0.5",
            "target_utilization",
            "unknown key",
        ),
        (
            "instances_running = 1",
            "instances_running = 1\ntarget_utilisation = 1.5",
            "target_utilisation",
            "0 < x <= 1",
        ),
        (
            "instances_running = 1",
            "instances_running = 1\ntarget_utilisation = 0",
            "target_utilisation",
            "0 < x <= 1",
        ),
        ("instances_running = 1", "instances_running = 0", "instances_running", "at least 1"),
        ("workers = 1", "workers = 1.5", "instance.workers", "whole number"),
        ('currency = "EUR"', 'currency = "euro"', "currency", "ISO 4217"),
        ('name = "everything"', 'name = "unmatched"', "resources[0].name", "reserved"),
    ],
)
def test_cost_model_errors_name_the_file_and_key(tmp_path, old, new, key, message):
    assert old in MINIMAL
    path = tmp_path / "cost.toml"
    path.write_text(MINIMAL.replace(old, new, 1))
    with pytest.raises(CostModelError, match=message) as caught:
        load_cost_model(path)
    assert str(caught.value).startswith(f"{path}: {key}: ")


def test_cost_model_refuses_duplicates(tmp_path):
    path = tmp_path / "cost.toml"
    twice = MINIMAL + '\n[[resources]]\nname = "everything"\ndriver = "requests"\nmonthly_cost_eur = 1\n'
    path.write_text(twice)
    with pytest.raises(CostModelError, match=r"resources\[1\]\.name: duplicate name"):
        load_cost_model(path)
    shared_service = (
        MINIMAL.replace('driver = "even"', 'driver = "even"\nservice_names = ["Amazon EC2"]')
        + '\n[[resources]]\nname = "other"\ndriver = "requests"\nmonthly_cost_eur = 1\n'
        'service_names = ["Amazon EC2"]\n'
    )
    path.write_text(shared_service)
    with pytest.raises(CostModelError, match="already billed to resource 'everything'"):
        load_cost_model(path)


def test_cost_model_unreadable_or_not_toml(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(CostModelError, match=f"^{missing}: cannot read"):
        load_cost_model(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("currency = \n")
    with pytest.raises(CostModelError, match=f"^{broken}: not valid TOML"):
        load_cost_model(broken)


# --- FOCUS import -----------------------------------------------------------------------


def test_sample_focus_file_parses():
    charges = parse_focus(SAMPLE.read_text())
    assert len(charges) == 18
    first = charges[0]
    assert first.service_name == "Amazon Elastic Compute Cloud"
    assert first.resource_id == "i-0a1b2c3d4e5f60001"
    assert first.billed_cost == Decimal("50.61")
    assert first.currency == "EUR"
    assert first.period_start.isoformat() == "2026-01-01T00:00:00+00:00"
    assert first.tags == {"user:app": "fundament"}
    assert charges[7].tags == {}  # empty Tags cell


def test_sample_focus_costs_by_resource_for_one_month():
    charges = parse_focus(SAMPLE.read_text())
    actual, unmatched = costs_by_resource(charges, DEFAULT_MODEL, "2026-01")
    assert actual == {
        "app-instances": Decimal("101.22"),  # 2 × 50.61
        "database": Decimal("243.80"),
        "storage": Decimal("29.91"),  # EBS 3.48 and RDS storage 25.31 by tag, S3 1.12 by service
        "load-balancer": Decimal("21.95"),
        "data-transfer": Decimal("11.40"),
        "cache": Decimal("23.27"),
        "nat-gateway": Decimal("36.04"),
        "monitoring": Decimal("24.66"),
        "support": Decimal("87.00"),
    }
    assert unmatched == Decimal("2.61")  # KMS: no resource lists it
    february, unmatched_feb = costs_by_resource(charges, DEFAULT_MODEL, "2026-02")
    assert february["app-instances"] == Decimal("91.42")
    assert february["storage"] == 0
    assert unmatched_feb == Decimal("2.36")
    assert costs_by_resource(charges, DEFAULT_MODEL, "2025-12") == (dict.fromkeys(actual, Decimal(0)), 0)


def test_focus_missing_columns_and_bad_rows():
    with pytest.raises(FocusError, match=r"missing column.*BilledCost"):
        parse_focus("ServiceName,ChargePeriodStart\nEC2,2026-01-01T00:00:00Z\n")
    with pytest.raises(FocusError, match="missing column"):
        parse_focus("")
    header = "BilledCost,ChargePeriodStart,ServiceName,Tags\n"
    good = "1.00,2026-01-01T00:00:00Z,EC2,\n"
    with pytest.raises(FocusError, match="line 3: BilledCost is not a number: 'abc'"):
        parse_focus(header + good + "abc,2026-01-01T00:00:00Z,EC2,\n")
    with pytest.raises(FocusError, match="line 2: ChargePeriodStart"):
        parse_focus(header + "1.00,January,EC2,\n")
    with pytest.raises(FocusError, match="line 2: ServiceName is empty"):
        parse_focus(header + "1.00,2026-01-01T00:00:00Z,,\n")
    with pytest.raises(FocusError, match="line 2: Tags"):
        parse_focus(header + '1.00,2026-01-01T00:00:00Z,EC2,"[1, 2]"\n')
    with pytest.raises(FocusError, match="line 2: ChargePeriodStart is not an RFC 3339 time: ''"):
        parse_focus(header + "1.00\n")  # short row
    # Only the required columns; a zone-less time is UTC; a BOM is ignored.
    (charge,) = parse_focus("\ufeffBilledCost,ChargePeriodStart,ServiceName\n-1.5,2026-01-31 23:00:00,EC2\n")
    assert charge.billed_cost == Decimal("-1.5")
    assert charge.period_start.isoformat() == "2026-01-31T23:00:00+00:00"
    assert (charge.currency, charge.resource_id, charge.tags) == ("", "", {})


def test_focus_month_is_taken_in_utc_and_currency_must_match():
    (charge,) = parse_focus(
        "BilledCost,ChargePeriodStart,ServiceName,BillingCurrency\n5,2026-02-01T00:30:00+01:00,AmazonCloudWatch,EUR\n"
    )
    assert costs_by_resource([charge], DEFAULT_MODEL, "2026-01")[0]["monitoring"] == 5
    dollars = Charge(charge.period_start, "AmazonCloudWatch", "", Decimal(5), "USD", {})
    with pytest.raises(FocusError, match="in USD but the cost model is in EUR"):
        costs_by_resource([dollars], DEFAULT_MODEL, "2026-01")
    with pytest.raises(FocusError, match="YYYY-MM"):
        costs_by_resource([], DEFAULT_MODEL, "2026-1")


def test_focus_tag_naming_no_resource_falls_back_to_the_service():
    start = parse_focus("BilledCost,ChargePeriodStart,ServiceName\n1,2026-01-01,X\n")[0].period_start
    typo = Charge(start, "Amazon ElastiCache", "", Decimal(3), "EUR", {"fundament-resource": "cahce"})
    actual, unmatched = costs_by_resource([typo], DEFAULT_MODEL, "2026-01")
    assert actual["cache"] == 3
    assert unmatched == 0


# --- report -----------------------------------------------------------------------------


def three_tenants() -> list[TenantUsage]:
    """The worked example of docs/finops.md."""
    get, post = (
        "GET /v1/tenants/{tenant}/collections/{name}/records/{record_id}",
        "POST /v1/tenants/{tenant}/collections/{name}/records",
    )
    return [
        TenantUsage(
            "tnt_01acme", "acme", "enterprise", Decimal("499.00"),
            [FeatureUsage(get, 800_000, 120, 4_000_000, 2_400_000, 160_000_000, 1_600_000_000),
             FeatureUsage(post, 200_000, 300, 3_000_000, 2_000_000, 400_000_000, 100_000_000)],
            stored_bytes=20_000_000_000, active_keys=12, active_users=180,
        ),
        TenantUsage(
            "tnt_02bolt", "bolt", "pro", Decimal("99.00"),
            [FeatureUsage(get, 150_000, 10, 750_000, 450_000, 30_000_000, 300_000_000),
             FeatureUsage(post, 30_000, 5, 450_000, 300_000, 60_000_000, 15_000_000)],
            stored_bytes=2_000_000_000, active_keys=3, active_users=25,
        ),
        TenantUsage(
            "tnt_03calm", "calm", "free", Decimal("0.00"),
            [FeatureUsage(get, 20_000, 40, 100_000, 60_000, 4_000_000, 40_000_000)],
            stored_bytes=50_000_000, active_keys=1, active_users=2,
        ),
    ]  # fmt: skip


def assert_conserves(report: dict) -> None:
    total = cents(report["total_cost_eur"])
    assert sum(cents(r["cost_eur"]) for r in report["resources"]) == total
    assert sum(cents(t["cost_eur"]) for t in report["tenants"]) + cents(report["unallocated_eur"]) == total
    assert sum(cents(f["cost_eur"]) for f in report["features"].values()) == total
    for resource in report["resources"]:
        shares = [cents(t["costs"][resource["name"]]) for t in report["tenants"]]
        assert all(s >= 0 for s in shares)
        if report["tenants"]:
            assert sum(shares) == cents(resource["cost_eur"])
    for t in report["tenants"]:
        assert sum(cents(c) for c in t["costs"].values()) == cents(t["cost_eur"])
        assert cents(t["revenue_eur"]) - cents(t["cost_eur"]) == cents(t["margin_eur"])


def test_report_worked_example():
    report = build_report("2026-01", DEFAULT_MODEL, three_tenants(), capacity_rps_per_worker=150)
    assert_conserves(report)
    assert report["cost_source"] == "estimate (cost model: built-in)"
    assert report["total_cost_eur"] == "576.04"
    assert report["total_revenue_eur"] == "598.00"
    assert report["total_margin_eur"] == "21.96"
    assert report["unallocated_eur"] == "0.00"
    acme, bolt, calm = report["tenants"]
    assert acme["usage"]["requests"] == 1_000_000
    assert acme["usage"]["stored_bytes"] == 20_000_000_000
    # Even-driven costs: 35.29 € NAT in three = 11.7633…: acme gets the left-over cent.
    assert [t["costs"]["nat-gateway"] for t in (acme, bolt, calm)] == ["11.77", "11.76", "11.76"]
    # Revenue-driven support (87.00 €) by plan price 499 : 99 : 0.
    assert [t["costs"]["support"] for t in (acme, bolt, calm)] == ["72.60", "14.40", "0.00"]
    assert calm["margin_pct"] is None
    assert calm["margin_eur"].startswith("-")
    assert acme["cost_per_active_key_eur"] == str((Decimal(acme["cost_eur"]) / 12).quantize(Decimal("0.01")))
    assert report["features"][SHARED_FEATURE]["cost_eur"] == "168.61"  # 28.40 + 35.29 + 17.92 + 87.00
    assert "largest remainder" in report["method"]
    assert "- stored_bytes:" in report["method"]
    json.dumps(report)  # JSON-ready as it is

    capacity = report["capacity"]
    # 150 req/s × 2 workers × 2 instances × 31 days × 86,400 s = 1,607,040,000 requests paid for;
    # 1,200,000 used: idle 1 − 1.2 M / 1,607 M = 0.99925 -> 0.9993 (rounded to 4 places).
    assert capacity["paid_capacity_requests"] == 1_607_040_000
    assert capacity["usable_capacity_requests"] == 964_224_000  # × 0.6
    assert capacity["used_requests"] == 1_200_000
    assert capacity["idle_share"] == 0.9993
    # Idle cost: 0.99925… × 103.64 compute = 103.56 (whole cents, rounded down).
    assert capacity["idle_cost_eur"] == "103.56"
    assert capacity["instances_suggested"] == 2  # min_replicas
    assert capacity["suggestion"].startswith("Keep 2 instances")


def test_report_from_focus_import_changes_the_allocation():
    estimate = build_report("2026-01", DEFAULT_MODEL, three_tenants())
    actual, unmatched = costs_by_resource(parse_focus(SAMPLE.read_text()), DEFAULT_MODEL, "2026-01")
    real = build_report(
        "2026-01", DEFAULT_MODEL, three_tenants(), actual_costs=actual, unmatched_eur=unmatched
    )
    assert_conserves(real)
    assert real["cost_source"] == "FOCUS import"
    assert real["total_cost_eur"] == "581.86"  # the January bill, KMS included
    assert real["total_cost_eur"] != estimate["total_cost_eur"]
    assert [r["name"] for r in real["resources"]][-1] == "unmatched"
    assert real["resources"][-1] == {
        "name": "unmatched",
        "kind": "shared",
        "driver": "even",
        "cost_eur": "2.61",
    }
    assert [t["costs"]["unmatched"] for t in real["tenants"]] == ["0.87", "0.87", "0.87"]
    # The figures quoted in docs/finops.md, section 8.
    assert [t["cost_eur"] for t in estimate["tenants"]] == ["459.49", "93.74", "22.81"]
    assert [t["cost_eur"] for t in real["tenants"]] == ["459.29", "96.42", "26.15"]
    assert [t["margin_eur"] for t in real["tenants"]] == ["39.71", "2.58", "-26.15"]
    assert real["tenants"][0]["costs"]["app-instances"] != estimate["tenants"][0]["costs"]["app-instances"]


def test_report_right_sizing_and_unknown_capacity():
    unknown = build_report("2026-02", DEFAULT_MODEL, three_tenants())
    assert unknown["capacity"]["idle_share"] is None
    assert "fundament bench capacity" in unknown["capacity"]["suggestion"]
    big = CostModel(
        currency="EUR",
        resources=DEFAULT_MODEL.resources,
        instance=DEFAULT_MODEL.instance,
        instances_running=5,
    )
    report = build_report("2026-02", big, three_tenants(), capacity_rps_per_worker=400)
    # February: 28 × 24 h. 1.2 M requests / 2,419,200 s = 0.496 req/s; peak ×3 = 1.49 req/s,
    # far below one instance's 480 req/s at 60 %: the two-instance floor is enough.
    assert report["capacity"]["instances_suggested"] == 2
    assert report["capacity"]["suggestion"].startswith("Run 2 instances instead of 5")
    assert "Saves about 155.46 EUR a month" in report["capacity"]["suggestion"]  # 3 × 51.82
    busy = [TenantUsage("t", "t", "pro", Decimal(99), [FeatureUsage("GET /x", 3_000_000_000, 0, 1, 1, 0, 0)])]
    crowded = build_report("2026-02", DEFAULT_MODEL, busy, capacity_rps_per_worker=400)
    # 3e9 / 2,419,200 s = 1240 req/s average, 3720 at peak; 3720 / 480 = 7.75 -> 8 instances.
    assert crowded["capacity"]["instances_suggested"] == 8
    assert crowded["capacity"]["suggestion"].startswith("Run 8 instances instead of 2")


def test_report_refuses_bad_input():
    tenants = three_tenants()
    with pytest.raises(ValueError, match="YYYY-MM"):
        build_report("January", DEFAULT_MODEL, tenants)
    with pytest.raises(ValueError, match="not in the cost model: gpu"):
        build_report("2026-01", DEFAULT_MODEL, tenants, actual_costs={"gpu": Decimal(1)})
    with pytest.raises(ValueError, match="negative net cost"):
        build_report("2026-01", DEFAULT_MODEL, tenants, actual_costs={"cache": Decimal("-3")})
    with pytest.raises(ValueError, match="unique"):
        build_report("2026-01", DEFAULT_MODEL, tenants + tenants[:1])
    with pytest.raises(ValueError, match="capacity_rps_per_worker"):
        build_report("2026-01", DEFAULT_MODEL, tenants, capacity_rps_per_worker=0)
    with pytest.raises(ValueError, match="hours_in_month"):
        build_report("2026-01", DEFAULT_MODEL, tenants, hours_in_month=0)
    # An explicit month length (e.g. a partial month) changes only the capacity figures.
    half = build_report("2026-01", DEFAULT_MODEL, tenants, capacity_rps_per_worker=150, hours_in_month=372)
    assert half["capacity"]["paid_capacity_requests"] == 1_607_040_000 // 2


def test_report_without_tenants_keeps_the_cost_visible():
    report = build_report("2026-01", DEFAULT_MODEL, [])
    assert_conserves(report)
    assert report["unallocated_eur"] == report["total_cost_eur"] == "576.04"
    assert report["features"][SHARED_FEATURE]["cost_eur"] == "576.04"
    assert "Unallocated" in render_table(report)


def test_report_prorates_a_tenant_created_during_the_month():
    # "pro" (99.00) existed the whole month, "new" (99.00) from the 22nd of 31 days: 10/31.
    whole = TenantUsage("t1", "old", "pro", Decimal("99.00"))
    late = TenantUsage("t2", "new", "pro", Decimal("99.00"), existed_share=Fraction(10, 31))
    report = build_report("2026-01", DEFAULT_MODEL, [whole, late])
    assert_conserves(report)
    old, new = report["tenants"]
    assert (old["existed_share"], new["existed_share"]) == (1.0, round(10 / 31, 4))
    assert new["revenue_eur"] == "31.94"  # 99 × 10/31 = 31.935…, half up
    assert report["total_revenue_eur"] == "130.94"
    # NAT gateway (35.29, even) by 31 : 10 -> 26.68 / 8.61
    assert [t["costs"]["nat-gateway"] for t in (old, new)] == ["26.68", "8.61"]
    assert report["unallocated_note"] is None
    with pytest.raises(ValueError, match="existed_share"):
        build_report(
            "2026-01", DEFAULT_MODEL, [TenantUsage("t", "t", "pro", Decimal(1), existed_share=Fraction(0))]
        )


def test_report_with_no_usage_splits_usage_costs_evenly():
    idle = [TenantUsage(f"t{i}", f"t{i}", "free", Decimal(0)) for i in range(3)]
    report = build_report("2026-01", DEFAULT_MODEL, idle)
    assert_conserves(report)
    assert [t["costs"]["database"] for t in report["tenants"]] == ["83.41", "83.41", "83.41"]


feature_usage = st.builds(
    FeatureUsage,
    feature=st.sampled_from(["GET /a", "POST /a", "GET /b/{id}", "DELETE /b/{id}"]),
    requests=st.integers(0, 10**7),
    errors=st.integers(0, 100),
    server_ms=st.floats(0, 1e9, allow_nan=False),
    db_ms=st.floats(0, 1e9, allow_nan=False),
    bytes_in=st.integers(0, 10**9),
    bytes_out=st.integers(0, 10**9),
)
tenant_usage = st.builds(
    TenantUsage,
    tenant_id=st.text("abcdefgh", min_size=1, max_size=6),
    slug=st.just("s"),
    plan=st.sampled_from(["free", "pro", "enterprise"]),
    monthly_price_eur=st.decimals(0, 10_000, places=2),
    features=st.lists(feature_usage, max_size=4),
    stored_bytes=st.integers(0, 10**12),
    active_keys=st.integers(0, 50),
    active_users=st.integers(0, 500),
)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(tenant_usage, max_size=6, unique_by=lambda t: t.tenant_id),
    st.dictionaries(
        st.sampled_from([r.name for r in DEFAULT_MODEL.resources]), st.decimals(0, 10_000, places=4)
    ),
    st.decimals(0, 100, places=2),
)
def test_report_totals_conserve_to_the_cent(tenants, actual, unmatched):
    assert_conserves(build_report("2026-03", DEFAULT_MODEL, tenants))
    assert_conserves(
        build_report("2026-03", DEFAULT_MODEL, tenants, actual_costs=actual, unmatched_eur=unmatched)
    )


def test_report_renders_as_table_and_csv():
    report = build_report("2026-01", DEFAULT_MODEL, three_tenants(), capacity_rps_per_worker=150)
    table = render_table(report)
    assert "FinOps report 2026-01" in table
    assert "Total cost 576.04  revenue 598.00  margin 21.96" in table
    assert "acme" in table and "(shared)" in table and "Keep 2 instances" in table
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("tenant  plan"))
    assert len(lines[header]) == len(lines[header + 1])  # the dashes line up with the header

    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert len(rows) == 3 * (len(DEFAULT_MODEL.resources) + 1) + 1
    per_tenant = [r for r in rows if r["resource"] not in ("TOTAL",)]
    assert sum(cents(r["cost_eur"]) for r in per_tenant) == cents("576.04")
    grand = rows[-1]
    assert (grand["tenant_id"], grand["cost_eur"], grand["revenue_eur"], grand["margin_eur"]) == (
        "TOTAL", "576.04", "598.00", "21.96",
    )  # fmt: skip
    acme_total = next(r for r in rows if r["slug"] == "acme" and r["resource"] == "TOTAL")
    assert acme_total["cost_eur"] == report["tenants"][0]["cost_eur"]
    assert {r["driver"] for r in per_tenant} == set(DRIVERS)


# --- capacity planning ------------------------------------------------------------------

MEASURED = Measurement(
    rps_per_worker=150, p99_ms=80, workers_per_instance=2, measured_at="2026-11-25", machine="c7g.large"
)


def test_planner_matches_a_hand_calculation():
    result = plan(10_000, 6, 250, MEASURED, DEFAULT_MODEL)
    # Load: 10,000 users × 6 requests/minute / 60 = 1,000 req/s.
    assert result["load_rps"] == 1000
    # One instance: 150 req/s per worker × 2 workers × 0.6 target utilisation = 180 req/s.
    assert result["usable_rps_per_instance"] == 180
    # Instances: 1,000 / 180 = 5.56 -> 6 (more than the minimum of 2).
    assert result["instances"] == result["hpa_min_replicas"] == 6
    # HPA max: 3 × 1,000 = 3,000 req/s; 3,000 / 180 = 16.67 -> 17.
    assert PEAK_FACTOR == 3
    assert result["hpa_max_replicas"] == 17
    # Utilisation at load: 1,000 / (6 × 300) = 0.5556.
    assert result["utilisation_at_load"] == 0.5556
    # Compute: 6 × 51.82 = 310.92. Fixed (everything but app-instances):
    # 250.23 + 28.40 + 22.23 + 7.83 + 23.50 + 35.29 + 17.92 + 87.00 = 472.40.
    assert result["compute_monthly_cost_eur"] == "310.92"
    assert result["fixed_monthly_cost_eur"] == "472.40"
    # Monthly: 310.92 + 472.40 = 783.32; per user 783.32 / 10,000 = 0.0783.
    assert result["monthly_cost_eur"] == "783.32"
    assert result["cost_per_user_eur"] == "0.0783"
    assert result["p99_feasible"] is True
    assert result["notes"] == []
    # Marginal, (cost(1.1 N) − cost(N)) / 0.1 N:
    #   1,000 -> 1,100 users: 100 and 110 req/s, both within the 2-instance floor: 0.
    #  10,000 -> 11,000: 1,100 req/s / 180 = 6.11 -> 7 instances: +51.82 / 1,000 = 0.0518.
    # 100,000 -> 110,000: 10,000 / 180 = 55.6 -> 56; 11,000 / 180 = 61.1 -> 62:
    #   +6 × 51.82 = 310.92 / 10,000 = 0.0311. Cost at 100,000: 56 × 51.82 + 472.40 = 3,374.32.
    marginal = {m["users"]: m for m in result["marginal_cost_per_user"]}
    assert marginal[1_000]["marginal_cost_per_user_eur"] == "0.0000"
    assert marginal[1_000]["monthly_cost_eur"] == "576.04"  # 2 × 51.82 + 472.40
    assert marginal[10_000]["step_users"] == 1_000
    assert marginal[10_000]["marginal_cost_per_user_eur"] == "0.0518"
    assert marginal[100_000]["monthly_cost_eur"] == "3374.32"
    assert marginal[100_000]["monthly_cost_after_step_eur"] == "3685.24"
    assert marginal[100_000]["marginal_cost_per_user_eur"] == "0.0311"
    assert (
        plan(100_000, 6, 250, MEASURED, DEFAULT_MODEL)["cost_per_user_eur"] == "0.0337"
    )  # 3,374.32 / 100,000
    assert result["hpa"]["spec"]["minReplicas"] == 6
    assert result["hpa"]["spec"]["maxReplicas"] == 17
    assert result["hpa"]["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60


def test_planner_keeps_the_minimum_and_exact_boundaries():
    # 360 req/s is exactly 2 × 180: two instances, not three (no float rounding up).
    assert plan(3_600, 6, 100, MEASURED, DEFAULT_MODEL)["instances"] == 2
    assert plan(3_601, 6, 100, MEASURED, DEFAULT_MODEL)["instances"] == 3
    tiny = plan(1, 0.1, 100, MEASURED, DEFAULT_MODEL)
    assert tiny["instances"] == tiny["hpa_max_replicas"] == DEFAULT_MODEL.min_replicas


def test_planner_says_when_a_p99_cannot_be_promised():
    other = Measurement(150, 80, 4, "2026-11-25", "laptop")
    result = plan(10_000, 6, 50, other, DEFAULT_MODEL)
    assert result["p99_feasible"] is False
    assert "cannot be promised" in result["notes"][0]
    assert "re-measure" in result["notes"][1]
    assert "4 workers" in result["notes"][2]
    with pytest.raises(ValueError, match="users"):
        plan(0, 6, 50, MEASURED, DEFAULT_MODEL)
    with pytest.raises(ValueError, match="requests_per_user_per_minute"):
        plan(10, -1, 50, MEASURED, DEFAULT_MODEL)


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_hpa_manifest_is_a_valid_kubernetes_object(version):
    manifest = plan(10_000, 6, 250, MEASURED, DEFAULT_MODEL)["hpa"]
    kubernetes_validate.validate(manifest, version, strict=True)
    assert manifest["apiVersion"] == "autoscaling/v2"
    assert manifest["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fundament",
    }
    assert manifest["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_hpa_schema_catches_a_broken_manifest():
    manifest = hpa_manifest("fundament", 2, 5, 60)
    manifest["spec"]["maxReplicas"] = "five"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, "1.30", strict=True)
    manifest = hpa_manifest("fundament", 2, 5, 60)
    manifest["spec"]["typo"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, "1.30", strict=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [(("Fundament", 2, 5, 60), "DNS-1123"), (("f", 0, 5, 60), "min_replicas"), (("f", 6, 5, 60), "min_replicas"),
     (("f", 2, 5, 0), "1..100")],
)  # fmt: skip
def test_hpa_manifest_refuses_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        hpa_manifest(*args)
