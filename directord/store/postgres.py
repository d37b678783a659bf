"""The PostgreSQL store: several nodes on one database, through an asyncpg pool.

The connector runs the same named queries as SQLite's (sql/postgresql/queries.sql, ``:name``
parameters numbered for asyncpg); ``manager.QueryStore`` gives them their meaning and the row
mapping. What only a shared database needs is here and in ``presence.py``:

- a due run is claimed exactly once: ``claim_run`` inserts its row under ``UNIQUE(job,
  scheduled_for)`` in a transaction that holds a cluster-wide advisory lock and checks the
  concurrency limit of the whole cluster and the job's last attempt as stored;
- a claimed run has a lease on the database's clock, renewed by its node (presence.py); a run
  whose lease ran out is recorded as interrupted by any node, and the late result of a node that
  lost its lease is not written over that;
- an outage is survived: it is noted once (outage.py), and the finishes that could not be
  written are kept and written on reconnect by the caller (writeback.py), as for SQLite.

The password never leaves this module: it comes from ``database_password_file`` (or libpq's
PGPASSWORD / ~/.pgpass, which asyncpg reads), and every message shows the URL with the password
as ``***``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from loguru import logger

from directord import redact
from directord.store import connector, manager, mapping, pgsql, presence
from directord.store.base import (
    Claim,
    Interrupted,
    JobState,
    Outcome,
    StoreError,
    StoreUnavailable,
)
from directord.store.connector import NO_PARAMS, Params, Row
from directord.store.outage import Outage


class _PgTransaction(connector.Transaction):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def execute(self, query: str, params: Params = NO_PARAMS) -> None:
        await self.count(query, params)

    async def count(self, query: str, params: Params = NO_PARAMS) -> int:
        sql, values = pgsql.args(query, params)
        # Without parameters a statement may be several (create_schema_version).
        tag = await (self.conn.execute(sql, *values) if values else self.conn.execute(sql))
        return pgsql.affected(str(tag))

    async def execute_many(
        self, query: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        sql, names = pgsql.statement(query)
        order = [list(columns).index(n) for n in names]
        values = [[row[i] for i in order] for row in rows]
        if values:
            await self.conn.executemany(sql, values)

    async def fetch_one(self, query: str, params: Params = NO_PARAMS) -> Row | None:
        sql, values = pgsql.args(query, params)
        row: Row | None = await self.conn.fetchrow(sql, *values)
        return row

    async def fetch_all(self, query: str, params: Params = NO_PARAMS) -> list[Row]:
        sql, values = pgsql.args(query, params)
        return list(await self.conn.fetch(sql, *values))

    async def run_script(self, script: str) -> None:
        await self.conn.execute(script)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """A pool connection goes back as it is (asyncpg still rolls back an open transaction).
    asyncpg's default sends a reset query (UNLISTEN, RESET ALL, advisory unlock) at every
    release: a second round trip for every statement. This store's pool connections keep no
    session state: no LISTEN, SET or session advisory lock (those have connections of their
    own, ``connect()``), only transaction-scoped locks."""


class PostgresConnector(connector.Connector):
    """An asyncpg pool with statement timeouts; database errors become StoreError, and an
    outage StoreUnavailable, logged once when it begins and once when it ends."""

    dialect = pgsql.DIALECT
    outage: Outage

    def __init__(
        self,
        url: str,
        *,
        password_file: Path | None = None,
        statement_timeout: float = 30.0,
        pool_size: int = 4,
    ) -> None:
        self.url = url
        self.display_url = redact.redact_url(url)
        self.password_file = password_file
        self.statement_timeout = statement_timeout
        self.pool_size = pool_size
        self.outage = Outage(self.display_url, "unreachable")
        self._password: str | None = None
        self._pool: asyncpg.Pool | None = None
        self._readonly = False

    def secret(self, text: str) -> str:
        """``text`` without the password (an error message, say)."""
        if self._password:
            text = text.replace(self._password, "***")
        parts = self.url.split("@", 1)
        return text.replace(self.url, self.display_url) if len(parts) == 2 else text

    def _options(self) -> dict[str, Any]:
        settings = {
            "application_name": "directord",
            "statement_timeout": str(int(self.statement_timeout * 1000)),
        }
        if self._readonly:
            settings["default_transaction_read_only"] = "on"
        return {"password": self._password, "timeout": 10, "server_settings": settings}

    async def connect(self) -> asyncpg.Connection:
        """A connection of its own (the node lock, LISTEN), with this store's settings."""
        return await asyncpg.connect(self.url, **self._options())

    async def open(self) -> None:
        if self.password_file is not None:
            try:
                self._password = self.password_file.read_text().strip()
            except OSError as exc:
                raise StoreError(
                    f"database_password_file: cannot read {self.password_file}: {exc.strerror}"
                ) from None
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                command_timeout=self.statement_timeout + 5,
                reset=_keep_session,
                **self._options(),
            )
        except (asyncpg.PostgresError, *pgsql.UNREACHABLE) as exc:
            raise StoreError(
                f"cannot open PostgreSQL database {self.display_url}: {self.secret(str(exc))}"
            ) from None

    async def read_only(self) -> None:
        self._readonly = True
        await self.close()
        await self.open()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with contextlib.suppress(*pgsql.UNREACHABLE, asyncpg.PostgresError):
                await asyncio.wait_for(pool.close(), 5)
            pool.terminate()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except pgsql.UNREACHABLE as exc:
            self.outage.down(self.secret(str(exc) or type(exc).__name__))
            raise StoreUnavailable(self.outage.describe()) from None
        except asyncpg.PostgresError as exc:
            raise StoreError(f"PostgreSQL ({self.display_url}): {self.secret(str(exc))}") from None
        self.outage.up()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[connector.Transaction]:
        with self.errors():
            async with self.pool.acquire() as conn, conn.transaction():
                yield _PgTransaction(conn)

    async def fetch_all(self, query: str, params: Params = NO_PARAMS) -> list[Row]:
        sql, values = pgsql.args(query, params)
        with self.errors():
            return list(await self.pool.fetch(sql, *values))

    async def fetch_one(self, query: str, params: Params = NO_PARAMS) -> Row | None:
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    async def execute(self, query: str, params: Params = NO_PARAMS) -> None:
        await self.fetch_all(query, params)

    async def ping(self) -> None:
        await self.fetch_one("ping")

    def lock_daemon(self) -> None:
        """Nothing here: several daemons share this database; ``join`` takes the node's name."""

    async def optimize(self) -> dict[str, Any]:
        # Autovacuum does the routine work; after a purge, vacuum and fresh statistics now.
        with self.errors():
            await self.pool.execute("VACUUM (ANALYZE) runs, import_rows, row_set_rows, row_sets")
        return {"vacuumed": True}


