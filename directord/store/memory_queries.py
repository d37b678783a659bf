"""The named queries of sql/sqlite/queries.sql, one Python method each, on plain dicts.

A row is a dict with the columns of the SQL table; a method returns what the statement returns
(rows, one row, a count of changed rows, or None). Kept in step with the SQL by the store
contract suite, which runs every store method on both.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from directord import jobstate
from directord.store.base import StoreError

Rows = list[dict[str, Any]]

INTERRUPTED = "interrupted: the daemon stopped during the run (crash, kill -9 or power loss)"
READS = frozenset(
    {
        "schema_version",
        "list_jobs",
        "job_states",
        "disabled_jobs",
        "running_runs",
        "history",
        "job_runs",
        "get_run",
        "ping",
        "latest_row_set",
        "row_set_data",
        "objects_of_type",
        "all_objects",
        "activity",
        "last_deployment",
        "deployments",
    }
)


def _newest_first(rows: Rows) -> Rows:
    return sorted(rows, key=lambda r: (r["started"], r["id"]), reverse=True)


def _beyond(rows: Rows, group: str, order: Callable[[dict[str, Any]], Any], keep: int) -> Rows:
    """The rows that rank beyond ``keep`` in their ``group`` (newest first by ``order``)."""
    ranked: dict[Any, int] = {}
    out = []
    for row in sorted(rows, key=order, reverse=True):
        ranked[row[group]] = ranked.get(row[group], 0) + 1
        if ranked[row[group]] > keep:
            out.append(row)
    return out


@dataclass
class _RunTables:
    """Schema versions, job definitions, job state and runs."""

    versions: list[int] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    job_state_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    job_switches: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_ids: dict[str, int] = field(default_factory=dict)

    def _next_id(self, table: str) -> int:
        self.last_ids[table] = self.last_ids.get(table, 0) + 1
        return self.last_ids[table]

    def create_schema_version(self) -> None:
        pass  # the tables exist from the start

    def schema_version(self) -> dict[str, Any]:
        return {"version": max(self.versions, default=None)}

    def record_schema_version(self, version: int) -> None:
        self.versions.append(version)

    def ping(self) -> dict[str, Any]:
        return {"1": 1}

    def upsert_config_job(self, name: str, kind: str, definition: str, now: float) -> None:
        job = self.jobs.get(name)
        if job is None:
            self.jobs[name] = {
                "name": name,
                "kind": kind,
                "definition": definition,
                "managed_by": "config",
                "version": 1,
                "created": now,
                "updated": now,
            }
        elif (job["definition"], job["kind"], job["managed_by"]) != (definition, kind, "config"):
            job.update(
                kind=kind,
                definition=definition,
                managed_by="config",
                version=job["version"] + 1,
                updated=now,
            )

    def list_jobs(self) -> Rows:
        return [self.jobs[name] for name in sorted(self.jobs)]

    def delete_config_jobs_except(self, names: str) -> None:
        keep = set(json.loads(names))
        for name in [n for n, j in self.jobs.items() if j["managed_by"] == "config"]:
            if name not in keep:
                del self.jobs[name]

    def set_job_disabled(self, job: str, disabled: int, now: float) -> None:
        self.job_switches[job] = {"job": job, "disabled": disabled, "updated": now}

    def disabled_jobs(self) -> Rows:
        return [r for r in self.job_switches.values() if r["disabled"]]

    def insert_job(
        self, name: str, kind: str, definition: str, managed_by: str, now: float
    ) -> dict[str, Any] | None:
        if name in self.jobs:
            return None
        self.jobs[name] = {
            "name": name,
            "kind": kind,
            "definition": definition,
            "managed_by": managed_by,
            "version": 1,
            "created": now,
            "updated": now,
        }
        return self.jobs[name]

    def update_store_job(
        self, name: str, kind: str, definition: str, version: int, now: float
    ) -> dict[str, Any] | None:
        job = self.jobs.get(name)
        if job is None or job["managed_by"] != "store" or job["version"] != version:
            return None
        job.update(kind=kind, definition=definition, version=version + 1, updated=now)
        return job

    def delete_store_job(self, name: str, version: int | None) -> dict[str, Any] | None:
        job = self.jobs.get(name)
        if job is None or job["managed_by"] != "store":
            return None
        if version is not None and job["version"] != version:
            return None
        del self.jobs[name]
        return {"name": name}

    def job_states(self) -> Rows:
        return list(self.job_state_rows.values())

    def claim_run(self, **claim: Any) -> dict[str, Any] | None:
        for run in self.runs.values():
            if run["job"] == claim["job"] and (
                run["state"] == "running" or run["scheduled_for"] == claim["scheduled_for"]
            ):
                return None
        run_id = self._next_id("runs")
        self.runs[run_id] = {
            **claim,
            "id": run_id,
            "state": "running",
            "finished": None,
            "summary": None,
            "counters": None,
            "details": None,
            "changed": None,
            "process_group": None,
        }
        return {"id": run_id}

    def finish_run(self, id: int, **outcome: Any) -> None:
        run = self.runs.get(id)
        if run is not None and run["state"] == "running":
            run.update(outcome, lease_until=None)
            self._run_finished(run)

    def _run_finished(self, run: dict[str, Any]) -> None:
        """What the runs_finished trigger does: the job's state follows its finished run, by
        the one set of job-state rules (jobstate.next_state)."""
        old = self.job_state_rows.get(run["job"])
        finished = jobstate.Finished(
            run["job"],
            run["id"],
            run["started"],
            run["finished"],
            run["state"],
            run["summary"],
            run["node"],
            run["scheduled_for"],
        )
        state = jobstate.next_state(None if old is None else jobstate.JobState(**old), finished)
        self.job_state_rows[run["job"]] = dataclasses.asdict(state)

    def running_runs(self, node: str | None) -> Rows:
        return [
            r
            for r in sorted(self.runs.values(), key=lambda r: r["id"])
            if r["state"] == "running" and (node is None or r["node"] == node)
        ]

    def append_run_summary(self, id: int, text: str) -> None:
        run = self.runs.get(id)
        if run is not None and run["state"] != "running":
            run["summary"] = (run["summary"] or "") + text

    def record_process_group(self, id: int, process_group: str) -> None:
        run = self.runs.get(id)
        if run is not None and run["state"] == "running":
            run["process_group"] = process_group

    def interrupt_run(self, id: int, now: float) -> None:
        run = self.runs.get(id)
        if run is not None and run["state"] == "running":
            run.update(state="interrupted", finished=now, lease_until=None, summary=INTERRUPTED)
            self._run_finished(run)

    def history(self, job: str, limit: int) -> Rows:
        return _newest_first([r for r in self.runs.values() if r["job"] == job])[:limit]

    def job_runs(self, job: str, state: str | None, before: int | None, limit: int) -> Rows:
        rows = [
            r
            for r in self.runs.values()
            if r["job"] == job
            and (state is None or r["state"] == state)
            and (before is None or r["id"] < before)
        ]
        return sorted(rows, key=lambda r: r["id"], reverse=True)[:limit]

    def get_run(self, id: int) -> dict[str, Any] | None:
        return self.runs.get(id)

    def purge_old_runs(self, before: float) -> int:
        gone = [
            i
            for i, r in self.runs.items()
            if r["state"] != "running" and r["finished"] is not None and r["finished"] < before
        ]
        for run_id in gone:
            del self.runs[run_id]
        return len(gone)

    def purge_beyond_per_job(self, keep: int) -> int:
        ranked = _beyond(list(self.runs.values()), "job", lambda r: (r["started"], r["id"]), keep)
        gone = [r["id"] for r in ranked if r["state"] != "running"]
        for run_id in gone:
            del self.runs[run_id]
        return len(gone)


@dataclass
class Tables(_RunTables):
    """Every table, and one method per named query."""

    import_rows: dict[str, str] = field(default_factory=dict)
    row_sets: dict[int, dict[str, Any]] = field(default_factory=dict)
    row_set_rows: dict[tuple[int, str], str] = field(default_factory=dict)
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    activity_rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    rendered: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployment_rows: dict[int, dict[str, Any]] = field(default_factory=dict)

    def latest_row_set(self, source: str) -> dict[str, Any] | None:
        found = [r for r in self.row_sets.values() if r["source"] == source]
        return max(found, key=lambda r: r["id"], default=None)

    def insert_import_row(self, checksum: str, data: str) -> None:
        self.import_rows.setdefault(checksum, data)

    def insert_row_set(self, **row_set: Any) -> dict[str, Any]:
        row_set_id = self._next_id("row_sets")
        self.row_sets[row_set_id] = {**row_set, "id": row_set_id}
        return {"id": row_set_id}

    def insert_row_set_row(self, row_set: int, key: str, row: str) -> None:
        if (row_set, key) in self.row_set_rows:
            raise StoreError(f"row set {row_set} has key {key!r} twice")
        self.row_set_rows[row_set, key] = row

    def row_set_data(self, row_set: int) -> Rows:
        keys = sorted(k for r, k in self.row_set_rows if r == row_set)
        return [{"key": k, "data": self.import_rows[self.row_set_rows[row_set, k]]} for k in keys]

    def objects_of_type(self, type: str) -> Rows:
        return [self.objects[k] for k in sorted(self.objects) if k[0] == type]

    def all_objects(self) -> Rows:
        return [self.objects[k] for k in sorted(self.objects)]

    def insert_object(self, type: str, name: str, **row: Any) -> None:
        if (type, name) in self.objects:
            raise StoreError(f"object {type} {name!r} exists already")
        now = row.pop("now")
        self.objects[type, name] = {
            "type": type,
            "name": name,
            **row,
            "created": now,
            "updated": now,
        }

    def update_object(self, type: str, name: str, properties: str, now: float) -> None:
        found = self.objects.get((type, name))
        if found is not None:
            found.update(properties=properties, updated=now)

    def delete_object(self, type: str, name: str) -> None:
        self.objects.pop((type, name), None)

    def insert_activity(self, **entry: Any) -> dict[str, Any]:
        entry_id = self._next_id("activity")
        self.activity_rows[entry_id] = {**entry, "id": entry_id}
        return {"id": entry_id}

    def activity(self, rule: str | None, limit: int) -> Rows:
        rows = [r for r in self.activity_rows.values() if rule is None or r["rule"] == rule]
        return sorted(rows, key=lambda r: r["id"], reverse=True)[:limit]

    def save_rendered_config(self, checksum: str, **config: Any) -> None:
        self.rendered.setdefault(checksum, {**config, "checksum": checksum, "deployed": None})

    def start_deployment(self, **started: Any) -> dict[str, Any]:
        deployment_id = self._next_id("deployments")
        self.deployment_rows[deployment_id] = {
            **started,
            "id": deployment_id,
            "stage": None,
            "finished": None,
            "ok": None,
            "error": None,
        }
        return {"id": deployment_id}

    def finish_deployment(self, id: int, **finished: Any) -> None:
        found = self.deployment_rows.get(id)
        if found is not None:
            found.update(finished)

    def mark_deployed(self, checksum: str, deployed: float) -> None:
        found = self.rendered.get(checksum)
        if found is not None and found["deployed"] is None:
            found["deployed"] = deployed

    def deployments(self, limit: int) -> Rows:
        return _newest_first(list(self.deployment_rows.values()))[:limit]

    def last_deployment(self, package: str, ok: int | None) -> dict[str, Any] | None:
        found = [
            d
            for d in self.deployments(len(self.deployment_rows))
            if d["package"] == package and (ok is None or d["ok"] == ok)
        ]
        return found[0] if found else None

    def purge_row_sets(self, keep: int) -> int:
        gone = _beyond(list(self.row_sets.values()), "source", lambda r: r["id"], keep)
        for row_set in gone:
            del self.row_sets[row_set["id"]]
        return len(gone)

    def purge_row_set_rows(self) -> None:
        for key in [k for k in self.row_set_rows if k[0] not in self.row_sets]:
            del self.row_set_rows[key]

    def purge_unreferenced_rows(self) -> int:
        used = set(self.row_set_rows.values())
        gone = [c for c in self.import_rows if c not in used]
        for checksum in gone:
            del self.import_rows[checksum]
        return len(gone)

    def purge_rendered_configs(self, before: float) -> int:
        deployed = {d["checksum"] for d in self.deployment_rows.values()}
        gone = [
            c
            for c, r in self.rendered.items()
            if r["deployed"] is None and r["created"] < before and c not in deployed
        ]
        for checksum in gone:
            del self.rendered[checksum]
        return len(gone)
