"""Charts drawn on the server as inline SVG: bars, stacked bars, lines and areas over time.

Hand-written rather than a chart library because the console's CSP allows no inline script
and no inline style, and must load nothing from elsewhere: a JavaScript chart library would
draw in the browser (and most set ``style=``), a Python one (matplotlib, pygal) would add a
large dependency for a few rectangles and polylines. Colours and fonts come from classes in
``static/charts.css`` (``series-0`` … ``series-9``), never ``style=``.

Every chart is a ``<figure>`` with an SVG (``role="img"``, its ``<title>`` and ``<desc>``
named by ``aria-labelledby``) followed by the same figures as a ``<table>`` inside a
``<details>``: the accessible fallback, and what tests read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Series", "bar_chart", "line_chart", "nice_ticks", "stacked_bars"]

#: How many series classes charts.css colours (more series reuse them in turn).
PALETTE_SIZE = 10
WIDTH = 720
Format = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One named row of values, one value per label (category or point in time)."""

    name: str
    values: Sequence[float]


def _plain(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "chart"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis ticks (1, 2, 2.5 or 5 × a power of ten) covering ``low`` … ``high``,
    which always include 0 when the range spans it."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) or 1)
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks: list[float] = []
    value = first
    while value < high + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _figure(ident: str, title: str, desc: str, svg_body: str, height: int, table: str) -> Markup:
    svg = (
        f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
        f"{svg_body}</svg>"
    )
    return Markup(  # noqa: S704 (every text inside was escaped above or below)
        f'<figure class="chart" id="{ident}">'
        f'<figcaption class="chart-title">{escape(title)}</figcaption>{svg}'
        f'<details class="chart-data"><summary>Data: {escape(title)}</summary>{table}</details></figure>'
    )


def _cell(value: float, fmt: Format) -> str:
    return "–" if math.isnan(value) else fmt(value)


def _table(title: str, head: str, labels: Sequence[str], series: Sequence[Series], fmt: Format) -> str:
    cols = "".join(f'<th scope="col" class="num">{escape(s.name)}</th>' for s in series)
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(f'<td class="num">{escape(_cell(s.values[i], fmt))}</td>' for s in series)
        + "</tr>"
        for i, label in enumerate(labels)
    )
    return (
        f"<table><caption>{escape(title)}</caption><thead><tr><th scope=\"col\">{escape(head)}</th>"
        f"{cols}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _text(cls: str, x: float, y: float, content: str, anchor: str = "start") -> str:
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(content)}</text>'


def _rect(index: int, x: float, y: float, w: float, h: float, tip: str) -> str:
    return (
        f'<rect class="series-{index % PALETTE_SIZE}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
        f'height="{h:.1f}"><title>{escape(tip)}</title></rect>'
    )


def _line(cls: str, x1: float, x2: float, y1: float, y2: float) -> str:
    return f'<line class="{cls}" x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}"/>'


def _check(labels: Sequence[str], series: Sequence[Series], *, gaps: bool = False) -> None:
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)} labels")
        if not all(math.isfinite(v) or (gaps and math.isnan(v)) for v in s.values):
            raise ValueError(f"series {s.name!r} has a value that is not a finite number")


LEGEND_PER_ROW = 6


def _legend_height(series: Sequence[Series]) -> int:
    return 0 if len(series) < 2 else 20 * math.ceil(len(series) / LEGEND_PER_ROW)


def _legend(series: Sequence[Series]) -> str:
    """Swatches and names above the plot, :data:`LEGEND_PER_ROW` a row (none for one series)."""
    if len(series) < 2:
        return ""
    out = []
    for i, s in enumerate(series):
        row, col = divmod(i, LEGEND_PER_ROW)
        x, y = col * (WIDTH // LEGEND_PER_ROW), 4 + 20 * row
        name = s.name if len(s.name) <= 16 else s.name[:15] + "…"
        out.append(
            f'<rect class="series-{i % PALETTE_SIZE}" x="{x}" y="{y}" width="12" height="12"/>'
            f'<text class="chart-legend" x="{x + 16}" y="{y + 11}">{escape(name)}</text>'
        )
    return "".join(out)


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    desc: str = "",
    fmt: Format = _plain,
    head: str = "",
    ident: str = "",
) -> Markup:
    """Horizontal bars, one group per label and one bar per series; negative values (a
    negative margin) grow left of the zero line. Labels sit above their bars, so long
    feature names fit."""
    _check(labels, series)
    values = [v for s in series for v in s.values] or [0.0]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    lo, hi = ticks[0], ticks[-1]
    left, right = 36, WIDTH - 90  # room for the first tick's label, and the last bar's value
    scale = (right - left) / (hi - lo)

    def x(v: float) -> float:
        return left + (v - lo) * scale

    bar, gap, label_h = 14, 4, 18
    group = label_h + len(series) * (bar + gap) + 8
    top = 4 + _legend_height(series)
    height = top + group * max(1, len(labels)) + 24
    parts = [_legend(series)]
    for t in ticks:
        parts.append(_line("chart-grid", x(t), x(t), top, height - 20))
        parts.append(_text("chart-tick", x(t), height - 6, fmt(t), "middle"))
    for gi, label in enumerate(labels):
        y0 = top + gi * group
        parts.append(_text("chart-label", 8, y0 + 13, label))
        for si, s in enumerate(series):
            v = s.values[gi]
            y = y0 + label_h + si * (bar + gap)
            x0, x1 = sorted((x(0), x(v)))
            parts.append(_rect(si, x0, y, max(x1 - x0, 0.5), bar, f"{label}, {s.name}: {fmt(v)}"))
            parts.append(_text("chart-value", max(x1, x(0)) + 4, y + bar - 3, fmt(v)))
    parts.append(_line("chart-axis", x(0), x(0), top, height - 20))
    ident = ident or _slug(title)
    table = _table(title, head or "item", labels, series, fmt)
    return _figure(ident, title, desc or f"Bar chart of {len(labels)} items.", "".join(parts), height, table)


