"""The default store: one SQLite file in WAL mode, through aiosqlite (a worker thread).

WAL with synchronous=NORMAL: a committed transaction survives the process being killed (kill -9,
a crash); only an OS crash or power loss can lose the last commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import aiosqlite

from directord.store import queries
from directord.store.base import (
    Claim,
    Deployment,
    Interrupted,
    JobRecord,
    JobState,
    ObjectChanges,
    Outcome,
    RowSetInfo,
    Run,
    RunState,
    Store,
    StoreError,
)

Q = queries.load("sqlite")
CHECKPOINT_EVERY = 200  # writes between background WAL checkpoints


def _checkpoint(path: str) -> None:
    """A PASSIVE checkpoint on a short-lived connection: it never blocks the writer."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass  # busy or locked: the next one catches up
    finally:
        conn.close()


def path_from_url(url: str) -> str:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise StoreError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    return url[len(prefix) :]


def _json(value: str | None) -> dict[str, Any]:
    return json.loads(value) if value else {}


def _run(row: sqlite3.Row) -> Run:
    return Run(
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
        state=RunState(row["state"]),
        summary=row["summary"],
        counters=_json(row["counters"]),
        details=_json(row["details"]),
        changed=None if row["changed"] is None else bool(row["changed"]),
    )


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: aiosqlite.Connection | None = None
        # One connection serves every coroutine; a transaction must not interleave with another.
        self._lock = asyncio.Lock()
        self._writes = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the opened file
        self._daemon_lock: IO[str] | None = None

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        return cls(path_from_url(url))

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    async def open(self) -> None:
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of {self.path}: {exc}") from exc
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            await self._db.execute("PRAGMA journal_mode = WAL")
            await self._db.execute("PRAGMA synchronous = NORMAL")
            await self._db.execute("PRAGMA foreign_keys = ON")
            await self._db.execute("PRAGMA busy_timeout = 30000")
            # Checkpoints (copying the WAL into the file, with fsyncs) would otherwise run inline
            # in whichever commit crosses 1000 pages: milliseconds added to a run's start. They
            # run on a connection of their own instead, after enough writes (_note_writes).
            await self._db.execute("PRAGMA wal_autocheckpoint = 0")
            await self._migrate()
            if self.path != ":memory:":
                st = os.stat(self.path)
                self._identity = (st.st_dev, st.st_ino)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc

    def lock_daemon(self) -> None:
        """An flock on ``<database>.daemon.lock``, held while the process lives: a second daemon
        on the same file would run every job twice."""
        if self.path == ":memory:" or self._daemon_lock is not None:
            return
        path = Path(self.path + ".daemon.lock")
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StoreError(
                f"another directord daemon (pid {holder}) already runs on {self.path}; "
                "one daemon per SQLite database"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._daemon_lock = handle

    async def close(self) -> None:
        if self._daemon_lock is not None:
            self._daemon_lock.close()  # closing releases the flock
            self._daemon_lock = None
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
            self._checkpoint = None
        if self._db is not None:
            db, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error):
                await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await db.close()

    def _note_writes(self, count: int = 1) -> None:
        """Start a background checkpoint every CHECKPOINT_EVERY writes (never two at once)."""
        self._writes += count
        if self._writes < CHECKPOINT_EVERY or self.path == ":memory:":
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._writes = 0
        self._checkpoint = asyncio.create_task(asyncio.to_thread(_checkpoint, self.path))

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self.db
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    async def _fetchall(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        # One statement needs the lock only to stay out of a transaction in progress; it need not
        # hold it across the round trip: aiosqlite runs statements in the order they are queued,
        # and the queueing happens synchronously when execute_fetchall is first awaited. So
        # statements pipeline (a run's finish and the next run's claim), and execute_fetchall is
        # one hop to the connection's thread where execute, fetch and close would be three.
        if self._lock.locked():
            async with self._lock:
                pass
        return list(await self.db.execute_fetchall(sql, params))

    async def _fetchone(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    async def _migrate(self) -> None:
        async with self._transaction() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            async with db.execute("SELECT max(version) FROM schema_version") as cur:
                row = await cur.fetchone()
            current = row[0] if row and row[0] is not None else 0
            for version, script in queries.migrations(self.dialect):
                if version <= current:
                    continue
                for statement in _statements(script):
                    await db.execute(statement)
                await db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    async def schema_version(self) -> int:
        row = await self._fetchone("SELECT max(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    async def ping(self) -> None:
        try:
            await self._fetchone(Q["ping"])
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite does not answer: {exc}") from exc
        if self._identity is not None:
            # The open connection keeps working on a file that was deleted, replaced or damaged
            # underneath it; the next start would not. Look at the path itself (off the loop).
            problem = await asyncio.to_thread(self._file_problem)
            if problem:
                raise StoreError(f"the database file {self.path} {problem}")

    def _file_problem(self) -> str | None:
        try:
            st = os.stat(self.path)
            with open(self.path, "rb") as f:
                header = f.read(16)
        except OSError as exc:
            return f"cannot be read: {exc.strerror}"
        if (st.st_dev, st.st_ino) != self._identity:
            return "was replaced or removed since it was opened"
        if header != b"SQLite format 3\x00":
            return "is no longer an SQLite database"
        return None

    async def sync_config_jobs(
        self, jobs: list[tuple[str, str, dict[str, Any]]], now: float
    ) -> None:
        async with self._transaction() as db:
            for name, kind, definition in jobs:
                await db.execute(
                    Q["upsert_config_job"],
                    {
                        "name": name,
                        "kind": kind,
                        "now": now,
                        "definition": json.dumps(definition, sort_keys=True),
                    },
                )
            await db.execute(
                Q["delete_config_jobs_except"], {"names": json.dumps([j[0] for j in jobs])}
            )

    async def list_jobs(self) -> list[JobRecord]:
        rows = await self._fetchall(Q["list_jobs"])
        return [
            JobRecord(
                name=r["name"],
                kind=r["kind"],
                definition=json.loads(r["definition"]),
                managed_by=r["managed_by"],
                version=r["version"],
                created=r["created"],
                updated=r["updated"],
            )
            for r in rows
        ]

    async def job_states(self) -> dict[str, JobState]:
        rows = await self._fetchall(Q["job_states"])
        return {r["job"]: JobState(**dict(r)) for r in rows}

    async def claim_run(self, claim: Claim) -> int | None:
        params = {
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
        row = await self._fetchone(Q["claim_run"], params)
        self._note_writes()
        return None if row is None else int(row[0])

    async def finish_run(self, run_id: int, claim: Claim, outcome: Outcome) -> None:
        params = {
            "id": run_id,
            "state": str(outcome.state),
            "finished": outcome.finished,
            "summary": outcome.summary,
            "counters": json.dumps(outcome.counters),
            "details": json.dumps(outcome.details, default=str),
            "changed": None if outcome.changed is None else int(outcome.changed),
        }
        # One statement: the runs_finished trigger updates job_state with it, atomically.
        await self._fetchall(Q["finish_run"], params)
        self._note_writes()

    async def interrupt_running(
        self, node: str | None, now: float, alive: Callable[[str | None], bool]
    ) -> list[Interrupted]:
        rows = await self._fetchall(Q["running_runs"], {"node": node})
        found = []
        for r in rows:
            if alive(r["owner"]):
                continue  # a live daemon's run: not ours to touch
            # One statement; the runs_finished trigger records it in job_state.
            await self._fetchall(Q["interrupt_run"], {"id": r["id"], "now": now})
            found.append(Interrupted(r["id"], r["job"], r["started"]))
        return found

    async def history(self, job: str, limit: int = 20) -> list[Run]:
        rows = await self._fetchall(Q["history"], {"job": job, "limit": limit})
        return [_run(r) for r in rows]

    async def get_run(self, run_id: int) -> Run | None:
        row = await self._fetchone(Q["get_run"], {"id": run_id})
        return None if row is None else _run(row)

    async def latest_row_set(self, source: str) -> RowSetInfo | None:
        row = await self._fetchone(Q["latest_row_set"], {"source": source})
        if row is None:
            return None
        return RowSetInfo(
            row["id"],
            row["source"],
            row["checksum"],
            row["row_count"],
            json.loads(row["columns"]),
            row["created"],
            row["run_id"],
        )

    async def save_row_set(
        self,
        source: str,
        checksum: str,
        rows: list[tuple[str, str, str]],
        columns: list[str],
        created: float,
        run_id: int | None,
    ) -> int:
        async with self._transaction() as db:
            await db.executemany(Q["insert_import_row"], [(rc, data) for _, rc, data in rows])
            async with db.execute(
                Q["insert_row_set"],
                {
                    "source": source,
                    "checksum": checksum,
                    "row_count": len(rows),
                    "columns": json.dumps(columns),
                    "created": created,
                    "run_id": run_id,
                },
            ) as cur:
                found = await cur.fetchone()
            assert found is not None
            row_set = int(found[0])
            await db.executemany(Q["insert_row_set_row"], [(row_set, k, rc) for k, rc, _ in rows])
        self._note_writes(1 + len(rows) // 100)
        return row_set

    async def row_set_data(self, row_set: int) -> list[tuple[str, str]]:
        rows = await self._fetchall(Q["row_set_data"], {"row_set": row_set})
        return [(r[0], r[1]) for r in rows]

    async def objects(
        self, object_type: str | None = None
    ) -> list[tuple[str, str, str, str | None]]:
        if object_type is None:
            rows = await self._fetchall(Q["all_objects"])
        else:
            rows = await self._fetchall(Q["objects_of_type"], {"type": object_type})
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def apply_object_changes(self, changes: ObjectChanges) -> int:
        now = changes.created
        counts = {"create": 0, "modify": 0, "delete": 0}
        for change in changes.changes:
            counts[change["action"]] += 1
        async with self._transaction() as db:
            await db.executemany(
                Q["insert_object"],
                [(t, n, props, changes.rule, now, now) for t, n, props in changes.creates],
            )
            await db.executemany(
                Q["update_object"], [(props, now, t, n) for t, n, props in changes.updates]
            )
            await db.executemany(Q["delete_object"], changes.deletes)
            async with db.execute(
                Q["insert_activity"],
                {
                    "created": now,
                    "rule": changes.rule,
                    "run_id": changes.run_id,
                    "created_count": counts["create"],
                    "modified_count": counts["modify"],
                    "deleted_count": counts["delete"],
                    "changes": json.dumps(changes.changes, default=str),
                },
            ) as cur:
                found = await cur.fetchone()
        assert found is not None
        self._note_writes(1 + len(changes.changes) // 100)
        return int(found[0])

    async def activity(self, rule: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self._fetchall(Q["activity"], {"rule": rule, "limit": limit})
        return [{**dict(r), "changes": json.loads(r["changes"])} for r in rows]

    async def save_rendered_config(
        self, checksum: str, files_json: str, object_count: int, created: float
    ) -> None:
        await self._fetchall(
            Q["save_rendered_config"],
            {
                "checksum": checksum,
                "files": files_json,
                "object_count": object_count,
                "created": created,
            },
        )
        self._note_writes()

    async def start_deployment(
        self, checksum: str, package: str, started: float, run_id: int | None
    ) -> int:
        row = await self._fetchone(
            Q["start_deployment"],
            {
                "checksum": checksum,
                "package": package,
                "started": started,
                "run_id": run_id,
            },
        )
        assert row is not None
        return int(row[0])

    async def finish_deployment(
        self,
        deployment: int,
        checksum: str,
        stage: str | None,
        finished: float,
        ok: bool,
        error: str | None,
    ) -> None:
        async with self._transaction() as db:
            await db.execute(
                Q["finish_deployment"],
                {
                    "id": deployment,
                    "stage": stage,
                    "finished": finished,
                    "ok": int(ok),
                    "error": error,
                },
            )
            if ok:
                await db.execute(Q["mark_deployed"], {"checksum": checksum, "deployed": finished})

    async def last_deployment(self, package: str, ok: bool | None = None) -> Deployment | None:
        row = await self._fetchone(
            Q["last_deployment"], {"package": package, "ok": None if ok is None else int(ok)}
        )
        return None if row is None else _deployment(row)

    async def deployments(self, limit: int = 20) -> list[Deployment]:
        return [_deployment(r) for r in await self._fetchall(Q["deployments"], {"limit": limit})]

    async def purge_imports(self, keep_row_sets: int) -> dict[str, int]:
        async with self._transaction() as db:
            cur = await db.execute(Q["purge_row_sets"], {"keep": keep_row_sets})
            row_sets = cur.rowcount
            await db.execute(Q["purge_row_set_rows"])
            cur = await db.execute(Q["purge_unreferenced_rows"])
            rows = cur.rowcount
        return {"row_sets": row_sets, "rows": rows}

    async def purge_rendered_configs(self, before: float) -> int:
        async with self._transaction() as db:
            cur = await db.execute(Q["purge_rendered_configs"], {"before": before})
            return int(cur.rowcount)

    async def purge_runs(self, before: float, keep_per_job: int) -> int:
        async with self._transaction() as db:
            cur = await db.execute(Q["purge_old_runs"], {"before": before})
            removed = cur.rowcount
            cur = await db.execute(Q["purge_beyond_per_job"], {"keep": keep_per_job})
            removed += cur.rowcount
        return removed

    async def optimize(self) -> dict[str, Any]:
        await self._fetchone("PRAGMA optimize")
        row = await self._fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
        free = await self._fetchone("PRAGMA freelist_count")
        pages = await self._fetchone("PRAGMA page_count")
        vacuumed = False
        # Reclaim space only when a fair share of the file is free: VACUUM rewrites the file.
        if free and pages and pages[0] and free[0] > max(256, pages[0] // 4):
            await self._fetchone("VACUUM")
            vacuumed = True
        return {
            "checkpoint_busy": row[0] if row else None,
            "free_pages": free[0] if free else 0,
            "vacuumed": vacuumed,
        }


def _deployment(row: sqlite3.Row) -> Deployment:
    return Deployment(
        id=row["id"],
        checksum=row["checksum"],
        package=row["package"],
        stage=row["stage"],
        started=row["started"],
        finished=row["finished"],
        ok=None if row["ok"] is None else bool(row["ok"]),
        error=row["error"],
        run_id=row["run_id"],
    )


def _statements(script: str) -> list[str]:
    """Split a migration script into statements; trigger bodies hold ';' of their own."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        if not buf and (not line.strip() or line.strip().startswith("--")):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
