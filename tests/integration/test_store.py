"""The store contract: every store method, on every store (``params``), through ``Store`` only.

A new store slots in as one more parameter of ``reopen`` (PostgreSQL: ``pytest.param("postgres",
marks=pytest.mark.postgres)``). ``test_every_store_method_has_a_contract_test`` keeps the
promise of issue 13: no store method without a test here.
"""

from __future__ import annotations

import ast
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from directord import store
from directord.store import Claim, ObjectChanges, Outcome, RunState, Trigger, queries

pytestmark = pytest.mark.anyio

Reopen = Callable[[], Awaitable[store.Store]]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Reopen]:
    """``await reopen()``: one more open store on the same database (a second process, or the
    same daemon after a restart); every one is closed after the test."""
    opened: list[store.Store] = []
    memory = store.MemoryStore().database
    if request.param == "postgres":  # a real server, a fresh database for this test
        request.getfixturevalue("pg_password")
        pg_url = request.getfixturevalue("pg_url")

    async def make() -> store.Store:
        s: store.Store
        if request.param == "memory":
            s = store.MemoryStore(memory)
        elif request.param == "postgres":
            s = store.open_store(pg_url)
        else:
            s = store.open_store(f"sqlite:///{tmp_path / 'sub' / 'directord.db'}")
        await s.open()
        opened.append(s)
        return s

    try:
        yield make
    finally:
        for s in opened:
            await s.close()


@pytest.fixture
async def db(reopen: Reopen) -> store.Store:
    return await reopen()


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


async def finished(db: store.Store, c: Claim, state: RunState, at: float, text: str) -> int:
    run_id = await db.claim_run(c)
    assert run_id is not None
    await db.finish_run(run_id, c, Outcome(state, at, text))
    return run_id


async def test_migrations_are_applied_once(db: store.Store, reopen: Reopen) -> None:
    latest = queries.latest_version(db.dialect)
    assert await db.schema_version() == latest
    await db.close()
    await db.close()  # closing twice does nothing
    again = await reopen()
    assert await again.schema_version() == latest
    await db.open()
    assert await db.schema_version() == latest


async def test_what_was_written_survives_close_and_reopen(db: store.Store, reopen: Reopen) -> None:
    run_id = await finished(db, claim(), RunState.succeeded, 110.0, "ok")
    await db.sync_config_jobs([("a", "noop", {"interval": 60})], 1.0)
    await db.close()
    again = await reopen()
    run = await again.get_run(run_id)
    assert run is not None
    assert run.summary == "ok"
    assert [j.name for j in await again.list_jobs()] == ["a"]


async def test_a_closed_store_is_an_error(db: store.Store) -> None:
    await db.ping()
    await db.close()
    with pytest.raises(store.StoreError):
        await db.ping()
    with pytest.raises(store.StoreError):
        await db.job_states()


async def test_readonly_store_reads_and_refuses_writes(db: store.Store, reopen: Reopen) -> None:
    run_id = await finished(db, claim(), RunState.succeeded, 110.0, "ok")
    looker = await reopen()
    await looker.close()
    await looker.open(readonly=True)
    assert [r.id for r in await looker.history("a")] == [run_id]
    await looker.ping()
    with pytest.raises(store.StoreError):
        await looker.claim_run(claim(at=500.0))
    with pytest.raises(store.StoreError):
        await looker.sync_config_jobs([("a", "noop", {})], 1.0)
    assert await db.claim_run(claim(at=600.0)) is not None  # the writer is not affected


async def test_one_daemon_per_store(db: store.Store, reopen: Reopen) -> None:
    other = await reopen()
    db.lock_daemon()
    db.lock_daemon()  # taking it twice in one store does nothing
    if db.single_daemon:
        with pytest.raises(store.StoreError, match="another directord daemon"):
            other.lock_daemon()
    await db.close()
    other.lock_daemon()  # free again once the first one closed


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


