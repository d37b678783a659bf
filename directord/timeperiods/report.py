"""What ``directord timeperiod show`` prints: a JSON document or a readable table. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from directord.timeperiods.period import TimePeriod


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def document(
    period: TimePeriod, start: datetime, end: datetime, at: datetime | None = None
) -> dict[str, Any]:
    """The JSON shape of issue 2: name, timezone, segments, state at ``start`` (and ``at``)."""
    start, end = start.astimezone(period.tz), end.astimezone(period.tz)
    doc: dict[str, Any] = {
        "name": period.name,
        "timezone": period.timezone,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "segments": [
            {"begin": b.isoformat(), "end": e.isoformat()} for b, e in period.segments(start, end)
        ],
        "active_at_from": period.is_active(start),
        "next_change_after_from": _iso(period.next_change(start)),
    }
    if at is not None:
        at = at.astimezone(period.tz)
        doc["at"] = at.isoformat()
        doc["active_at"] = period.is_active(at)
        doc["next_change_after_at"] = _iso(period.next_change(at))
    return doc


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    # As durations are written in the config: 8h, 5h37m, 1d2h; 0m for an empty one.
    text = "".join(f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (mins, "m")) if n)
    return text or "0m"


def _when(iso: str | None) -> str:
    if iso is None:
        return "not within 5 years"
    return datetime.fromisoformat(iso).strftime("%a %Y-%m-%d %H:%M:%S %z")


def table(doc: dict[str, Any]) -> str:
    lines = [
        f"time period  {doc['name']} ({doc['timezone']})",
        f"window       {_when(doc['from'])}  ->  {_when(doc['to'])}",
        f"at start     {'active' if doc['active_at_from'] else 'inactive'}, "
        f"changes {_when(doc['next_change_after_from'])}",
    ]
    if "at" in doc:
        lines.append(
            f"at {_when(doc['at'])}: {'active' if doc['active_at'] else 'inactive'}, "
            f"changes {_when(doc['next_change_after_at'])}"
        )
    segments = doc["segments"]
    if not segments:
        lines.append("no active segments in the window")
        return "\n".join(lines)
    lines.append("")
    begins = [_when(seg["begin"]) for seg in segments]
    ends = [_when(seg["end"]) for seg in segments]
    # Columns as wide as their widest value (a time with its offset is 29 characters).
    wb, we = max(map(len, begins)), max(map(len, ends))
    lines.append(f"{'#':>4}  {'begin':<{wb}}  {'end':<{we}}  duration")
    total = 0.0
    for i, seg in enumerate(segments, 1):
        b, e = datetime.fromisoformat(seg["begin"]), datetime.fromisoformat(seg["end"])
        total += (e - b).total_seconds()
        lines.append(
            f"{i:>4}  {begins[i - 1]:<{wb}}  {ends[i - 1]:<{we}}  "
            f"{_duration((e - b).total_seconds())}"
        )
    lines.append(f"{len(segments)} segments, {_duration(total)} active in all")
    return "\n".join(lines)
