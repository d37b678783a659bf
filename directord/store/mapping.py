"""Rows to records and records to parameters: the same for every database.

Columns are read by name; values are the portable types of ``connector``: JSON is text, a boolean
is 0/1 (or a real boolean, where the database has one), times are epoch seconds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, TypeVar

from directord.store import base
from directord.store.connector import Params, Row

T = TypeVar("T")


def _json(value: str | None) -> dict[str, Any]:
    return json.loads(value) if value else {}


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _int(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _record(cls: Callable[..., T], row: Row, **convert: Callable[[Any], Any]) -> T:
    """``cls`` (a dataclass) from the row's columns of the same names, some converted."""
    values = {f.name: row[f.name] for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for name, to_value in convert.items():
        values[name] = to_value(values[name])
    return cls(**values)


def run(row: Row) -> base.Run:
    return _record(base.Run, row, state=base.RunState, counters=_json, details=_json, changed=_bool)


def job_record(row: Row) -> base.JobRecord:
    return _record(base.JobRecord, row, definition=json.loads)


def job_state(row: Row) -> base.JobState:
    return _record(base.JobState, row)


def row_set_info(row: Row) -> base.RowSetInfo:
    return _record(base.RowSetInfo, row, columns=json.loads)


def deployment(row: Row) -> base.Deployment:
    return _record(base.Deployment, row, ok=_bool)


ACTIVITY_COLUMNS = (
    "id",
    "created",
    "rule",
    "run_id",
    "created_count",
    "modified_count",
    "deleted_count",
)


def activity(row: Row) -> dict[str, Any]:
    return {
        **{column: row[column] for column in ACTIVITY_COLUMNS},
        "changes": json.loads(row["changes"]),
    }


def object_row(row: Row) -> tuple[str, str, str, str | None]:
    return (row["type"], row["name"], row["properties"], row["rule"])


# -- parameters ------------------------------------------------------------------------------


def config_job(name: str, kind: str, definition: dict[str, Any], now: float) -> Params:
    return {
        "name": name,
        "kind": kind,
        "now": now,
        "definition": json.dumps(definition, sort_keys=True),
    }


def job_names(names: list[str]) -> Params:
    return {"names": json.dumps(names)}


def claim(claim: base.Claim) -> Params:
    return {
        "job": claim.job,
        "kind": claim.kind,
        "node": claim.node,
        "trigger": str(claim.trigger),
        "attempt": claim.attempt,
        "job_version": claim.job_version,
        "scheduled_for": claim.scheduled_for,
        "started": claim.started,
        "lease_until": claim.lease_until,
        "owner": claim.owner,
    }


def finish(run_id: int, outcome: base.Outcome) -> Params:
    return {
        "id": run_id,
        "state": str(outcome.state),
        "finished": outcome.finished,
        "summary": outcome.summary,
        "counters": json.dumps(outcome.counters),
        "details": json.dumps(outcome.details, default=str),
        "changed": _int(outcome.changed),
    }


def row_set(
    source: str,
    checksum: str,
    row_count: int,
    columns: list[str],
    created: float,
    run_id: int | None,
) -> Params:
    return {
        "source": source,
        "checksum": checksum,
        "row_count": row_count,
        "columns": json.dumps(columns),
        "created": created,
        "run_id": run_id,
    }


def activity_entry(changes: base.ObjectChanges) -> Params:
    counts = {"create": 0, "modify": 0, "delete": 0}
    for change in changes.changes:
        counts[change["action"]] += 1
    return {
        "created": changes.created,
        "rule": changes.rule,
        "run_id": changes.run_id,
        "created_count": counts["create"],
        "modified_count": counts["modify"],
        "deleted_count": counts["delete"],
        "changes": json.dumps(changes.changes, default=str),
    }


def finished_deployment(
    deployment: int, stage: str | None, finished: float, ok: bool, error: str | None
) -> Params:
    return {"id": deployment, "stage": stage, "finished": finished, "ok": int(ok), "error": error}