async def test_a_claim_records_every_field(db: store.Store) -> None:
    c = claim(
        trigger=Trigger.retry, attempt=3, job_version=7, node="n2", owner="1:2.0", kind="command"
    )
    run_id = await db.claim_run(c)
    assert run_id is not None
    run = await db.get_run(run_id)
    assert run is not None
    assert run.as_json() == {
        "id": run_id,
        "job": "a",
        "kind": "command",
        "node": "n2",
        "trigger": "retry",
        "attempt": 3,
        "job_version": 7,
        "scheduled_for": 100.0,
        "started": 101.0,
        "finished": None,
        "duration": None,
        "state": "running",
        "summary": None,
        "counters": {},
        "details": {},
        "changed": None,
    }
    assert await db.get_run(run_id + 1000) is None


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
    assert state.last_node == "n1"  # jobs list shows the node of the last run
    c2 = claim(at=200.0, node="n2")
    run2 = await db.claim_run(c2)
    assert run2 is not None
    await db.finish_run(run2, c2, Outcome(RunState.succeeded, 205.0, "ok", changed=True))
    state = (await db.job_states())["a"]
    assert (state.last_result, state.last_error, state.failures, state.last_success) == (
        "succeeded",
        None,
        0,
        205.0,
    )
    assert state.last_node == "n2"
    # Its due time, as the job's last attempt: every node counts the interval grid from it.
    assert (state.last_attempt, state.last_scheduled) == (201.0, 200.0)
    assert (state.last_attempt, state.last_finished, state.last_run_id) == (201.0, 205.0, run2)
    # A finished run is never finished twice (e.g. a late write after an interruption).
    await db.finish_run(run2, c2, Outcome(RunState.failed, 300.0, "late"))
    again = await db.get_run(run2)
    assert again is not None
    assert again.state is RunState.succeeded
    assert again.changed is True


async def test_failures_count_until_a_success(db: store.Store) -> None:
    for i, state in enumerate([RunState.failed, RunState.timed_out, RunState.cancelled]):
        await finished(db, claim(at=100.0 * (i + 1)), state, 100.0 * (i + 1) + 5, str(state))
    state = (await db.job_states())["a"]
    assert (state.failures, state.last_result, state.last_error) == (3, "cancelled", "cancelled")
    await finished(db, claim(at=900.0), RunState.succeeded, 905.0, "ok")
    await finished(db, claim(at=1000.0), RunState.failed, 1005.0, "again")
    state = (await db.job_states())["a"]
    assert (state.failures, state.last_success, state.last_error) == (1, 905.0, "again")


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


async def test_a_running_run_keeps_its_process_group(db: store.Store) -> None:
    run_id = await db.claim_run(claim(owner="111:1.000"))
    other = await db.claim_run(claim(job="b", node="n2", owner="222:2.000"))
    assert run_id is not None
    assert other is not None
    await db.record_process_group(run_id, "4242:123.456@host")
    [a, b] = await db.running_runs()
    assert (a.id, a.owner, a.process_group, a.state) == (
        run_id,
        "111:1.000",
        "4242:123.456@host",
        RunState.running,
    )
    assert (b.id, b.process_group) == (other, None)
    assert [r.id for r in await db.running_runs("n2")] == [other]
    # Whoever interrupts the run learns its group, to end what is left of it.
    found = await db.interrupt_running("n1", 500.0, lambda owner: False)
    assert [(f.run_id, f.process_group) for f in found] == [(run_id, "4242:123.456@host")]
    run = await db.get_run(run_id)
    assert run is not None
    assert (run.owner, run.process_group) == ("111:1.000", "4242:123.456@host")
    assert [r.id for r in await db.running_runs()] == [other]
    assert found[0].owner == "111:1.000"
    # A late note never touches a run that stopped running.
    await db.record_process_group(run_id, "1:1.000@elsewhere")
    # What was done about its processes is added to its summary; a running run keeps its own.
    await db.append_run_summary(run_id, "; 2 leftover processes killed")
    await db.append_run_summary(other, "; never")
    again = await db.get_run(run_id)
    assert again is not None
    assert again.process_group == "4242:123.456@host"
    assert (again.summary or "").startswith("interrupted: ")
    assert (again.summary or "").endswith("; 2 leftover processes killed")
    still = await db.get_run(other)
    assert still is not None
    assert still.summary is None


