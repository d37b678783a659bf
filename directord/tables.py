"""What the CLI (and the aiomonitor commands) print: plain-text tables and JSON values. Pure.

Times in tables carry their UTC offset (local time of the machine running the command); times
in JSON are ISO-8601 strings with their offset; durations are printed as they are written in
the config (``1d``, ``15m``, ``1h30m``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from directord import units

if TYPE_CHECKING:
    from directord.views import JobView


def duration(seconds: float | None) -> str:
    """``86400`` -> ``1d``, ``5400`` -> ``1h30m``, ``0.25`` -> ``250ms``, None -> ``-``."""
    return "-" if seconds is None else units.format_duration(seconds)


def took(seconds: float) -> str:
    """A measured duration (of a run): ``0.3s``, ``12.5s``, then whole seconds: ``2m5s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    return duration(round(seconds))


def when(value: float | None) -> str:
    """An instant for a table: local time with its UTC offset, ``-`` for none."""
    if value is None:
        return "-"
    return datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def iso(value: float | None) -> str | None:
    """An instant for JSON: ISO-8601 in UTC with its offset, None for none."""
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat()


def render(rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _enabled(view: JobView) -> str:
    """``yes``, or ``no`` with what switched it off: the config or ``job disable``."""
    if view.enabled:
        return "yes"
    return f"no ({view.disabled_by})" if view.disabled_by else "no"


def next_run(view: JobView, now: float) -> str:
    """When the job will really start: ``now`` when it is due and may run, the period's next
    opening when its time period gates it, ``never`` when disabled."""
    if view.running:
        return "running"
    at = view.next_due
    if at is None:
        return "never"
    if at <= now:
        return "now"
    if view.timeperiod and view.gated:
        return f"{when(at)} ({view.timeperiod} opens)"
    return when(at)


def jobs(views: Sequence[JobView], now: float | None = None) -> str:
    """The ``jobs list`` table (``now``: the views' instant, default the current time)."""
    now = time.time() if now is None else now
    header = (
        "name",
        "kind",
        "enabled",
        "schedule",
        "timeperiod",
        "in period",
        "last attempt",
        "last result",
        "node",
        "next run",
        "running",
    )
    rows: list[Sequence[str]] = [header]
    for r in views:
        rows.append(
            (
                r.name,
                r.kind,
                _enabled(r),
                r.schedule,
                r.timeperiod or "-",
                "yes" if r.in_period else "no",
                when(r.last_attempt),
                r.last_result or "-",
                r.last_node or "-",
                next_run(r, now),
                f"run {r.running.run_id}" if r.running else "-",
            )
        )
    return render(rows)


def jobs_json(views: Sequence[JobView], now: float) -> list[dict[str, Any]]:
    """``jobs list --json``: the views with ISO-8601 times (``interval`` stays in seconds)."""
    out = []
    for view in views:
        doc = view.as_json_with(iso)
        if view.next_due is None:
            doc["next_run"] = next_run(view, now)
        else:
            doc["next_run"] = iso(max(view.next_due, now))
        out.append(doc)
    return out


def run_json(run: Any) -> dict[str, Any]:
    """One run of ``job history --json``: ISO-8601 times, the duration in seconds."""
    doc: dict[str, Any] = run.as_json()
    for key in ("scheduled_for", "started", "finished"):
        doc[key] = iso(doc[key])
    return doc


def history(runs: Iterable[Any]) -> str:
    """The ``job history`` table, newest first."""
    rows: list[Sequence[str]] = [
        ("run", "started", "state", "took", "trigger", "node", "summary"),
    ]
    for r in runs:
        spent = "-" if r.finished is None else took(r.finished - r.started)
        rows.append(
            (
                str(r.id),
                when(r.started),
                str(r.state),
                spent,
                str(r.trigger),
                str(r.node),
                r.summary or "",
            )
        )
    return render(rows)


def _setting_type(prop: dict[str, Any]) -> str:
    if prop.get("format") == "duration":
        return "duration"
    return str(
        prop.get("type")
        or "/".join(str(x.get("type", "?")) for x in prop.get("anyOf", []))
        or "object"
    )


def kinds(described: Iterable[dict[str, Any]], durations: dict[str, set[str]]) -> str:
    """``jobs kinds``: each kind, its suggested interval and its settings with defaults.
    ``durations``: per kind, the settings that are durations (shown as ``5s``, not ``5.0``)."""
    lines = []
    for d in described:
        lines.append(
            f"{d['kind']}: {d['description']} "
            f"(suggested interval {duration(d['suggested_interval'])})"
        )
        props = d["settings"].get("properties", {})
        required = set(d["settings"].get("required", []))
        is_duration = durations.get(d["kind"], set())
        for field_name, prop in props.items():
            kind = "duration" if field_name in is_duration else _setting_type(prop)
            default = ""
            if "default" in prop:
                value = prop["default"]
                shown = duration(value) if field_name in is_duration else repr(value)
                default = f" = {shown}"
            flag = " (required)" if field_name in required else default
            lines.append(f"    {field_name}: {kind}{flag}")
    return "\n".join(lines)


def objects(docs: Iterable[dict[str, Any]]) -> str:
    """``objects list``."""
    rows: list[Sequence[str]] = [("type", "name", "rule", "properties")]
    for d in docs:
        rows.append(
            (d["type"], d["name"], d["rule"] or "-", json.dumps(d["properties"], sort_keys=True))
        )
    return render(rows)


def changes(items: Iterable[dict[str, Any]], indent: str = "") -> list[str]:
    """A change set: one line per object, and ``before -> after`` per modified property."""
    lines = []
    for change in items:
        lines.append(f"{indent}{change['action']:<7} {change['type']} {change['name']}")
        if change["action"] != "modify":
            continue
        for prop, (before, after) in change["properties"].items():
            lines.append(f"{indent}          {prop}: {json.dumps(before)} -> {json.dumps(after)}")
    return lines


def activity(entries: Iterable[dict[str, Any]]) -> str:
    """``directord activity``: each applied sync, newest first, with its change set."""
    lines = []
    for e in entries:
        run = f" (run {e['run_id']})" if e["run_id"] is not None else ""
        lines.append(
            f"#{e['id']}  {when(e['created'])}  rule {e['rule']}{run}: "
            f"{e['created_count']} created, {e['modified_count']} modified, "
            f"{e['deleted_count']} deleted"
        )
        lines += changes(e["changes"], indent="    ")
    return "\n".join(lines)


def activity_json(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "created": iso(e["created"])} for e in entries]


def deployments(items: Iterable[Any]) -> str:
    """``directord deployments list``, newest first."""
    rows: list[Sequence[str]] = [("id", "started", "result", "took", "stage", "config", "error")]
    for d in items:
        result = "validating" if d.ok is None else "ok" if d.ok else "failed"
        spent = "-" if d.finished is None else took(d.finished - d.started)
        first_error = (d.error or "").splitlines()[0] if d.error else ""
        rows.append(
            (
                str(d.id),
                when(d.started),
                result,
                spent,
                d.stage or "-",
                d.checksum[:12],
                first_error,
            )
        )
    return render(rows)


def deployment_json(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "checksum": d.checksum,
        "package": d.package,
        "stage": d.stage,
        "started": iso(d.started),
        "finished": iso(d.finished),
        "ok": d.ok,
        "error": d.error,
        "run_id": d.run_id,
    }
