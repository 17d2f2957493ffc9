"""The console's SVG charts, without a browser: figures, accessibility, escaping, CSP-safety."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from fundament.console.charts import Series, bar_chart, line_chart, nice_ticks, stacked_bars

SVG = "{http://www.w3.org/2000/svg}"


def parts(markup: str) -> tuple[ET.Element, list[list[str]]]:
    """The chart's SVG element and its data table's rows (as text), from the markup."""
    svg = ET.fromstring(re.search(r"<svg.*</svg>", markup, re.S).group(0))  # type: ignore[union-attr]
    table = ET.fromstring(re.search(r"<table>.*</table>", markup, re.S).group(0))  # type: ignore[union-attr]
    rows = [["".join(cell.itertext()) for cell in tr] for tr in table.iter("tr")]
    return svg, rows


def test_bar_chart_has_a_title_a_description_and_its_figures_as_a_table() -> None:
    html = bar_chart("Cost per team (EUR)", ["data", "unassigned"], [Series("cost", [12.5, 0])], ident="t")
    svg, rows = parts(html)
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "t-t t-d"
    assert svg.find(f"{SVG}title").text == "Cost per team (EUR)"  # type: ignore[union-attr]
    assert rows == [["item", "cost"], ["data", "12.50"], ["unassigned", "0"]]
    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "series-0"]
    assert len(bars) == 2
    # Proportional: the zero bar is a hairline, the other spans the plot to its value.
    assert float(bars[1].get("width")) < 1 < float(bars[0].get("width"))  # type: ignore[arg-type]
    assert "<details" in html and "Data: Cost per team (EUR)" in html


def test_negative_values_grow_left_of_zero() -> None:
    svg, rows = parts(bar_chart("Margin", ["a", "b"], [Series("margin", [100, -50])]))
    axis = next(line for line in svg.iter(f"{SVG}line") if line.get("class") == "chart-axis")
    zero = float(axis.get("x1"))  # type: ignore[arg-type]
    a, b = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "series-0"]
    assert float(a.get("x")) == pytest.approx(zero, abs=0.1)  # type: ignore[arg-type]
    assert float(b.get("x")) + float(b.get("width")) == pytest.approx(zero, abs=0.2)  # type: ignore[arg-type]
    assert float(a.get("width")) == pytest.approx(2 * float(b.get("width")), rel=0.01)  # type: ignore[arg-type]
    assert rows[2] == ["b", "-50"]


def test_stacked_bars_add_a_total_and_refuse_negative_parts() -> None:
    html = stacked_bars("Cost", ["acme"], [Series("db", [3]), Series("cpu", [1.5])])
    _, rows = parts(html)
    assert rows == [["item", "db", "cpu", "total"], ["acme", "3", "1.50", "4.50"]]
    with pytest.raises(ValueError, match=">= 0"):
        stacked_bars("Cost", ["acme"], [Series("db", [-1])])


def test_line_chart_draws_every_point_and_an_area() -> None:
    html = line_chart("Requests", ["00", "01", "02"], [Series("requests", [0, 5, 2])], area=True)
    svg, rows = parts(html)
    assert len(list(svg.iter(f"{SVG}circle"))) == 3
    assert len(list(svg.iter(f"{SVG}polygon"))) == 1
    assert rows[1:] == [["00", "0"], ["01", "5"], ["02", "2"]]


def test_a_gap_breaks_the_line_and_reads_as_a_dash() -> None:
    html = line_chart("p99", ["00", "01", "02", "03"], [Series("p99", [5, float("nan"), 7, 8])])
    svg, rows = parts(html)
    lines = [p for p in svg.iter(f"{SVG}polyline")]
    assert len(lines) == 1 and len(lines[0].get("points", "").split()) == 2  # 02-03; 00 stands alone
    assert len(list(svg.iter(f"{SVG}circle"))) == 3
    assert rows[2] == ["01", "–"]


def test_text_is_escaped_and_nothing_needs_inline_script_or_style() -> None:
    evil = '<script>alert(1)</script>" onload="x'
    html = str(bar_chart(evil, [evil], [Series(evil, [1])]))
    assert "<script" not in html and 'onload="x' not in html
    assert "style=" not in html
    parts(html)  # still well-formed XML


def test_mismatched_or_non_finite_series_are_refused() -> None:
    with pytest.raises(ValueError, match="2 values for 1 labels"):
        bar_chart("x", ["a"], [Series("s", [1, 2])])
    with pytest.raises(ValueError, match="finite"):
        bar_chart("x", ["a"], [Series("s", [float("nan")])])
    with pytest.raises(ValueError, match="finite"):
        line_chart("x", ["a"], [Series("s", [float("inf")])])


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0, 576.04, [0, 200, 400, 600]), (-576.04, 576.04, None), (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1])],
)
def test_nice_ticks_cover_the_range_with_round_steps(low: float, high: float, expected: list[float] | None) -> None:
    ticks = nice_ticks(low, high)
    if expected is not None:
        assert ticks == pytest.approx(expected)
    assert ticks[0] <= low and ticks[-1] >= high
    if low < 0 < high:
        assert 0 in ticks


def test_the_largest_rows_are_drawn_and_the_rest_summed_as_one() -> None:
    from fundament.console.operator import TOP, _largest

    rows = [{"slug": f"t{i}", "cost": float(i)} for i in range(TOP + 5)]
    groups = _largest(rows, lambda r: r["cost"], lambda r: r["slug"], "tenants")
    assert [label for label, _ in groups][:2] == [f"t{TOP + 4}", f"t{TOP + 3}"]
    assert groups[-1][0] == "5 other tenants" and len(groups) == TOP + 1
    assert sum(len(g) for _, g in groups) == len(rows)
    # One more row than TOP is drawn as itself, not as "1 other".
    few = _largest(rows[: TOP + 1], lambda r: r["cost"], lambda r: r["slug"], "tenants")
    assert len(few) == TOP + 1 and all(len(g) == 1 for _, g in few)


def test_the_finops_charts_of_many_tenants_add_up() -> None:
    from decimal import Decimal

    import msgspec

    from fundament.console.operator import _finops_charts
    from fundament.metering.costmodel import DEFAULT_MODEL
    from fundament.metering.report import FeatureUsage, TenantUsage, build_report

    get = "GET /v1/tenants/{tenant}/collections/{name}/records/{record_id}"
    tenants = [
        TenantUsage(f"t{i:02d}", f"s{i:02d}", "pro", Decimal(99), [FeatureUsage(get, 10 * i, i, 5.0 * i, i, 0, 0)])
        for i in range(1, 16)
    ]
    report = msgspec.to_builtins(build_report("2026-01", DEFAULT_MODEL, tenants, capacity_rps_per_worker=150))
    charts = _finops_charts(report)
    _, rows = parts(charts["tenants"])
    assert rows[-1][0] == "5 other tenants" and len(rows) == 1 + 11
    total = sum(Decimal(r[1].replace(",", "")) for r in rows[1:])
    assert total == Decimal(report["total_cost_eur"])
    _, stacked = parts(charts["tenant_teams"])
    # Each tenant's (or group's) cost by team adds up to its cost.
    for by_team, cost in zip(stacked[1:], rows[1:], strict=True):
        assert Decimal(by_team[-1].replace(",", "")) == Decimal(cost[1].replace(",", ""))
    assert "idle" in charts