class PostgresStore(manager.QueryStore):
    """The store on PostgreSQL. ``node``: this daemon's node name; ``lease``: seconds a claimed
    run stays its node's without a renewal; ``cluster_limit``: runs at once across all nodes
    (None: each node limits its own)."""

    connector: PostgresConnector
    single_daemon = False

    def __init__(
        self,
        url: str,
        *,
        password_file: Path | None = None,
        node: str | None = None,
        lease: float = 30.0,
        cluster_limit: int | None = None,
        statement_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            PostgresConnector(url, password_file=password_file, statement_timeout=statement_timeout)
        )
        self.node = node
        self.lease = lease
        self.cluster_limit = cluster_limit
        self.mine: set[int] = set()  # this process's running runs: the leases it renews
        self._finishing: set[asyncio.Future[None]] = set()  # finish_run calls under way
        self.presence = presence.Presence(self)
        self.connector.outage.on_back.append(self.presence.reconnected)

    @property
    def display_url(self) -> str:
        return self.connector.display_url

    async def close(self) -> None:
        await self.presence.stop()
        await super().close()

    # -- the cluster ---------------------------------------------------------------------------

    async def join(self, node: str, owner: str, checksums: dict[str, str]) -> None:
        """Again after a reload: the node's definition checksums as they are now."""
        if self.presence.joined and (self.presence.node, self.presence.owner) == (node, owner):
            await self.presence.update(checksums)
            return
        self.node = node
        await self.presence.start(node, owner, checksums)

    def subscribe(self, callback: Callable[[dict[str, JobState]], None]) -> None:
        self.presence.listeners.append(callback)

    def on_interrupted(self, callback: Callable[[list[Interrupted]], object]) -> None:
        self.presence.on_interrupted.append(callback)

    def cluster(self) -> dict[str, Any] | None:
        return {"nodes": self.presence.last_nodes, "warnings": self.presence.warnings}

    async def nodes(self) -> list[dict[str, Any]]:
        return await self.presence.nodes()

    async def disabled_jobs(self) -> dict[str, float]:
        """From memory while this node listens (a change is notified); read before every
        claim, they cost a round trip per run otherwise."""
        cached = self.presence.switches
        if cached is not None and self.presence.listening:
            return dict(cached)
        version = self.presence.switches_version
        found = await super().disabled_jobs()
        if self.presence.listening and version == self.presence.switches_version:
            self.presence.switches = dict(found)
        return found

    async def set_job_disabled(self, job: str, disabled: bool, now: float) -> None:
        await super().set_job_disabled(job, disabled, now)
        self.presence.switches = None
        self.presence.switches_version += 1

    # -- claims and runs -----------------------------------------------------------------------

    async def claim_run(self, claim: Claim) -> int | None:
        """One round trip (``directord_claim``); a claim waits for this node's finishes in
        flight, so that it does not find this node's own finished run still running."""
        if self._finishing:
            await asyncio.wait(list(self._finishing))
        params = {
            **mapping.claim(claim),
            "lease": self.lease,
            "limit": self.cluster_limit,
            "seen": claim.last_attempt_seen,
            "key": pgsql.CLAIM_KEY,
        }
        row = await self.connector.fetch_one("claim", params)
        assert row is not None  # the function answers one row
        if row["run_id"] is None:
            self.last_refusal = str(row["refusal"])
            # What beat it, as the database knows it now: this node's view of the job's last
            # attempt is fresh at once (no wait for the winner's finish, no re-read of all).
            seen = claim.last_attempt_seen or 0.0
            if row["last_attempt"] is not None and row["last_attempt"] > seen:
                self.presence.deliver({claim.job: mapping.job_state(row)})
            return None
        self.last_refusal = None
        self.mine.add(int(row["run_id"]))
        return int(row["run_id"])

    async def finish_run(self, run_id: int, claim: Claim, outcome: Outcome) -> None:
        """Written only if the row is still this owner's. An outage raises StoreUnavailable:
        the caller keeps the finish and writes it once the database is back (writeback.py)."""
        done = asyncio.get_running_loop().create_future()
        self._finishing.add(done)
        try:
            await self._finish(run_id, claim, outcome)
        finally:
            self._finishing.discard(done)
            done.set_result(None)

    async def _finish(self, run_id: int, claim: Claim, outcome: Outcome) -> None:
        params = {**mapping.finish(run_id, outcome), "owner": claim.owner}
        written = await self.connector.fetch_all("finish_run", params)
        self.mine.discard(run_id)
        if not written and not await self._finished_before(run_id):
            logger.bind(action="lease_lost", job=claim.job, run=run_id).error(
                "run {} of {} is no longer this node's: its lease expired and another node "
                "recorded it as interrupted; this result is NOT recorded: {}: {}",
                run_id,
                claim.job,
                outcome.state,
                outcome.summary,
            )

    async def _finished_before(self, run_id: int) -> bool:
        """Whether the run's row holds a result of its own (finished twice: nothing lost)."""
        run = await self.get_run(run_id)
        return run is not None and not str(run.summary or "").startswith("interrupted: node ")

    async def interrupt_running(
        self, node: str | None, now: float, alive: Callable[[str | None], bool]
    ) -> list[Interrupted]:
        """Any node's runs whose lease ran out, and this node's runs of dead owners (judged by
        ``alive``): a process on another host cannot be looked at, its lease can."""
        found = [
            Interrupted(r["id"], r["job"], r["started"], r["node"], r["process_group"], r["owner"])
            for r in await self.connector.fetch_all("interrupt_expired")
        ]
        for r in await self.connector.fetch_all("running_runs", {"node": node}):
            if self.node is not None and r["node"] != self.node:
                continue
            if alive(r["owner"]):
                continue
            await self.connector.execute("interrupt_run", {"id": r["id"], "now": now})
            found.append(
                Interrupted(
                    r["id"], r["job"], r["started"], r["node"], r["process_group"], r["owner"]
                )
            )
        return found
