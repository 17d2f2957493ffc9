"""Teams in the cost model: who owns which feature, and the report's cost per team.

Pure computation: no database, no HTTP (the live report is checked in test_usage.py).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundament.metering import report as reports
from fundament.metering.costmodel import (
    DEFAULT_MODEL,
    SHARED_TEAM,
    UNASSIGNED_TEAM,
    CostModelError,
    Team,
    load_cost_model,
)
from fundament.metering.report import FeatureUsage, TenantUsage, render_table

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "cost-model.toml"

GET_RECORD = "GET /v1/tenants/{tenant}/collections/{name}/records/{record_id}"
POST_RECORD = "POST /v1/tenants/{tenant}/collections/{name}/records"
POST_KEY = "POST /v1/tenants/{tenant}/api-keys"

MINIMAL = """
currency = "EUR"
instances_running = 1

[instance]
name = "t4g.small"
monthly_cost_eur = 14.10
vcpus = 2
workers = 1

[[resources]]
name = "servers"
driver = "server_time"
monthly_cost_eur = 100

[[resources]]
name = "everything-else"
driver = "even"
monthly_cost_eur = 10
"""

TEAMS = """
[[teams]]
name = "records"
features = ["* /v1/tenants/{tenant}/collections/{name}/records*"]

[[teams]]
name = "billing"
collections = ["invoices"]
"""


def cents(text: str) -> int:
    return int(Decimal(text) * 100)


def build_report(*args: Any, **kwargs: Any) -> dict[str, Any]:
    answer: dict[str, Any] = msgspec.to_builtins(reports.build_report(*args, **kwargs))
    return answer


def model_from(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "cost.toml"
    path.write_text(text)
    return load_cost_model(path)


def usage(feature: str, requests: int, server_ms: float, collection: str = "") -> FeatureUsage:
    return FeatureUsage(feature, requests, 0, server_ms, 0.0, 0, 0, collection)


def test_example_file_shows_the_teams_and_equals_the_default():
    model = load_cost_model(EXAMPLE)
    assert model.teams == DEFAULT_MODEL.teams
    assert [t.name for t in model.teams] == ["data", "identity", "compliance", "integrations", "platform"]
    assert model.team_of(GET_RECORD) == "data"
    assert model.team_of(POST_KEY) == "identity"
    assert model.team_of("GET /v1/tenants/{tenant}/audit-events/verify") == "compliance"
    assert model.team_of("POST /v1/tenants/{tenant}/privacy/erasures") == "compliance"
    assert model.team_of("GET /v1/tenants/{tenant}/events") == "integrations"
    assert model.team_of("GET /v1/finops/report") == "platform"
    assert model.team_of("GET (unmatched)") == UNASSIGNED_TEAM


def test_a_collection_wins_over_route_patterns_and_first_team_wins_among_patterns(tmp_path):
    model = model_from(tmp_path, MINIMAL + TEAMS + '\n[[teams]]\nname = "late"\nfeatures = ["GET *"]\n')
    assert model.team_of(GET_RECORD, "orders") == "records"
    assert model.team_of(GET_RECORD, "invoices") == "billing"
    assert model.team_of(GET_RECORD) == "records"  # the pattern listed first
    assert model.team_of("GET /v1/tenants/{tenant}") == "late"
    assert model.team_of("POST /v1/tenants/{tenant}") == UNASSIGNED_TEAM
    # Patterns are case-sensitive globs over the whole name, not substrings.
    assert model.team_of("get /v1/tenants/{tenant}") == UNASSIGNED_TEAM
    assert model.team_of("POST /v1/tenants/{tenant}/collections/{name}") == UNASSIGNED_TEAM


def test_a_model_without_teams_puts_everything_in_unassigned(tmp_path):
    model = model_from(tmp_path, MINIMAL)
    assert model.teams == ()
    tenants = [TenantUsage("t1", "one", "pro", Decimal(10), [usage(GET_RECORD, 5, 50.0)])]
    report = build_report("2026-01", model, tenants)
    assert list(report["teams"]) == [UNASSIGNED_TEAM, SHARED_TEAM]
    assert report["teams"][UNASSIGNED_TEAM]["cost_eur"] == "100.00"
    assert report["teams"][SHARED_TEAM]["cost_eur"] == "10.00"


@pytest.mark.parametrize(
    ("teams", "key", "message"),
    [
        ('[[teams]]\nname = "unassigned"\nfeatures = ["GET *"]\n', "teams[0].name", "reserved"),
        ('[[teams]]\nname = "(shared)"\nfeatures = ["GET *"]\n', "teams[0].name", "reserved"),
        ('[[teams]]\nname = "a"\n', "teams[0]", "at least one of features or collections"),
        ('[[teams]]\nname = "a"\nfeatures = "GET *"\n', "teams[0].features", "list of non-empty strings"),
        ('[[teams]]\nname = "a"\nfeatures = ["/v1/x"]\n', "teams[0].features", "METHOD /route/template"),
        ('[[teams]]\nname = "a"\ncollections = [""]\n', "teams[0].collections", "non-empty strings"),
        ('[[teams]]\nname = "a"\nowner = "x"\ncollections = ["c"]\n', "teams[0].owner", "unknown key"),
        ('[[teams]]\nfeatures = ["GET *"]\n', "teams[0].name", "missing required key"),
        ('teams = "all"\n', "teams", r"expected \[\[teams\]\] tables"),
        (
            '[[teams]]\nname = "a"\ncollections = ["c"]\n[[teams]]\nname = "a"\ncollections = ["d"]\n',
            "teams[1].name",
            "duplicate name",
        ),
        (
            '[[teams]]\nname = "a"\ncollections = ["c"]\n[[teams]]\nname = "b"\ncollections = ["c"]\n',
            "teams[1].collections",
            "already owned by team 'a'",
        ),
    ],
)
def test_team_mistakes_name_the_file_and_key(tmp_path, teams, key, message):
    # A top-level key must come before the tables in TOML: put `teams = ...` first.
    text = teams + MINIMAL if teams.startswith("teams =") else MINIMAL + teams
    path = tmp_path / "cost.toml"
    path.write_text(text)
    with pytest.raises(CostModelError, match=message) as caught:
        load_cost_model(path)
    assert str(caught.value).startswith(f"{path}: {key}: ")


def test_report_cost_per_team_from_routes_and_collections(tmp_path):
    model = model_from(tmp_path, MINIMAL + TEAMS)
    tenants = [
        TenantUsage(
            "t1",
            "one",
            "pro",
            Decimal(10),
            [
                usage(GET_RECORD, 60, 600.0, "orders"),  # records (route pattern)
                usage(GET_RECORD, 20, 200.0, "invoices"),  # billing (collection wins)
                usage(POST_KEY, 20, 200.0),  # no team claims it
            ],
        ),
        TenantUsage("t2", "two", "free", Decimal(0), [usage(POST_RECORD, 10, 0.0, "invoices")]),
    ]
    report = build_report("2026-01", model, tenants)
    teams = report["teams"]
    # Owned teams by cost, then unassigned, then the shared line.
    assert list(teams) == ["records", "billing", UNASSIGNED_TEAM, SHARED_TEAM]
    # 100.00 of server time split 600 : 200 : 200 (t2's POST took no server time).
    assert [teams[n]["cost_eur"] for n in ("records", "billing", UNASSIGNED_TEAM)] == [
        "60.00",
        "20.00",
        "20.00",
    ]
    assert teams[SHARED_TEAM]["cost_eur"] == "10.00"  # the even-driven cost
    assert teams["billing"]["requests"] == 30
    assert teams["billing"]["collections"] == ["invoices"]
    assert teams["billing"]["features"] == [GET_RECORD, POST_RECORD]
    assert teams[UNASSIGNED_TEAM]["features"] == [POST_KEY]
    assert teams["records"]["cost_per_1000_requests_eur"] == "1000.00"
    assert sum(cents(t["cost_eur"]) for t in teams.values()) == cents(report["total_cost_eur"])
    # The features section is unchanged: per route, whatever the collection.
    assert report["features"][GET_RECORD]["requests"] == 80
    assert "Per team" in report["method"]

    table = render_table(report)
    lines = table.splitlines()
    at = lines.index("Teams")
    assert lines[at + 1].split() == ["team", "requests", "errors", "cost", "per", "1000", "req", "features"]
    assert lines[at + 3].split()[:4] == ["records", "60", "0", "60.00"]
    assert any(line.split()[:1] == [UNASSIGNED_TEAM] for line in lines[at:])


def test_a_team_without_use_is_listed_at_zero(tmp_path):
    model = model_from(tmp_path, MINIMAL + TEAMS)
    report = build_report("2026-01", model, [TenantUsage("t1", "one", "pro", Decimal(10))])
    assert report["teams"]["billing"]["cost_eur"] == "0.00"
    assert report["teams"]["billing"]["cost_per_1000_requests_eur"] is None
    # Nobody used server time: it is split evenly between tenants and is no team's.
    assert report["teams"][SHARED_TEAM]["cost_eur"] == "110.00"


features = st.sampled_from([GET_RECORD, POST_RECORD, POST_KEY, "GET (unmatched)", "GET /v1/finops/report"])
feature_rows = st.lists(
    st.builds(
        usage,
        features,
        st.integers(0, 10**6),
        st.floats(0, 1e7, allow_nan=False, allow_infinity=False),
        st.sampled_from(["", "orders", "invoices"]),
    ),
    max_size=6,
)


@given(st.lists(feature_rows, min_size=1, max_size=4))
def test_teams_conserve_every_cent(rows):
    model = dataclasses.replace(
        DEFAULT_MODEL, teams=(*DEFAULT_MODEL.teams, Team("billing", collections=("invoices",)))
    )
    tenants = [
        TenantUsage(f"t{i}", f"s{i}", "pro", Decimal(99), list(r)) for i, r in enumerate(rows)
    ]
    report = build_report("2026-03", model, tenants)
    assert sum(cents(t["cost_eur"]) for t in report["teams"].values()) == cents(report["total_cost_eur"])
    assert all(cents(t["cost_eur"]) >= 0 for t in report["teams"].values())
    assert sum(t["requests"] for t in report["teams"].values()) == sum(
        f.requests for r in rows for f in r
    )


def test_the_worked_example_of_docs_finops_per_team():
    from metering.test_finops import three_tenants

    report = build_report("2026-01", DEFAULT_MODEL, three_tenants(), capacity_rps_per_worker=150)
    teams = report["teams"]
    assert next(iter(teams)) == "data" and list(teams)[-2:] == [UNASSIGNED_TEAM, SHARED_TEAM]
    # The figures quoted in docs/finops.md, section 8: all use is of records, owned by "data".
    assert teams["data"]["cost_eur"] == "407.43"
    assert teams["data"]["cost_per_1000_requests_eur"] == "0.34"
    assert teams[SHARED_TEAM]["cost_eur"] == report["features"]["(shared)"]["cost_eur"] == "168.61"
    text = (ROOT / "docs" / "finops.md").read_text()
    assert "data           1200000     475  407.43          0.34         2" in text


@given(st.lists(feature_rows, min_size=1, max_size=4))
def test_each_tenants_cost_by_team_adds_up_to_its_cost_and_to_the_teams(rows):
    model = dataclasses.replace(
        DEFAULT_MODEL, teams=(*DEFAULT_MODEL.teams, Team("billing", collections=("invoices",)))
    )
    tenants = [TenantUsage(f"t{i}", f"s{i}", "pro", Decimal(99), list(r)) for i, r in enumerate(rows)]
    report = build_report("2026-03", model, tenants)
    for t in report["tenants"]:
        assert list(t["teams"]) == [*(team.name for team in model.teams), UNASSIGNED_TEAM, SHARED_TEAM]
        assert sum(cents(c) for c in t["teams"].values()) == cents(t["cost_eur"])
    # Summed over tenants, each team is the report's figure within a cent per tenant and resource.
    slack = len(tenants) * len(model.resources)
    for name, team in report["teams"].items():
        summed = sum(cents(t["teams"][name]) for t in report["tenants"])
        assert abs(summed - cents(team["cost_eur"])) <= slack, name


def test_a_tenants_cost_by_team_follows_its_own_use(tmp_path):
    model = model_from(tmp_path, MINIMAL + TEAMS)
    tenants = [
        TenantUsage("t1", "one", "pro", Decimal(10), [usage(GET_RECORD, 1, 300.0, "invoices")]),
        TenantUsage("t2", "two", "pro", Decimal(10), [usage(GET_RECORD, 1, 100.0, "orders")]),
    ]
    report = build_report("2026-01", model, tenants)
    one, two = report["tenants"]
    # Servers (100.00 by server time) 75 : 25; the even 10.00 is 5.00 each, no team's.
    assert one["teams"] == {"records": "0.00", "billing": "75.00", UNASSIGNED_TEAM: "0.00", SHARED_TEAM: "5.00"}
    assert two["teams"] == {"records": "25.00", "billing": "0.00", UNASSIGNED_TEAM: "0.00", SHARED_TEAM: "5.00"}
