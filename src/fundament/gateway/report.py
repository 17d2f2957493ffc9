"""The migration report as a table for people (``fundament gateway report``)."""

from __future__ import annotations

from typing import Any


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_table(report: dict[str, Any]) -> str:
    """One line per route, then each route's latest mismatches."""
    header = (
        "MATCH",
        "MODE",
        "SHARE",
        "REQUESTS",
        "COMPARED",
        "MISMATCH",
        "DROPPED",
        "LEGACY p50/p99 ms",
        "FUNDAMENT p50/p99 ms",
    )
    rows = [header]
    for r in report["items"]:
        rate = "-" if r["mismatch_rate"] is None else f"{r['mismatch_rate'] * 100:.1f}%"
        rows.append(
            (
                r["match"],
                r["mode"],
                f"{r['share'] * 100:.1f}%",
                str(r["requests"]),
                str(r["compared"]),
                f"{r['mismatches']} ({rate})",
                str(r["dropped"] + r["failed"]),
                f"{_ms(r['legacy_p50_ms'])}/{_ms(r['legacy_p99_ms'])}",
                f"{_ms(r['fundament_p50_ms'])}/{_ms(r['fundament_p99_ms'])}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for r in report["items"]:
        if not r["examples"]:
            continue
        lines.append("")
        lines.append(f"{r['match']}: latest mismatches")
        for ex in r["examples"]:
            lines.append(
                f"  {ex['at']} {ex['method']} {ex['path']} legacy {ex['legacy_status']} / fundament "
                f"{ex['fundament_status']}"
            )
            for d in ex["differences"]:
                lines.append(
                    f"    {d['path'] or '(body)'}: legacy {d['legacy']!r}, fundament {d['fundament']!r}"
                )
    return "\n".join(lines) + "\n"
