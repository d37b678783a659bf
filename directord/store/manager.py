"""Every store method as named queries on a connector: what each query means, in one place.

A database adds a connector (``connector.Connector``) and, for the public name, a subclass of
``QueryStore`` that builds it; it writes no store method of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from directord.store import base, icinga_queries, mapping, migrations
from directord.store.connector import Connector
from directord.store.outage import Outage


class QueryStore(icinga_queries.IcingaQueries, base.Store):
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

    @property
    def outage(self) -> Outage | None:
        return self.connector.outage

    @property
    def down_since(self) -> float | None:
        """Since when (wall clock) the database is down; None while it is not."""
        return None if self.connector.outage is None else self.connector.outage.since

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
