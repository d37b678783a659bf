"""A run's own statements on the SQLite store, run on the event loop's thread.

A run's claim, its finish and the job switches read before it are each a one-row write or a
point read of tens of microseconds; the hop to aiosqlite's worker thread and back costs more CPU
than the statement and, on a single core, most of a run's time. So they run here, on a second
connection of their own, when nothing is queued on the worker thread (``sqlite.SQLiteConnector``
decides). This connection never waits for a lock: when another process holds the database the
statement raises ``Busy`` without having run, and goes to the worker thread, which waits there.

Group commit: a commit costs more than the statements it commits, so a finish (whose caller
needs no rows) waits in an open transaction for the next commit that cannot wait, a claim's,
or at most ``GROUP_WINDOW``: one commit for a run's finish and the next run's claim. Its caller
resumes only after that commit. A claim always commits before it returns, so a run's row exists
before its job is called; a kill -9 loses at most the finishes of the last ``GROUP_WINDOW``
(those runs are then recorded as interrupted), as a write-behind finish could before.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping

from directord.store.base import StoreError
from directord.store.connector import Params, Row

INLINE = frozenset({"claim_run", "finish_run", "disabled_jobs"})
# Writes that wait for the next commit (their callers need no rows).
DEFERRED = frozenset({"finish_run"})
# Reads answered again from the last answer while no other connection committed (SQLite's
# data_version): they read tables that the inline statements never write.
UNCHANGED = frozenset({"disabled_jobs"})
GROUP_WINDOW = 0.002  # seconds a deferred write waits at most for its commit
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says another connection holds the lock (the statement did not run)."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in _BUSY  # (extended codes too)


async def when_unlocked(attempt: Callable[[], Awaitable[None]], patience: float) -> None:
    """``attempt()``, again after a pause while it fails because another connection holds the
    lock (a ``StoreError`` caused by a busy ``sqlite3.Error``), for ``patience`` seconds."""
    deadline = time.monotonic() + patience
    pause = 0.01
    while True:
        try:
            return await attempt()
        except StoreError as exc:
            cause = exc.__cause__
            if not isinstance(cause, sqlite3.Error) or not busy(cause):
                raise
            if time.monotonic() + pause > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)


class Inline:
    """The connection for the statements run on the event loop's thread: no busy wait."""

    def __init__(self, path: str, queries: Mapping[str, str]) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        for pragma in ("synchronous = NORMAL", "foreign_keys = ON", "wal_autocheckpoint = 0"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.queries = queries
        self._answers: dict[str, tuple[int, list[Row]]] = {}  # UNCHANGED reads: version, rows
        self._waiting: list[asyncio.Future[None]] = []  # the deferred writes of the open group
        self._timer: asyncio.TimerHandle | None = None

    def fetch_all(self, query: str, params: Params) -> list[Row]:
        """The rows of ``query``, committed (with the open group, if any)."""
        if query in UNCHANGED and not params:
            version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
            known = self._answers.get(query)
            if known is not None and known[0] == version:
                return list(known[1])
            rows = self._run(query, params)
            self._answers[query] = (version, rows)
            return list(rows)
        try:
            rows = self._run(query, params)
        except sqlite3.Error:
            if not self.conn.in_transaction:
                self._failed(None)
            raise
        if self._waiting:
            self.commit(raise_errors=True)
        return rows

    def defer(self, query: str, params: Params) -> asyncio.Future[None]:
        """Run ``query`` now in the open group (opening one): the returned future is done when
        the group commits."""
        loop = asyncio.get_running_loop()
        if not self._waiting:
            self.conn.execute("BEGIN IMMEDIATE")  # Busy here: nothing ran
            self._timer = loop.call_later(GROUP_WINDOW, self.commit)
        try:
            self._run(query, params)
        except sqlite3.Error:
            if not self._waiting:
                self._rollback()
            elif not self.conn.in_transaction:  # SQLite rolled the group back itself
                self._failed(None)
            raise
        waiter = loop.create_future()
        self._waiting.append(waiter)
        return waiter

    def commit(self, raise_errors: bool = False) -> None:
        """Commit the open group (if any): its deferred writes are done."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiting:
            return
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            self._failed(exc)
            if raise_errors:
                raise
            return
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(None)

    def _failed(self, exc: sqlite3.Error | None) -> None:
        """The open group is lost (rolled back): its writers learn why."""
        waiting, self._waiting = self._waiting, []
        error = exc or sqlite3.OperationalError("the transaction was rolled back")
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(error)

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")

    def _run(self, query: str, params: Params) -> list[Row]:
        cursor = self.conn.execute(self.queries[query], params)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()  # the statement is finished before the caller goes on

    def close(self) -> None:
        self.commit()
        self.conn.close()
