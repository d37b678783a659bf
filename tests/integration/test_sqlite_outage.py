"""A real SQLite file whose write lock another connection holds: what the store and the
write-back make of it (the daemon under real outages: tests/e2e/test_outage.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from directord import store, writeback
from directord.store import Claim, Outcome, RunState, Trigger

pytestmark = pytest.mark.anyio


def claim(job: str, at: float) -> Claim:
    return Claim(job=job, kind="noop", node="n", trigger=Trigger.schedule, scheduled_for=at,
                 started=at, owner="1:1")  # fmt: skip


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[store.SQLiteStore]:
    s = store.SQLiteStore(tmp_path / "d.db")
    await s.open()
    # The daemon waits 30 s for a lock; a test need not.
    await s.connector.execute_raw("PRAGMA busy_timeout = 50")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def lock(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection, holding nothing until the test says ``BEGIN IMMEDIATE``."""
    conn = sqlite3.connect(tmp_path / "d.db", isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


async def test_a_held_write_lock_is_an_outage_until_a_write_goes_through(
    db: store.SQLiteStore, lock: sqlite3.Connection
) -> None:
    run_id = await db.claim_run(claim("a", 1.0))
    assert run_id is not None
    lock.execute("BEGIN IMMEDIATE")
    with pytest.raises(store.StoreUnavailable, match="database is locked"):
        await db.claim_run(claim("b", 1.0))
    assert db.down_since is not None
    assert db.outage is not None
    reason = db.outage.describe()
    assert reason.startswith("database not writable since ")
    assert reason.endswith(": database is locked")
    # Reads still work; the store still says it is down until a write goes through.
    assert await db.job_states() == {}
    with pytest.raises(store.StoreUnavailable, match="database not writable since"):
        await db.ping()
    lock.execute("ROLLBACK")
    with pytest.raises(store.StoreUnavailable):
        await db.ping()  # a ping is no write: down until one goes through
    back: list[bool] = []
    db.outage.on_back.append(lambda: back.append(True))
    assert await db.claim_run(claim("b", 1.0)) is not None
    assert (db.down_since, back) == (None, [True])
    await db.ping()


async def test_a_constraint_is_no_outage(db: store.SQLiteStore) -> None:
    await db.connector.execute_raw("CREATE TABLE t (x INTEGER NOT NULL)")
    with pytest.raises(store.StoreError) as exc:
        await db.connector.execute_raw("INSERT INTO t VALUES (NULL)")
    assert not isinstance(exc.value, store.StoreUnavailable)
    assert db.down_since is None


async def finish_while_locked(
    db: store.SQLiteStore, lock: sqlite3.Connection, outcome: Outcome
) -> tuple[int, writeback.WriteBack]:
    """A claimed run whose finish is recorded while another connection holds the lock."""
    run_id = await db.claim_run(claim("a", 1.0))
    assert run_id is not None
    finishes = writeback.WriteBack(db)
    lock.execute("BEGIN IMMEDIATE")
    finishes.record(run_id, claim("a", 1.0), outcome)
    return run_id, finishes


async def test_a_finish_the_file_does_not_take_is_kept_and_written_later(
    db: store.SQLiteStore, lock: sqlite3.Connection
) -> None:
    ok = Outcome(RunState.succeeded, 2.0, "ok")
    run_id, finishes = await finish_while_locked(db, lock, ok)
    async with asyncio.timeout(30):
        while not finishes.kept:
            await asyncio.sleep(0.01)
    with pytest.raises(store.StoreUnavailable):
        await finishes.write_kept()
    lock.execute("ROLLBACK")
    assert await finishes.flush() == []
    run = await db.get_run(run_id)
    assert run is not None
    assert (run.state, run.summary) == (RunState.succeeded, "ok")
    assert finishes.unwritten == 0


async def test_a_flush_with_a_deadline_gives_up_and_names_what_is_lost(
    db: store.SQLiteStore, lock: sqlite3.Connection
) -> None:
    no = Outcome(RunState.failed, 2.0, "no")
    run_id, finishes = await finish_while_locked(db, lock, no)
    lost = await finishes.flush(deadline=time.monotonic() + 0.5)
    assert [(f.run_id, f.outcome.summary) for f in lost] == [(run_id, "no")]
    assert finishes.unwritten == 0
    lock.execute("ROLLBACK")
    run = await db.get_run(run_id)
    assert run is not None
    assert run.state is RunState.running  # the next daemon's start records it interrupted


def test_backoff_is_capped_and_jittered() -> None:
    delays = [writeback.backoff(n) for n in range(1, 40)]
    assert all(0 < d <= writeback.RETRY_CAP * 1.5 for d in delays)
    assert min(delays[:1]) < writeback.RETRY_FIRST * 1.5
    assert len({round(d, 6) for d in delays}) > 1
