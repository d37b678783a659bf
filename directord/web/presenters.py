"""Jobs, runs, periods and deployments as the API and the pages show them (pure: views in,
plain data out). Times are ISO-8601 with their offset; secrets are ``***``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from directord import redact, store, units
from directord.web import apimodels

REDACTED = "***"
FAILING = frozenset({"failed", "timed_out", "interrupted"})
STATE_LABELS = {
    "ok": "ok",
    "failing": "failing",
    "running": "running",
    "pending": "pending",
    "disabled": "disabled",
    "outside": "outside its period",
}


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def age(seconds: float) -> str:
    """``5m``, ``2h``, ``3d``: how long ago (or how far ahead), rounded down to one unit."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def redacted(settings: Any, secret: frozenset[str]) -> Any:
    """Settings as shown to people: secret fields (declared, or named like one) replaced."""
    if isinstance(settings, dict):
        return {
            k: REDACTED if redact.is_secret_name(k, secret) else redacted(v, frozenset())
            for k, v in settings.items()
        }
    if isinstance(settings, list):
        return [redacted(v, frozenset()) for v in settings]
    return settings


def state_of(
    enabled: bool, running: bool, in_period: bool, has_period: bool, last: str | None
) -> str:
    if not enabled:
        return "disabled"
    if running:
        return "running"
    if has_period and not in_period:
        return "outside"
    if last in FAILING:
        return "failing"
    if last == "succeeded":
        return "ok"
    return "pending"


def job_row(view: Any, static: dict[str, Any], version: int | None, now: float) -> dict[str, Any]:
    """One job as plain data, the shape of ``apimodels.JobOut``; ``static``: its managed,
    director_id, timeout and definition (secrets already ``***``)."""
    state = state_of(
        view.enabled,
        view.running is not None,
        view.in_period,
        view.timeperiod is not None,
        view.last_result,
    )
    last_text = "never ran"
    if view.last_attempt is not None:
        last_text = f"{view.last_result or 'running'} {age(now - view.last_attempt)} ago"
    if view.next_due is None:
        next_text = "not scheduled"
    elif view.next_due <= now:
        next_text = "due now"
    else:
        next_text = f"in {age(view.next_due - now)} ({iso(view.next_due)})"
    running = view.running
    return {
        "name": view.name,
        "kind": view.kind,
        "managed": static["managed"],
        "version": version,
        "director_id": static["director_id"],
        "enabled": view.enabled,
        "state": state,
        "state_label": STATE_LABELS[state],
        "schedule": view.schedule,
        "interval": view.interval,
        "timeperiod": view.timeperiod,
        "in_period": view.in_period,
        "timeout": static["timeout"],
        "last_attempt": iso(view.last_attempt),
        "last_result": view.last_result,
        "last_error": view.last_error,
        "last_success": iso(view.last_success),
        "next_due": iso(view.next_due),
        "overdue": view.overdue,
        "running": None
        if running is None
        else {
            "run_id": running.run_id,
            "started": iso(running.started) or "",
            "elapsed": running.elapsed,
        },
        "last_text": last_text,
        "next_due_text": next_text,
        "definition": static["definition"],
    }


def run(r: store.Run) -> apimodels.RunOut:
    return apimodels.RunOut(
        id=r.id,
        job=r.job,
        kind=r.kind,
        node=r.node,
        trigger=r.trigger,
        attempt=r.attempt,
        job_version=r.job_version,
        scheduled_for=iso(r.scheduled_for) or "",
        started=iso(r.started) or "",
        finished=iso(r.finished),
        duration=None if r.finished is None else r.finished - r.started,
        state=str(r.state),
        summary=r.summary,
        counters=r.counters,
        details=r.details,
        changed=r.changed,
    )


def deployment(d: store.Deployment) -> apimodels.DeploymentOut:
    return apimodels.DeploymentOut(
        id=d.id,
        package=d.package,
        checksum=d.checksum,
        stage=d.stage,
        started=iso(d.started) or "",
        finished=iso(d.finished),
        ok=d.ok,
        errors=(d.error or "").splitlines(),
    )


def duration_text(seconds: float | None) -> str:
    return "–" if seconds is None else units.format_duration(seconds)