def stacked_bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    desc: str = "",
    fmt: Format = _plain,
    head: str = "",
    ident: str = "",
) -> Markup:
    """Horizontal bars, one per label, each split into its series' parts (values >= 0);
    the data table adds each row's total."""
    _check(labels, series)
    if any(v < 0 for s in series for v in s.values):
        raise ValueError("stacked bars need values >= 0")
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    ticks = nice_ticks(0.0, max([0.0, *totals]))
    left, right = 36, WIDTH - 90
    scale = (right - left) / (ticks[-1] - ticks[0])
    bar, label_h = 18, 18
    group = label_h + bar + 10
    top = 4 + _legend_height(series)
    height = top + group * max(1, len(labels)) + 24
    parts = [_legend(series)]
    for t in ticks:
        tx = left + t * scale
        parts.append(_line("chart-grid", tx, tx, top, height - 20))
        parts.append(_text("chart-tick", tx, height - 6, fmt(t), "middle"))
    for gi, label in enumerate(labels):
        y0 = top + gi * group
        parts.append(_text("chart-label", 8, y0 + 13, label))
        at = float(left)
        for si, s in enumerate(series):
            w = s.values[gi] * scale
            if w > 0:
                parts.append(_rect(si, at, y0 + label_h, w, bar, f"{label}, {s.name}: {fmt(s.values[gi])}"))
            at += w
        parts.append(_text("chart-value", at + 4, y0 + label_h + bar - 4, fmt(totals[gi])))
    ident = ident or _slug(title)
    table = _table(title, head or "item", labels, [*series, Series("total", totals)], fmt)
    return _figure(
        ident, title, desc or f"Stacked bar chart of {len(labels)} items by {len(series)} parts.",
        "".join(parts), height, table,
    )  # fmt: skip


def _runs(values: Sequence[float]) -> list[list[int]]:
    """The indexes of ``values`` in unbroken runs between NaN gaps."""
    runs: list[list[int]] = [[]]
    for i, v in enumerate(values):
        if math.isnan(v):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(i)
    return [r for r in runs if r]


def line_chart(
    title: str,
    points: Sequence[str],
    series: Sequence[Series],
    *,
    area: bool = False,
    desc: str = "",
    fmt: Format = _plain,
    head: str = "time",
    ident: str = "",
) -> Markup:
    """Values over time (``points`` are the x labels, in order), one line per series;
    ``area`` fills under each line (series are drawn, not stacked). A NaN value is a gap
    (nothing measured then, as a p99 of no requests): the line breaks, the table shows "–"."""
    _check(points, series, gaps=True)
    values = [v for s in series for v in s.values if not math.isnan(v)] or [0.0]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    lo, hi = ticks[0], ticks[-1]
    left, right, top = 64, WIDTH - 16, 8 + _legend_height(series)
    height = 240 + top
    bottom = height - 34
    n = len(points)

    def x(i: int) -> float:
        return left + (right - left) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    parts = [_legend(series)]
    for t in ticks:
        parts.append(_line("chart-grid", left, right, y(t), y(t)))
        parts.append(_text("chart-tick", left - 6, y(t) + 4, fmt(t), "end"))
    every = max(1, math.ceil(n / 8))
    for i, label in enumerate(points):
        if i % every == 0 or i == n - 1:
            # The ends anchored inwards, so their labels stay inside the picture.
            anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
            parts.append(_text("chart-tick", x(i), bottom + 16, label, anchor))
    parts.append(_line("chart-axis", left, right, y(0), y(0)))
    for si, s in enumerate(series):
        cls = f"series-{si % PALETTE_SIZE}"
        for run in _runs(s.values):
            coords = " ".join(f"{x(i):.1f},{y(s.values[i]):.1f}" for i in run)
            if area and len(run) > 1:
                base = f"{x(run[0]):.1f},{y(0):.1f} {coords} {x(run[-1]):.1f},{y(0):.1f}"
                parts.append(f'<polygon class="{cls} chart-area" points="{base}"/>')
            if len(run) > 1:
                parts.append(f'<polyline class="{cls} chart-line" points="{coords}"/>')
        for i, v in enumerate(s.values):
            if math.isnan(v):
                continue
            parts.append(
                f'<circle class="{cls}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3">'
                f"<title>{escape(f'{points[i]}, {s.name}: {fmt(v)}')}</title></circle>"
            )
    ident = ident or _slug(title)
    table = _table(title, head, points, series, fmt)
    kind = "Area chart" if area else "Line chart"
    return _figure(ident, title, desc or f"{kind} over {n} points in time.", "".join(parts), height, table)