async def test_interrupting_one_node_leaves_the_others(db: store.Store) -> None:
    mine = await db.claim_run(claim(node="n1"))
    theirs = await db.claim_run(claim(job="b", node="n2"))
    found = await db.interrupt_running("n1", 500.0, lambda owner: False)
    assert [f.run_id for f in found] == [mine]
    assert found[0].started == 101.0
    other = await db.get_run(theirs or 0)
    assert other is not None
    assert other.state is RunState.running
    state = (await db.job_states())["a"]
    assert (state.failures, state.last_attempt) == (1, 101.0)
    assert state.last_error is not None
    assert "interrupted" in state.last_error


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
    assert (jobs["a"].kind, jobs["a"].managed_by, jobs["a"].created, jobs["a"].updated) == (
        "noop",
        "config",
        1.0,
        3.0,
    )
    await db.sync_config_jobs([("a", "command", {"interval": 30}), ("c", "noop", {})], 4.0)
    assert [(j.name, j.kind, j.version) for j in await db.list_jobs()] == [
        ("a", "command", 3),
        ("c", "noop", 1),
    ]
    await db.sync_config_jobs([], 5.0)
    assert await db.list_jobs() == []


async def test_store_jobs_lock_optimistically_and_survive_config_syncs(
    db: store.Store, reopen: Reopen
) -> None:
    made = await db.create_job("web", "noop", {"interval": 60}, "store", 1.0)
    assert made is not None
    assert (made.name, made.kind, made.managed_by, made.version) == ("web", "noop", "store", 1)
    assert await db.create_job("web", "noop", {}, "store", 2.0) is None  # the name is taken
    await db.sync_config_jobs([("cfg", "noop", {"interval": 5})], 2.0)
    assert await db.create_job("cfg", "noop", {}, "store", 2.0) is None
    # A config sync leaves store-managed jobs alone.
    assert {j.name: j.managed_by for j in await db.list_jobs()} == {"cfg": "config", "web": "store"}

    updated = await db.update_job("web", "noop", {"interval": 30}, 1, 3.0)
    assert updated is not None
    assert (updated.version, updated.definition, updated.updated) == (2, {"interval": 30}, 3.0)
    # A stale version changes nothing; neither does a write to a config-managed job.
    assert await db.update_job("web", "noop", {"interval": 1}, 1, 4.0) is None
    assert await db.update_job("cfg", "noop", {"interval": 1}, 1, 4.0) is None
    other = await reopen()
    jobs = {j.name: j for j in await other.list_jobs()}
    assert jobs["web"].definition == {"interval": 30}
    assert jobs["cfg"].definition == {"interval": 5}

    run_id = await finished(db, claim("web"), RunState.succeeded, 200.0, "ran")
    assert not await db.delete_job("web", version=1)  # stale
    assert not await db.delete_job("cfg")  # config-managed
    assert await db.delete_job("web", version=2)
    assert not await db.delete_job("web")
    assert [j.name for j in await db.list_jobs()] == ["cfg"]
    # Its runs stay for the record.
    kept = await db.get_run(run_id)
    assert kept is not None
    assert kept.summary == "ran"


async def test_job_runs_pages_newest_first(db: store.Store) -> None:
    ids = []
    for i in range(7):
        state = RunState.failed if i % 3 == 0 else RunState.succeeded
        ids.append(await finished(db, claim(at=float(i * 10)), state, float(i * 10 + 5), f"r{i}"))
    await finished(db, claim("other", at=5.0), RunState.succeeded, 6.0, "x")
    first = await db.job_runs("a", limit=3)
    assert [r.id for r in first] == ids[::-1][:3]
    second = await db.job_runs("a", limit=3, before=first[-1].id)
    assert [r.id for r in second] == ids[::-1][3:6]
    failed = await db.job_runs("a", state="failed", limit=10)
    assert [r.summary for r in failed] == ["r6", "r3", "r0"]
    assert await db.job_runs("nosuch") == []


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
    assert await db.history("nosuch") == []


