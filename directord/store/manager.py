"""Every store method as named queries on a connector: what each query means, in one place.

A database adds a connector (``connector.Connector``) and, for the public name, a subclass of
``QueryStore`` that builds it; it writes no store method of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from directord.store import base, mapping, migrations
from directord.store.connector import Connector


class QueryStore(base.Store):
    """A ``base.Store`` over any ``Connector``: row mapping and parameters from ``mapping``,
    statements by name from the connector's dialect."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.dialect = connector.dialect

    async def open(self, readonly: bool = False) -> None:
        await self.connector.open()
        try:
            await migrations.migrate(self.connector)
        except BaseException:
            await self.connector.close()
            raise
        if readonly:
            await self.connector.read_only()

    async def close(self) -> None:
        await self.connector.close()

    async def schema_version(self) -> int:
        return await migrations.current(self.connector)

    def lock_daemon(self) -> None:
        self.connector.lock_daemon()

    async def ping(self) -> None:
        await self.connector.ping()

    async def optimize(self) -> dict[str, Any]:
        return await self.connector.optimize()

    # -- job definitions -----------------------------------------------------------------------

    async def sync_config_jobs(
        self, jobs: list[tuple[str, str, dict[str, Any]]], now: float
    ) -> None:
        async with self.connector.transaction() as tx:
            for name, kind, definition in jobs:
                await tx.execute(
                    "upsert_config_job", mapping.config_job(name, kind, definition, now)
                )
            await tx.execute("delete_config_jobs_except", mapping.job_names([j[0] for j in jobs]))

    async def list_jobs(self) -> list[base.JobRecord]:
        return [mapping.job_record(r) for r in await self.connector.fetch_all("list_jobs")]

    async def set_job_disabled(self, job: str, disabled: bool, now: float) -> None:
        await self.connector.execute(
            "set_job_disabled", {"job": job, "disabled": int(disabled), "now": now}
        )

    async def disabled_jobs(self) -> dict[str, float]:
        rows = await self.connector.fetch_all("disabled_jobs")
        return {str(r["job"]): float(r["updated"]) for r in rows}

    async def create_job(
        self, name: str, kind: str, definition: dict[str, Any], managed_by: str, now: float
    ) -> base.JobRecord | None:
        params = {**mapping.config_job(name, kind, definition, now), "managed_by": managed_by}
        row = await self.connector.fetch_one("insert_job", params)
        self.connector.note_writes()
        return None if row is None else mapping.job_record(row)

    async def update_job(
        self, name: str, kind: str, definition: dict[str, Any], version: int, now: float
    ) -> base.JobRecord | None:
        params = {**mapping.config_job(name, kind, definition, now), "version": version}
        row = await self.connector.fetch_one("update_store_job", params)
        self.connector.note_writes()
        return None if row is None else mapping.job_record(row)

    async def delete_job(self, name: str, version: int | None = None) -> bool:
        row = await self.connector.fetch_one("delete_store_job", {"name": name, "version": version})
        self.connector.note_writes()
        return row is not None

    # -- state and runs ------------------------------------------------------------------------

    async def job_states(self) -> dict[str, base.JobState]:
        states = [mapping.job_state(r) for r in await self.connector.fetch_all("job_states")]
        return {s.job: s for s in states}

    async def claim_run(self, claim: base.Claim) -> int | None:
        row = await self.connector.fetch_one("claim_run", mapping.claim(claim))
        self.connector.note_writes()
        return None if row is None else int(row["id"])

    async def finish_run(self, run_id: int, claim: base.Claim, outcome: base.Outcome) -> None:
        # One statement: job_state follows it in the same statement (the runs_finished trigger).
        await self.connector.execute("finish_run", mapping.finish(run_id, outcome))
        self.connector.note_writes()

    async def interrupt_running(
        self, node: str | None, now: float, alive: Callable[[str | None], bool]
    ) -> list[base.Interrupted]:
        found = []
        for r in await self.connector.fetch_all("running_runs", {"node": node}):
            if alive(r["owner"]):
                continue  # a live daemon's run: not ours to touch
            # One statement; the runs_finished trigger records it in job_state.
            await self.connector.execute("interrupt_run", {"id": r["id"], "now": now})
            found.append(
                base.Interrupted(
                    r["id"], r["job"], r["started"], r["node"], r["process_group"], r["owner"]
                )
            )
        return found

    async def record_process_group(self, run_id: int, process_group: str) -> None:
        await self.connector.execute(
            "record_process_group", {"id": run_id, "process_group": process_group}
        )
        self.connector.note_writes()

    async def append_run_summary(self, run_id: int, text: str) -> None:
        await self.connector.execute("append_run_summary", {"id": run_id, "text": text})
        self.connector.note_writes()

    async def running_runs(self, node: str | None = None) -> list[base.Run]:
        found = await self.connector.fetch_all("running_runs", {"node": node})
        return [mapping.run(r) for r in found]

    async def history(self, job: str, limit: int = 20) -> list[base.Run]:
        found = await self.connector.fetch_all("history", {"job": job, "limit": limit})
        return [mapping.run(r) for r in found]

    async def job_runs(
        self, job: str, *, limit: int = 20, before: int | None = None, state: str | None = None
    ) -> list[base.Run]:
        found = await self.connector.fetch_all(
            "job_runs", {"job": job, "state": state, "before": before, "limit": limit}
        )
        return [mapping.run(r) for r in found]

    async def get_run(self, run_id: int) -> base.Run | None:
        row = await self.connector.fetch_one("get_run", {"id": run_id})
        return None if row is None else mapping.run(row)

    # -- imports and objects -------------------------------------------------------------------

    async def latest_row_set(self, source: str) -> base.RowSetInfo | None:
        row = await self.connector.fetch_one("latest_row_set", {"source": source})
        return None if row is None else mapping.row_set_info(row)

    async def save_row_set(
        self,
        source: str,
        checksum: str,
        rows: list[tuple[str, str, str]],
        columns: list[str],
        created: float,
        run_id: int | None,
    ) -> int:
        params = mapping.row_set(source, checksum, len(rows), columns, created, run_id)
        async with self.connector.transaction() as tx:
            await tx.execute_many(
                "insert_import_row", ("checksum", "data"), [(rc, data) for _, rc, data in rows]
            )
            found = await tx.fetch_one("insert_row_set", params)
            assert found is not None  # RETURNING of an INSERT
            row_set = int(found["id"])
            await tx.execute_many(
                "insert_row_set_row",
                ("row_set", "key", "row"),
                [(row_set, key, rc) for key, rc, _ in rows],
            )
        self.connector.note_writes(1 + len(rows) // 100)
        return row_set

    async def row_set_data(self, row_set: int) -> list[tuple[str, str]]:
        found = await self.connector.fetch_all("row_set_data", {"row_set": row_set})
        return [(r["key"], r["data"]) for r in found]

    async def objects(
        self, object_type: str | None = None
    ) -> list[tuple[str, str, str, str | None]]:
        if object_type is None:
            found = await self.connector.fetch_all("all_objects")
        else:
            found = await self.connector.fetch_all("objects_of_type", {"type": object_type})
        return [mapping.object_row(r) for r in found]

    async def apply_object_changes(self, changes: base.ObjectChanges) -> int:
        now, rule = changes.created, changes.rule
        async with self.connector.transaction() as tx:
            await tx.execute_many(
                "insert_object",
                ("type", "name", "properties", "rule", "now"),
                [(t, n, p, rule, now) for t, n, p in changes.creates],
            )
            await tx.execute_many(
                "update_object",
                ("properties", "now", "type", "name"),
                [(p, now, t, n) for t, n, p in changes.updates],
            )
            await tx.execute_many("delete_object", ("type", "name"), changes.deletes)
            found = await tx.fetch_one("insert_activity", mapping.activity_entry(changes))
        assert found is not None  # RETURNING of an INSERT
        self.connector.note_writes(1 + len(changes.changes) // 100)
        return int(found["id"])

    async def activity(self, rule: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        found = await self.connector.fetch_all("activity", {"rule": rule, "limit": limit})
        return [mapping.activity(r) for r in found]

    # -- rendered configs and deployments -------------------------------------------------------

    async def save_rendered_config(
        self, checksum: str, files_json: str, object_count: int, created: float
    ) -> None:
        params = {
            "checksum": checksum,
            "files": files_json,
            "object_count": object_count,
            "created": created,
        }
        await self.connector.execute("save_rendered_config", params)
        self.connector.note_writes()

    async def start_deployment(
        self, checksum: str, package: str, started: float, run_id: int | None
    ) -> int:
        params = {"checksum": checksum, "package": package, "started": started, "run_id": run_id}
        row = await self.connector.fetch_one("start_deployment", params)
        assert row is not None  # RETURNING of an INSERT
        return int(row["id"])

    async def finish_deployment(
        self,
        deployment: int,
        checksum: str,
        stage: str | None,
        finished: float,
        ok: bool,
        error: str | None,
    ) -> None:
        async with self.connector.transaction() as tx:
            await tx.execute(
                "finish_deployment",
                mapping.finished_deployment(deployment, stage, finished, ok, error),
            )
            if ok:
                await tx.execute("mark_deployed", {"checksum": checksum, "deployed": finished})

    async def last_deployment(self, package: str, ok: bool | None = None) -> base.Deployment | None:
        params = {"package": package, "ok": None if ok is None else int(ok)}
        row = await self.connector.fetch_one("last_deployment", params)
        return None if row is None else mapping.deployment(row)

    async def deployments(self, limit: int = 20) -> list[base.Deployment]:
        found = await self.connector.fetch_all("deployments", {"limit": limit})
        return [mapping.deployment(r) for r in found]

    # -- housekeeping --------------------------------------------------------------------------

    async def purge_runs(self, before: float, keep_per_job: int) -> int:
        async with self.connector.transaction() as tx:
            removed = await tx.count("purge_old_runs", {"before": before})
            removed += await tx.count("purge_beyond_per_job", {"keep": keep_per_job})
        return removed

    async def purge_imports(self, keep_row_sets: int) -> dict[str, int]:
        async with self.connector.transaction() as tx:
            row_sets = await tx.count("purge_row_sets", {"keep": keep_row_sets})
            await tx.execute("purge_row_set_rows")
            removed_rows = await tx.count("purge_unreferenced_rows")
        return {"row_sets": row_sets, "rows": removed_rows}

    async def purge_rendered_configs(self, before: float) -> int:
        async with self.connector.transaction() as tx:
            return await tx.count("purge_rendered_configs", {"before": before})
