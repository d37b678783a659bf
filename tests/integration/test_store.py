"""The store contract, on a real SQLite file (and every further backend, parametrized)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from directord import store
from directord.store import Claim, Outcome, RunState, Trigger, queries

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[store.Store]:
    s = store.open_store(f"sqlite:///{tmp_path / 'sub' / 'directord.db'}")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def claim(job: str = "a", at: float = 100.0, **kw: object) -> Claim:
    base: dict[str, object] = {
        "job": job,
        "kind": "noop",
        "node": "n1",
        "trigger": Trigger.schedule,
        "scheduled_for": at,
        "started": at + 1,
    }
    base.update(kw)
    return Claim(**base)  # type: ignore[arg-type]


async def test_migrations_are_applied_once(db: store.Store, tmp_path: Path) -> None:
    latest = queries.migrations(db.dialect)[-1][0]
    assert latest >= 2
    assert await db.schema_version() == latest
    await db.close()
    again = store.open_store(f"sqlite:///{tmp_path / 'sub' / 'directord.db'}")
    await again.open()
    try:
        assert await again.schema_version() == latest
    finally:
        await again.close()
    await db.open()


async def test_claim_is_unique_per_job_and_scheduled_time(db: store.Store) -> None:
    first = await db.claim_run(claim())
    assert first is not None
    assert await db.claim_run(claim()) is None
    # While the job runs, no other run of it can be claimed, whatever its scheduled time.
    assert await db.claim_run(claim(at=160.0)) is None
    assert await db.claim_run(claim(job="b")) is not None
    run = await db.get_run(first)
    assert run is not None
    assert run.state is RunState.running
    # The attempt reaches job_state together with its result (the supervisor keeps the running
    # attempt in memory; a crash turns it into an interrupted result at start-up).
    assert "a" not in await db.job_states()
    await db.finish_run(first, claim(), Outcome(RunState.succeeded, 170.0, "ok"))
    assert (await db.job_states())["a"].last_attempt == 101.0
    assert await db.claim_run(claim(at=160.0)) is not None
    assert await db.claim_run(claim()) is None  # that scheduled time was claimed already


async def test_finish_updates_run_and_state_together(db: store.Store) -> None:
    c = claim()
    run_id = await db.claim_run(c)
    assert run_id is not None
    await db.finish_run(
        run_id, c, Outcome(RunState.failed, 105.0, "boom", {"rows": 3}, {"exit_code": 2})
    )
    run = await db.get_run(run_id)
    assert run is not None
    assert (run.state, run.summary, run.counters, run.details) == (
        RunState.failed,
        "boom",
        {"rows": 3},
        {"exit_code": 2},
    )
    state = (await db.job_states())["a"]
    assert (state.last_result, state.last_error, state.failures, state.last_success) == (
        "failed",
        "boom",
        1,
        None,
    )
    c2 = claim(at=200.0)
    run2 = await db.claim_run(c2)
    assert run2 is not None
    await db.finish_run(run2, c2, Outcome(RunState.succeeded, 205.0, "ok"))
    state = (await db.job_states())["a"]
    assert (state.last_result, state.last_error, state.failures, state.last_success) == (
        "succeeded",
        None,
        0,
        205.0,
    )
    # A finished run is never finished twice (e.g. a late write after an interruption).
    await db.finish_run(run2, c2, Outcome(RunState.failed, 300.0, "late"))
    again = await db.get_run(run2)
    assert again is not None
    assert again.state is RunState.succeeded


async def test_running_rows_become_interrupted(db: store.Store) -> None:
    run_id = await db.claim_run(claim(owner="111:1.000"))
    live = await db.claim_run(claim(job="b", owner="222:2.000"))
    assert run_id is not None
    assert live is not None
    found = await db.interrupt_running(None, 500.0, lambda owner: owner == "222:2.000")
    assert [(f.run_id, f.job) for f in found] == [(run_id, "a")]
    run = await db.get_run(run_id)
    assert run is not None
    assert (run.state, run.finished) == (RunState.interrupted, 500.0)
    assert (await db.job_states())["a"].last_result == "interrupted"
    # A run whose owner is alive is left alone.
    still = await db.get_run(live)
    assert still is not None
    assert still.state is RunState.running
    assert await db.interrupt_running(None, 600.0, lambda owner: True) == []


async def test_config_jobs_are_versioned(db: store.Store) -> None:
    await db.sync_config_jobs([("a", "noop", {"interval": 60}), ("b", "noop", {})], 1.0)
    await db.sync_config_jobs([("a", "noop", {"interval": 60}), ("b", "noop", {})], 2.0)
    versions = {j.name: j.version for j in await db.list_jobs()}
    assert versions == {"a": 1, "b": 1}
    await db.sync_config_jobs([("a", "noop", {"interval": 30})], 3.0)
    jobs = {j.name: j for j in await db.list_jobs()}
    assert set(jobs) == {"a"}
    assert jobs["a"].version == 2
    assert jobs["a"].definition == {"interval": 30}


async def test_history_and_purge(db: store.Store) -> None:
    for i in range(5):
        c = claim(at=float(i * 100))
        run_id = await db.claim_run(c)
        assert run_id is not None
        await db.finish_run(run_id, c, Outcome(RunState.succeeded, float(i * 100 + 10), f"r{i}"))
    running = await db.claim_run(claim(at=1000.0))
    history = await db.history("a", limit=3)
    assert [r.summary for r in history] == [None, "r4", "r3"]
    # Older than 215 goes (r0, r1, r2); then at most 2 per job: the running one is never purged.
    removed = await db.purge_runs(before=215.0, keep_per_job=2)
    left = await db.history("a", limit=10)
    assert removed == 3 + 1
    assert [r.summary for r in left] == [None, "r4"]
    assert left[0].id == running
    assert sorted(str(r.state) for r in left) == ["running", "succeeded"]
    assert "vacuumed" in await db.optimize()


async def test_unreadable_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.db"
    path.write_bytes(b"this is not sqlite" * 100)
    s = store.open_store(f"sqlite:///{path}")
    with pytest.raises(store.StoreError, match="cannot open SQLite database"):
        await s.open()
    with pytest.raises(store.StoreError, match="unsupported database URL"):
        store.open_store("mysql://x")


async def test_committed_rows_survive_without_close(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    s = store.open_store(f"sqlite:///{path}")
    await s.open()
    run_id = await s.claim_run(claim())
    # Read through a second, independent connection while the first is still open (WAL).
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone() == (
            "running",
        )
    finally:
        conn.close()
        await s.close()
