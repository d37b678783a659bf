"""Plain-text tables for people (the CLI and the aiomonitor commands). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any


def when(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def render(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def jobs(views: Sequence[dict[str, Any]]) -> str:
    """The ``jobs list`` table from Supervisor.job_views()."""
    header = (
        "name",
        "kind",
        "enabled",
        "schedule",
        "timeperiod",
        "in period",
        "last attempt",
        "last result",
        "next due",
        "running",
    )
    rows: list[Sequence[str]] = [header]
    for r in views:
        rows.append(
            (
                str(r["name"]),
                str(r["kind"]),
                "yes" if r["enabled"] else "no",
                str(r.get("schedule") or f"every {r['interval']:g}s"),
                str(r["timeperiod"] or "-"),
                "yes" if r["in_period"] else "no",
                when(r["last_attempt"]),
                str(r["last_result"] or "-"),
                when(r["next_due"]),
                f"run {r['running']['run_id']}" if r["running"] else "-",
            )
        )
    return render(rows)