async def test_purge_keeps_the_newest_of_each_job(db: store.Store) -> None:
    for i in range(3):
        await finished(db, claim("a", at=float(i)), RunState.succeeded, float(i) + 0.5, f"a{i}")
        await finished(db, claim("b", at=float(i)), RunState.failed, float(i) + 0.5, f"b{i}")
    assert await db.purge_runs(before=0.0, keep_per_job=1) == 4
    assert [r.summary for r in await db.history("a")] == ["a2"]
    assert [r.summary for r in await db.history("b")] == ["b2"]
    assert await db.purge_runs(before=0.0, keep_per_job=1) == 0


async def test_row_sets_share_rows_and_are_purged(db: store.Store) -> None:
    assert await db.latest_row_set("hosts") is None
    rows = [("h1", "c1", '{"name": "h1"}'), ("h2", "c2", '{"name": "h2"}')]
    first = await db.save_row_set("hosts", "sum1", rows, ["name"], 10.0, None)
    second = await db.save_row_set("hosts", "sum2", rows[:1], ["name"], 20.0, 7)
    await db.save_row_set("other", "sum3", [("x", "c3", "{}")], [], 30.0, None)
    latest = await db.latest_row_set("hosts")
    assert latest is not None
    assert (latest.id, latest.source, latest.checksum, latest.row_count) == (
        second,
        "hosts",
        "sum2",
        1,
    )
    assert (latest.columns, latest.created, latest.run_id) == (["name"], 20.0, 7)
    assert await db.row_set_data(first) == [("h1", '{"name": "h1"}'), ("h2", '{"name": "h2"}')]
    assert await db.row_set_data(second) == [("h1", '{"name": "h1"}')]
    # The older row set goes, with c2 that only it used; c1 stays (the newer one uses it).
    assert await db.purge_imports(keep_row_sets=1) == {"row_sets": 1, "rows": 1}
    assert await db.row_set_data(first) == []
    assert await db.row_set_data(second) == [("h1", '{"name": "h1"}')]
    assert await db.purge_imports(keep_row_sets=1) == {"row_sets": 0, "rows": 0}


async def test_object_changes_and_activity(db: store.Store) -> None:
    assert await db.objects() == []
    first = await db.apply_object_changes(
        ObjectChanges(
            rule="hosts",
            run_id=3,
            created=10.0,
            creates=[("Host", "h1", '{"a": 1}'), ("Host", "h2", "{}"), ("Zone", "z", "{}")],
            updates=[],
            deletes=[],
            changes=[{"action": "create", "name": n} for n in ("h1", "h2", "z")],
        )
    )
    second = await db.apply_object_changes(
        ObjectChanges(
            rule="hosts",
            run_id=4,
            created=20.0,
            creates=[],
            updates=[("Host", "h1", '{"a": 2}')],
            deletes=[("Host", "h2")],
            changes=[{"action": "modify", "name": "h1"}, {"action": "delete", "name": "h2"}],
        )
    )
    await db.apply_object_changes(ObjectChanges("zones", None, 30.0, [], [], [], []))
    assert await db.objects() == [("Host", "h1", '{"a": 2}', "hosts"), ("Zone", "z", "{}", "hosts")]
    assert await db.objects("Zone") == [("Zone", "z", "{}", "hosts")]
    entries = await db.activity("hosts")
    assert [e["id"] for e in entries] == [second, first]
    assert {k: entries[0][k] for k in ("rule", "run_id", "created")} == {
        "rule": "hosts",
        "run_id": 4,
        "created": 20.0,
    }
    assert [entries[0][k] for k in ("created_count", "modified_count", "deleted_count")] == [
        0,
        1,
        1,
    ]
    assert entries[1]["changes"][0] == {"action": "create", "name": "h1"}
    assert [e["rule"] for e in await db.activity(limit=2)] == ["zones", "hosts"]


