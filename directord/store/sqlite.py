"""The default store: one SQLite file in WAL mode, through aiosqlite (a worker thread).

A run's own statements (its claim, its finish, the job switches read before it) run on the
event loop's thread instead, on a second connection, with group commit (``sqlite_inline``),
when nothing is queued on the worker thread.

WAL with synchronous=NORMAL: a committed transaction survives the process being killed (kill -9,
a crash); only an OS crash or power loss can lose the last commits.

This module holds only what is SQLite's own: the connection, transactions, pragmas, WAL
checkpoints, the file's modes and identity, and the daemon's lock file. What the queries mean is
``manager.QueryStore``'s.

Never open the database file with plain Python I/O in this process: closing any descriptor of it
drops every POSIX lock the process holds on it (SQLite's documented hazard), and the next other
reader then deletes the daemon's -wal and -shm underneath it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import aiosqlite

from directord.store import connector, manager, queries
from directord.store.base import StoreError, StoreUnavailable
from directord.store.connector import NO_PARAMS, Params, Row
from directord.store.outage import Outage
from directord.store.sqlite_errors import error, read_only_message
from directord.store.sqlite_files import file_problem, lock_daemon, prepare_file
from directord.store.sqlite_inline import DEFERRED, INLINE, Inline, busy, when_unlocked

CHECKPOINT_EVERY = 200  # writes between background WAL checkpoints
OPEN_PATIENCE = 30.0  # seconds an open waits for another connection's lock (as busy_timeout)


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


def _resolve(path: str | Path) -> str:
    """The real path: a daemon reached through a symlink must find the same lock file (and
    SQLite the same -wal) as one that was given the file itself."""
    text = str(path)
    if text == ":memory:" or text.startswith("file:"):
        return text
    return os.path.realpath(text)


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


@functools.cache
def _writes(query: str) -> bool:
    """Whether a named query changes rows (only a write that went through ends an outage)."""
    return re.search(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", Q[query], re.IGNORECASE) is not None


@functools.cache
def _positional(query: str) -> tuple[str, list[str]]:
    """A named query with ``?N`` placeholders, and the names in their order."""
    return queries.numbered(Q[query], "?")


class _SQLiteTransaction(connector.Transaction):
    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.db = db
        self.path = path

    async def execute(self, query: str, params: Params = NO_PARAMS) -> None:
        await self.count(query, params)

    async def count(self, query: str, params: Params = NO_PARAMS) -> int:
        try:
            cursor = await self.db.execute(Q[query], params)
            await cursor.close()
        except sqlite3.Error as exc:
            error(exc, self.path)
        return int(cursor.rowcount)

    async def execute_many(
        self, query: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        # Positional binding: by name, sqlite3 would make a string of every parameter name of
        # every row to look it up.
        statement, names = _positional(query)
        if list(columns) != names:
            order = [list(columns).index(n) for n in names]
            rows = [tuple(row[i] for i in order) for row in rows]
        try:
            await self.db.executemany(statement, rows)
        except sqlite3.Error as exc:
            error(exc, self.path)

    async def fetch_one(self, query: str, params: Params = NO_PARAMS) -> Row | None:
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    async def fetch_all(self, query: str, params: Params = NO_PARAMS) -> list[Row]:
        try:
            return list(await self.db.execute_fetchall(Q[query], params))
        except sqlite3.Error as exc:
            error(exc, self.path)

    async def run_script(self, script: str) -> None:
        try:
            for statement in _statements(script):
                await self.db.execute(statement)
        except sqlite3.Error as exc:
            error(exc, self.path)


class SQLiteConnector(connector.Connector):
    """One aiosqlite connection to a file (or ``:memory:``) that every coroutine shares."""

    dialect = "sqlite"
    outage: Outage

    def __init__(self, path: str | Path) -> None:
        self.path = _resolve(path)
        self._db: aiosqlite.Connection | None = None
        # One connection serves every coroutine; a transaction must not interleave with another.
        self._lock = asyncio.Lock()
        self._writes = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the opened file
        self._daemon_lock: IO[str] | None = None
        self.outage = Outage(self.path, "not writable")
        self._inline: Inline | None = None
        self._queued = 0  # statements on their way to the worker thread and back

    @contextlib.contextmanager
    def _watch(
        self, db: aiosqlite.Connection | sqlite3.Connection, writes: bool = True
    ) -> Iterator[None]:
        """Note an outage on a failure a retry may cure, and its end on a write that went
        through: reads may well work on a file that cannot be written, so only a write that
        began after the failure and changed something (the connection's change count moved)
        says the database is back; a statement in flight beside the failing one says nothing."""
        began = time.monotonic()
        before = db.total_changes
        try:
            yield
        except StoreUnavailable as exc:
            self.outage.down(str(exc.__cause__ or exc))
            raise
        if writes and db.total_changes != before and self.outage.noted_before(began):
            self.outage.up()

    @property
    def _file(self) -> bool:
        return self.path != ":memory:"

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    async def open(self) -> None:
        if self._file:
            prepare_file(self.path)
        # Switching a new file to WAL needs it to itself, and SQLite may answer "database is
        # locked" at once instead of calling the busy handler: a reader that opens the file in
        # that instant (`job history`, a monitoring probe) must not make the daemon's start fail.
        await when_unlocked(self._open, OPEN_PATIENCE)

    async def _open(self) -> None:
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            await self._db.execute("PRAGMA journal_mode = WAL")
            await self._db.execute("PRAGMA synchronous = NORMAL")
            await self._db.execute("PRAGMA foreign_keys = ON")
            await self._db.execute("PRAGMA busy_timeout = 30000")
            # Checkpoints (copying the WAL into the file, with fsyncs) would otherwise run inline
            # in whichever commit crosses 1000 pages: milliseconds added to a run's start. They
            # run on a connection of their own instead, after enough writes (note_writes).
            await self._db.execute("PRAGMA wal_autocheckpoint = 0")
            if self._file:
                st = os.stat(self.path)
                self._identity = (st.st_dev, st.st_ino)
                self._inline = Inline(self.path, Q)  # (a file: ":memory:" would be another)
        except sqlite3.Error as exc:
            await self.close()
            if "readonly" in str(exc):
                raise StoreError(read_only_message(self.path, str(exc))) from exc
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc

    async def read_only(self) -> None:
        await self.db.execute("PRAGMA query_only = ON")
        if self._inline is not None:
            self._inline.close()
            self._inline = None

    def lock_daemon(self) -> None:
        """An flock on ``<database>.daemon.lock``, held while the process lives: a second daemon
        on the same file would run every job twice."""
        if self._file and self._daemon_lock is None:
            self._daemon_lock = lock_daemon(self.path)

    async def close(self) -> None:
        if self._daemon_lock is not None:
            self._daemon_lock.close()  # closing releases the flock
            self._daemon_lock = None
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
            self._checkpoint = None
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._db is not None:
            db, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error):
                await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await db.close()

    def note_writes(self, count: int = 1) -> None:
        """Start a background checkpoint every CHECKPOINT_EVERY writes (never two at once)."""
        self._writes += count
        if self._writes < CHECKPOINT_EVERY or not self._file:
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._writes = 0
        self._checkpoint = asyncio.create_task(asyncio.to_thread(_checkpoint, self.path))

    def _before_thread(self) -> None:
        """Commit the open group before a statement goes to the worker thread: it comes after
        the group, and a write there would wait for the group's lock."""
        if self._inline is not None:
            self._inline.commit()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[connector.Transaction]:
        async with self._lock:
            self._before_thread()
            db = self.db
            with self._watch(db):
                try:
                    await db.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    error(exc, self.path)
                try:
                    yield _SQLiteTransaction(db, self.path)
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        await db.execute("ROLLBACK")  # (a failed write may have ended it)
                    raise
                try:
                    await db.execute("COMMIT")
                except sqlite3.Error as exc:
                    with contextlib.suppress(sqlite3.Error):
                        await db.execute("ROLLBACK")
                    error(exc, self.path)

    async def fetch_all(self, query: str, params: Params = NO_PARAMS) -> list[Row]:
        # One statement needs the lock only to stay out of a transaction in progress; it need not
        # hold it across the round trip: aiosqlite runs statements in the order they are queued,
        # and the queueing happens synchronously when execute_fetchall is first awaited. So
        # statements pipeline (a run's finish and the next run's claim), and execute_fetchall is
        # one hop to the connection's thread where execute, fetch and close would be three.
        if self._lock.locked():
            async with self._lock:
                pass
        # Inline only behind nothing: a statement queued earlier (a finish that met a busy
        # database) must not be overtaken (the next claim of its job would be refused).
        if self._inline is not None and self._queued == 0 and query in INLINE:
            rows = await self._fetch_inline(self._inline, query, params)
            if rows is not None:
                return rows
        self._before_thread()
        db = self.db
        self._queued += 1
        try:
            with self._watch(db, _writes(query)):
                try:
                    return list(await db.execute_fetchall(Q[query], params))
                except sqlite3.Error as exc:
                    error(exc, self.path)
        finally:
            self._queued -= 1

    async def _fetch_inline(self, inline: Inline, query: str, params: Params) -> list[Row] | None:
        """``query`` on the loop's thread (``sqlite_inline``); None: another connection holds
        the database (nothing ran: the worker thread waits for it)."""
        with self._watch(inline.conn, _writes(query)):
            try:
                if query not in DEFERRED:
                    return inline.fetch_all(query, params)
                done = inline.defer(query, params)
            except sqlite3.Error as exc:
                if busy(exc):
                    return None
                error(exc, self.path)
            try:
                await done
            except sqlite3.Error as exc:
                error(exc, self.path)
            return []

    async def fetch_one(self, query: str, params: Params = NO_PARAMS) -> Row | None:
        rows = await self.fetch_all(query, params)
        return rows[0] if rows else None

    async def execute(self, query: str, params: Params = NO_PARAMS) -> None:
        await self.fetch_all(query, params)

    async def ping(self) -> None:
        if self.outage.since is not None:
            # It may answer reads, but the last write failed: until one goes through, it is down.
            raise StoreUnavailable(self.outage.describe())
        try:
            await self.fetch_one("ping")
        except StoreError as exc:
            raise StoreError(f"SQLite does not answer: {exc.__cause__ or exc}") from exc
        if self._identity is not None:
            # The open connection keeps working on a file that was deleted, replaced or damaged
            # underneath it; the next start would not. Look at the path itself (off the loop).
            problem = await asyncio.to_thread(file_problem, self.path, self._identity)
            if problem:
                raise StoreError(f"the database file {self.path} {problem}")

    async def optimize(self) -> dict[str, Any]:
        await self.execute_raw("PRAGMA optimize")
        row = await self.execute_raw("PRAGMA wal_checkpoint(TRUNCATE)")
        free = await self.execute_raw("PRAGMA freelist_count")
        pages = await self.execute_raw("PRAGMA page_count")
        vacuumed = False
        # Reclaim space only when a fair share of the file is free: VACUUM rewrites the file.
        if free and pages and pages[0] and free[0] > max(256, pages[0] // 4):
            await self.execute_raw("VACUUM")
            vacuumed = True
        return {
            "checkpoint_busy": row[0] if row else None,
            "free_pages": free[0] if free else 0,
            "vacuumed": vacuumed,
        }

    async def execute_raw(self, sql: str) -> sqlite3.Row | None:
        """A pragma or maintenance statement that is SQLite's own, not a named query."""
        async with self._lock:
            self._before_thread()
            db = self.db
            with self._watch(db, writes=False):  # maintenance: no sign of writes going through
                try:
                    rows = list(await db.execute_fetchall(sql))
                except sqlite3.Error as exc:
                    error(exc, self.path)
        return rows[0] if rows else None


class SQLiteStore(manager.QueryStore):
    """The store on one SQLite file (the default ``database: sqlite:///...``)."""

    connector: SQLiteConnector

    def __init__(self, path: str | Path) -> None:
        super().__init__(SQLiteConnector(path))

    @property
    def path(self) -> str:
        return self.connector.path

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        return cls(path_from_url(url))


Q = queries.load(SQLiteConnector.dialect)
