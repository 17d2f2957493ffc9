"""The FinOps commands end to end, against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).parent / "data" / "focus-sample.csv"


def _run(admin_dsn: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDAMENT_")}
    env.update(FUNDAMENT_DATABASE_URL=admin_dsn, FUNDAMENT_MASTER_KEY="test-master-key")
    return subprocess.run(
        [sys.executable, "-m", "fundament.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=check,
    )


def _report(admin_dsn: str, month: str) -> dict[str, Any]:
    return json.loads(_run(admin_dsn, "finops", "report", "--month", month, "--format", "json").stdout)


def test_import_focus_replaces_the_estimate(admin_dsn: str) -> None:
    month = "2026-01"  # the sample bill's first month
    before = _report(admin_dsn, month)
    assert before["cost_source"].startswith("estimate")
    out = json.loads(_run(admin_dsn, "finops", "import-focus", str(SAMPLE)).stdout)
    assert out["charges"] > 0 and month in out["months"]
    after = _report(admin_dsn, month)
    assert after["cost_source"].startswith("FOCUS")
    assert after["total_cost_eur"] != before["total_cost_eur"]
    # Importing the same bill again replaces it; nothing is counted twice.
    _run(admin_dsn, "finops", "import-focus", str(SAMPLE))
    assert _report(admin_dsn, month)["total_cost_eur"] == after["total_cost_eur"]
    table = _run(admin_dsn, "finops", "report", "--month", month).stdout
    assert "margin" in table.lower()
    # Cost per team, in the JSON and as the table's "Teams" section, the imported bill included.
    teams = after["teams"]
    assert {"unassigned", "(shared)"} <= set(teams)
    assert sum(int(t["cost_eur"].replace(".", "")) for t in teams.values()) == int(
        after["total_cost_eur"].replace(".", "")
    )
    assert "\nTeams\nteam " in table and "\n(shared) " in table
    csv = _run(admin_dsn, "finops", "report", "--month", month, "--format", "csv").stdout
    assert csv.splitlines()[0].count(",") >= 3


def test_report_of_a_month_before_any_tenant_allocates_nothing(admin_dsn: str) -> None:
    report = _report(admin_dsn, "2020-01")
    assert report["tenants"] == [] and report["total_revenue_eur"] == "0.00"
    assert report["unallocated_eur"] == report["total_cost_eur"] != "0.00"
    table = _run(admin_dsn, "finops", "report", "--month", "2020-01").stdout
    assert f"Unallocated: {report['unallocated_eur']} EUR. No tenant existed in this month" in table


def test_import_focus_refuses_a_broken_file(admin_dsn: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("BilledCost,ServiceName\n1,EC2\n")
    result = _run(admin_dsn, "finops", "import-focus", str(bad), check=False)
    assert result.returncode == 2 and "ChargePeriodStart" in result.stderr


def test_plan_prints_a_valid_hpa(admin_dsn: str) -> None:
    plan = json.loads(
        _run(
            admin_dsn, "plan", "--users", "10000", "--requests-per-user-per-minute", "6", "--p99-ms", "200"
        ).stdout
    )
    assert plan["instances"] >= 1 and plan["users"] == 10000
    hpa = json.loads(_run(admin_dsn, "plan", "--users", "100000", "--hpa-only").stdout)
    kubernetes_validate.validate(hpa, "1.30", strict=True)


def test_bench_capacity_measures_and_stores(admin_dsn: str) -> None:
    out = json.loads(
        _run(
            admin_dsn, "bench", "capacity", "--seconds", "1", "--max-connections", "4", "--p99-ms", "2000"
        ).stdout
    )
    assert out["steps"] and out["rps_per_worker"] > 0 and out["stored"] is True
    plan = json.loads(_run(admin_dsn, "plan", "--users", "1000").stdout)
    assert plan["measurement"]["rps_per_worker"] == out["rps_per_worker"]