async def test_object_changes_are_atomic(db: store.Store) -> None:
    one = ObjectChanges("r", None, 1.0, [("Host", "h", "{}")], [], [], [])
    await db.apply_object_changes(one)
    twice = ObjectChanges("r", None, 2.0, [("Host", "new", "{}"), ("Host", "h", "{}")], [], [], [])
    with pytest.raises(store.StoreError):
        await db.apply_object_changes(twice)  # h exists: nothing of this change set is written
    assert await db.objects() == [("Host", "h", "{}", "r")]
    assert len(await db.activity()) == 1


async def test_deployments_and_rendered_configs(db: store.Store) -> None:
    files = json.dumps({"zones.d/a.conf": "object Host ..."})
    await db.save_rendered_config("c1", files, 1, 10.0)
    await db.save_rendered_config("c1", "{}", 9, 11.0)  # once per checksum
    await db.save_rendered_config("c2", files, 1, 12.0)
    await db.save_rendered_config("c3", files, 1, 13.0)
    assert await db.last_deployment("pkg") is None
    d1 = await db.start_deployment("c1", "pkg", 20.0, 5)
    pending = await db.last_deployment("pkg")
    assert pending is not None
    assert (pending.id, pending.ok, pending.finished, pending.run_id) == (d1, None, None, 5)
    await db.finish_deployment(d1, "c1", "stage-1", 25.0, True, None)
    d2 = await db.start_deployment("c2", "pkg", 30.0, None)
    await db.finish_deployment(d2, "c2", "stage-2", 35.0, False, "syntax error")
    await db.start_deployment("c1", "other", 40.0, None)
    newest = await db.last_deployment("pkg")
    assert newest is not None
    assert (newest.id, newest.ok, newest.error, newest.stage) == (
        d2,
        False,
        "syntax error",
        "stage-2",
    )
    good = await db.last_deployment("pkg", ok=True)
    assert good is not None
    assert (good.id, good.checksum, good.finished) == (d1, "c1", 25.0)
    assert [d.package for d in await db.deployments()] == ["other", "pkg", "pkg"]
    assert len(await db.deployments(limit=1)) == 1
    # c1 was deployed and c2 attempted: only c3 (never deployed nor attempted) goes.
    assert await db.purge_rendered_configs(before=100.0) == 1
    assert await db.purge_rendered_configs(before=100.0) == 0


async def test_join_registers_a_shared_stores_node(db: store.Store) -> None:
    await db.join("n1", "1:1.000", {"a": "x"})
    nodes = await db.nodes()
    if db.single_daemon:
        assert nodes == []
        assert db.cluster() is None
    else:
        assert [(n["node"], n["alive"], n["this"]) for n in nodes] == [("n1", True, True)]
        assert db.cluster() is not None


def test_every_store_method_has_a_contract_test() -> None:
    tree = ast.parse(Path(__file__).read_text())
    called = {
        node.attr
        for fn in tree.body
        if isinstance(fn, ast.AsyncFunctionDef) and fn.name.startswith("test_")
        for node in ast.walk(fn)
        if isinstance(node, ast.Attribute)
    }
    untested = sorted(set(store.Store.__abstractmethods__) - called)
    assert untested == [], f"store methods without a contract test: {untested}"


async def test_job_switches_persist_and_a_readonly_store_shows_them(
    db: store.Store, reopen: Reopen
) -> None:
    assert await db.disabled_jobs() == {}
    await db.set_job_disabled("a", True, 10.0)
    await db.set_job_disabled("b", True, 11.0)
    await db.set_job_disabled("b", False, 12.0)
    await db.close()
    again = await reopen()
    assert await again.disabled_jobs() == {"a": 10.0}
    await again.close()
    await again.open(readonly=True)
    assert await again.disabled_jobs() == {"a": 10.0}
    with pytest.raises(store.StoreError):
        await again.set_job_disabled("a", False, 13.0)
