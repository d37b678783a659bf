"""Rows to records and records to parameters: the same for every database.

Columns are read by name; values are the portable types of ``connector``: JSON is text, a boolean
is 0/1 (or a real boolean, where the database has one), times are epoch seconds.
"""

from __future__ import annotations

import json
from typing import Any

from directord.store import base
from directord.store.connector import Params, Row


def _json(value: str | None) -> dict[str, Any]:
    return json.loads(value) if value else {}


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _int(value: bool | None) -> int | None:
    return None if value is None else int(value)


def run(row: Row) -> base.Run:
    return base.Run(
        id=row["id"],
        job=row["job"],
        kind=row["kind"],
        node=row["node"],
        trigger=row["trigger"],
        attempt=row["attempt"],
        job_version=row["job_version"],
        scheduled_for=row["scheduled_for"],
        started=row["started"],
        finished=row["finished"],
        state=base.RunState(row["state"]),
        summary=row["summary"],
        counters=_json(row["counters"]),
        details=_json(row["details"]),
        changed=_bool(row["changed"]),
    )


def job_record(row: Row) -> base.JobRecord:
    return base.JobRecord(
        name=row["name"],
        kind=row["kind"],
        definition=json.loads(row["definition"]),
        managed_by=row["managed_by"],
        version=row["version"],
        created=row["created"],
        updated=row["updated"],
    )


def job_state(row: Row) -> base.JobState:
    return base.JobState(
        job=row["job"],
        last_attempt=row["last_attempt"],
        last_finished=row["last_finished"],
        last_success=row["last_success"],
        last_result=row["last_result"],
        last_error=row["last_error"],
        last_run_id=row["last_run_id"],
        failures=row["failures"],
    )


def row_set_info(row: Row) -> base.RowSetInfo:
    return base.RowSetInfo(
        id=row["id"],
        source=row["source"],
        checksum=row["checksum"],
        row_count=row["row_count"],
        columns=json.loads(row["columns"]),
        created=row["created"],
        run_id=row["run_id"],
    )


def deployment(row: Row) -> base.Deployment:
    return base.Deployment(
        id=row["id"],
        checksum=row["checksum"],
        package=row["package"],
        stage=row["stage"],
        started=row["started"],
        finished=row["finished"],
        ok=_bool(row["ok"]),
        error=row["error"],
        run_id=row["run_id"],
    )


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
