"""A run's statements on the SQLite store run on the event loop's thread (no hop to the worker
thread) unless another process holds the database: then they wait for it, in their order, and
nothing fails or overtakes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from directord import store
from directord.store import Claim, Outcome, RunState, Trigger

pytestmark = pytest.mark.anyio


def claim(at: float) -> Claim:
    return Claim("a", "noop", "n1", Trigger.schedule, at, at + 1, owner="o")


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)


async def test_a_locked_database_makes_the_statements_wait_in_order(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    async with store.open(f"sqlite:///{path}") as db:
        first = await db.claim_run(claim(100.0))  # nobody else: at once, committed
        assert first is not None
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writes (a CLI command, jobs run)
        try:
            finish = asyncio.ensure_future(
                db.finish_run(first, claim(100.0), Outcome(RunState.succeeded, 102.0, "ok"))
            )
            # The next run of the same job, claimed behind its finish: refused if it overtook
            # it (the job would still have a running row).
            second = asyncio.ensure_future(db.claim_run(claim(200.0)))
            connector = db.connector  # type: ignore[attr-defined]
            await until(lambda: connector._queued == 2, "both statements wait for the lock")
            assert not finish.done()
            assert not second.done()
        finally:
            other.execute("COMMIT")
            other.close()
        await finish
        second_id = await second
        assert second_id is not None
        [newest, oldest] = await db.history("a")
        assert (oldest.id, str(oldest.state)) == (first, "succeeded")
        assert (newest.id, str(newest.state)) == (second_id, "running")


async def test_job_switches_are_read_anew_after_any_other_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    async with store.open(url) as db:
        assert await db.disabled_jobs() == {}
        await db.claim_run(claim(100.0))  # its own inline writes leave the answer as it was
        assert await db.disabled_jobs() == {}
        await db.set_job_disabled("a", True, 5.0)  # the API, on the daemon's other connection
        assert await db.disabled_jobs() == {"a": 5.0}
        async with store.open(url) as cli:  # `directord job enable a`, another process
            await cli.set_job_disabled("a", False, 6.0)
        assert await db.disabled_jobs() == {}


async def test_a_claim_commits_the_finish_waiting_before_it(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    async with store.open(f"sqlite:///{path}") as db:
        first = await db.claim_run(claim(100.0))
        assert first is not None
        outcome = Outcome(RunState.succeeded, 102.0, "ok")
        finish = asyncio.ensure_future(db.finish_run(first, claim(100.0), outcome))
        await asyncio.sleep(0)  # the finish is written, waiting for a commit
        second = await db.claim_run(claim(200.0))  # refused if the finish were not before it
        assert second is not None
        # The claim's commit took the finish along: another process sees both at once.
        other = sqlite3.connect(path)
        try:
            states = dict(other.execute("SELECT id, state FROM runs").fetchall())
        finally:
            other.close()
        assert states == {first: "succeeded", second: "running"}
        await finish
        # A finish alone is committed when finish_run returns (within the group window).
        await db.finish_run(second, claim(200.0), Outcome(RunState.failed, 201.0, "no"))
        other = sqlite3.connect(path)
        try:
            assert other.execute("SELECT state FROM runs WHERE id = ?", (second,)).fetchone() == (
                "failed",
            )
        finally:
            other.close()
