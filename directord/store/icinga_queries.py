"""The Icinga pipeline's part of the store (``icinga_data.IcingaData``) as named queries on a
connector; ``manager.QueryStore`` includes it."""

from __future__ import annotations

from typing import Any

from directord.store import icinga_data, mapping
from directord.store.connector import Connector


class IcingaQueries(icinga_data.IcingaData):
    """Row sets, objects, activity, rendered configs and deployments over ``connector``."""

    connector: Connector

    # -- imports and objects -------------------------------------------------------------------

    async def latest_row_set(self, source: str) -> icinga_data.RowSetInfo | None:
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

    async def apply_object_changes(self, changes: icinga_data.ObjectChanges) -> int:
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

    async def last_deployment(
        self, package: str, ok: bool | None = None
    ) -> icinga_data.Deployment | None:
        params = {"package": package, "ok": None if ok is None else int(ok)}
        row = await self.connector.fetch_one("last_deployment", params)
        return None if row is None else mapping.deployment(row)

    async def deployments(self, limit: int = 20) -> list[icinga_data.Deployment]:
        found = await self.connector.fetch_all("deployments", {"limit": limit})
        return [mapping.deployment(r) for r in found]
