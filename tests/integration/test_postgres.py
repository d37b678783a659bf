"""What only a shared PostgreSQL store does: concurrent migrations, exactly-once claims across
several store instances (as several nodes), leases, LISTEN/NOTIFY, node names, passwords."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from directord import process_groups, runs, store, writeback
from directord.store import Claim, Outcome, RunState, Trigger, postgres

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
Opener = Callable[..., Any]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def stores(pg_url: str, pg_password: str) -> AsyncIterator[Opener]:
    """``await make(**kw)``: an open PostgresStore on the test's database, closed after it."""
    opened: list[store.Store] = []

    async def make(**kw: Any) -> postgres.PostgresStore:
        s = store.open_store(pg_url, **kw)
        await s.open()
        opened.append(s)
        assert isinstance(s, postgres.PostgresStore)
        return s

    try:
        yield make
    finally:
        for s in opened:
            await s.close()


def claim(job: str, at: float, node: str = "n1", **kw: Any) -> Claim:
    return Claim(
        job=job,
        kind="noop",
        node=node,
        trigger=kw.pop("trigger", Trigger.schedule),
        scheduled_for=at,
        started=at,
        owner=kw.pop("owner", f"{node}:1.000"),
        **kw,
    )


async def test_three_stores_migrating_at_once_migrate_once(pg_url: str, pg_password: str) -> None:
    many = [store.open_store(pg_url) for _ in range(3)]
    try:
        await asyncio.gather(*(s.open() for s in many))
        versions = [await s.schema_version() for s in many]
        latest = store.queries.migrations("postgresql")[-1][0]
        assert versions == [latest] * 3
        assert isinstance(many[0], postgres.PostgresStore)
        rows = await many[0].connector.pool.fetch(
            "SELECT version FROM schema_version ORDER BY version"
        )
        assert [r["version"] for r in rows] == list(range(1, latest + 1))
        # And their config jobs, stored by each at once, end up once each.
        jobs = [("a", "noop", {"interval": 1}), ("b", "noop", {"interval": 2})]
        await asyncio.gather(*(s.sync_config_jobs(jobs, 1.0) for s in many))
        assert [(j.name, j.version) for j in await many[1].list_jobs()] == [("a", 1), ("b", 1)]
    finally:
        for s in many:
            await s.close()


async def test_concurrent_claims_of_one_due_run_have_one_winner(stores: Opener) -> None:
    nodes = [await stores() for _ in range(3)]
    for at in (100.0, 200.0, 300.0):
        won = await asyncio.gather(
            *(
                s.claim_run(claim("a", at, node=f"n{i}", last_attempt_seen=at - 100))
                for i, s in enumerate(nodes)
            )
        )
        winners = [w for w in won if w is not None]
        assert len(winners) == 1
        losers = [s.last_refusal for s, w in zip(nodes, won, strict=True) if w is None]
        assert set(losers) <= {"claimed", "running", "stale"}
        i = next(i for i, w in enumerate(won) if w is not None)
        await nodes[i].finish_run(
            winners[0], claim("a", at, node=f"n{i}"), Outcome(RunState.succeeded, at + 1, "ok")
        )
    runs = await nodes[0].history("a", limit=10)
    assert sorted(r.scheduled_for for r in runs) == [100.0, 200.0, 300.0]


async def test_cluster_limit_counts_every_nodes_runs(stores: Opener) -> None:
    a = await stores(cluster_limit=2)
    b = await stores(cluster_limit=2)
    results = await asyncio.gather(
        *(
            (a if i % 2 else b).claim_run(claim(f"j{i}", 10.0, last_attempt_seen=0.0))
            for i in range(6)
        )
    )
    won = [r for r in results if r is not None]
    assert len(won) == 2
    assert {a.last_refusal, b.last_refusal} == {"limit"}
    # A finished run frees its slot for any node.
    owner = a if won[0] in a.mine else b
    name = (await owner.get_run(won[0])).job  # type: ignore[union-attr]
    await owner.finish_run(won[0], claim(name, 10.0), Outcome(RunState.succeeded, 11.0, "ok"))
    assert await a.claim_run(claim("late", 10.0, last_attempt_seen=0.0)) is not None


async def test_a_stale_view_loses_the_claim(stores: Opener) -> None:
    a = await stores()
    b = await stores()
    first = await a.claim_run(claim("job", 100.0, node="a", last_attempt_seen=0.0))
    assert first is not None
    await a.finish_run(first, claim("job", 100.0, node="a"), Outcome(RunState.succeeded, 101, ""))
    # b never heard of that run: it thinks the job was never attempted and claims a due time of
    # its own view. The database knows better: refused, as stale.
    assert await b.claim_run(claim("job", 130.0, node="b", last_attempt_seen=0.0)) is None
    assert b.last_refusal == "stale"
    # With the stored attempt in its view, its claim wins; a manual run needs no view.
    assert await b.claim_run(claim("job", 160.0, node="b", last_attempt_seen=100.0)) is not None
    other = await b.claim_run(claim("other", 1.0, node="b", trigger=Trigger.manual))
    assert other is not None


async def test_a_node_that_lost_learns_the_winners_start_at_once(stores: Opener) -> None:
    a = await stores(node="a", cluster_limit=1)
    b = await stores(node="b", cluster_limit=1)
    heard: list[dict[str, store.JobState]] = []
    b.subscribe(heard.append)
    won = await a.claim_run(claim("job", 100.0, node="a", last_attempt_seen=0.0))
    assert won is not None
    # Still running on a: b's claim of the same due run loses, and b hears of a's start from
    # the refusal itself, not only once a's finish is notified.
    assert await b.claim_run(claim("job", 100.0, node="b", last_attempt_seen=0.0)) is None
    assert b.last_refusal == "claimed"
    assert [(h["job"].last_attempt, h["job"].last_result) for h in heard] == [(100.0, None)]
    assert (heard[0]["job"].last_scheduled, heard[0]["job"].last_node) == (100.0, "a")
    # A refusal that tells nothing new (the view was fresh) delivers nothing.
    assert await b.claim_run(claim("job", 150.0, node="b", last_attempt_seen=100.0)) is None
    assert b.last_refusal == "running"
    assert len(heard) == 1


async def test_a_claim_waits_for_the_nodes_own_finish_in_flight(stores: Opener) -> None:
    s = await stores(node="n1", cluster_limit=1)
    first = await s.claim_run(claim("job", 10.0, last_attempt_seen=0.0))
    assert first is not None
    # The finish is written behind the job's back (runs.Executor.record) and the next claim
    # follows at once: on a pool they would race, and the claim would find its own run still
    # running. Here the finish is held up by a row lock to make that race certain.
    blocker = await s.connector.connect()
    try:
        locked = blocker.transaction()
        await locked.start()
        await blocker.execute("SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", first)
        done = Outcome(RunState.succeeded, 11.0, "ok")
        finish = asyncio.ensure_future(s.finish_run(first, claim("job", 10.0), done))

        async def finish_waits() -> bool:
            sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            return bool(await blocker.fetchval(sql))

        await asyncio.wait_for(_until_async(finish_waits), 30)
        second = asyncio.ensure_future(s.claim_run(claim("job", 20.0, last_attempt_seen=10.0)))
        await asyncio.wait({second}, timeout=1.0)  # time enough to race, were it to
        await locked.rollback()
        await finish
        assert await second is not None, s.last_refusal
    finally:
        await blocker.close()


async def test_job_switches_are_kept_while_listening_and_changes_are_heard(
    stores: Opener,
) -> None:
    a = await stores(node="a")
    b = await stores(node="b")
    await a.join("a", "a:1", {})
    assert await a.disabled_jobs() == {}
    assert a.presence.switches == {}  # kept: read once while listening
    await b.set_job_disabled("job", True, 5.0)
    await asyncio.wait_for(_until(lambda: a.presence.switches is None), 30)
    assert await a.disabled_jobs() == {"job": 5.0}
    await a.set_job_disabled("job", False, 6.0)
    assert await a.disabled_jobs() == {}  # its own change: no wait for the notification


async def test_an_expired_lease_is_interrupted_with_the_nodes_name(stores: Opener) -> None:
    dead = await stores(node="dead", lease=0.5)
    alive = await stores(node="alive", lease=0.5)
    run_id = await dead.claim_run(claim("job", 10.0, node="dead", last_attempt_seen=0.0))
    assert run_id is not None
    await dead.record_process_group(run_id, "4242:1.000@deadhost")
    heard: list[dict[str, store.JobState]] = []
    alive.subscribe(heard.append)
    told: list[list[store.Interrupted]] = []
    alive.on_interrupted(told.append)
    await alive.join("alive", "alive:1.000", {})

    async def interrupted() -> store.Run:
        while True:
            run = await alive.get_run(run_id)
            assert run is not None
            if run.state is not RunState.running:
                return run
            await asyncio.sleep(0.1)

    run = await asyncio.wait_for(interrupted(), 30)
    assert run.state is RunState.interrupted
    assert "node dead" in (run.summary or "")
    # The daemon hears of it with the run's process group, to end it if it runs on this host.
    await asyncio.wait_for(_until(lambda: bool(told)), 30)
    assert [(i.run_id, i.process_group) for i in told[0]] == [(run_id, "4242:1.000@deadhost")]
    # The node whose lease was lost records nothing over it.
    late = Outcome(RunState.succeeded, 99.0, "too late")
    await dead.finish_run(run_id, claim("job", 10.0, node="dead"), late)
    again = await alive.get_run(run_id)
    assert again is not None
    assert (again.state, again.summary) == (run.state, run.summary)
    # Every node heard of it (NOTIFY) and the job is due again by its normal rules.
    await asyncio.wait_for(_until(lambda: any("job" in h for h in heard)), 30)
    state = (await alive.job_states())["job"]
    assert (state.last_result, state.last_attempt) == ("interrupted", 10.0)


async def test_a_live_node_ends_the_local_group_of_a_run_whose_lease_expired(
    stores: Opener,
) -> None:
    dead = await stores(node="dead", lease=0.5)
    alive = await stores(node="alive", lease=0.5)
    run_id = await dead.claim_run(claim("job", 10.0, node="dead", last_attempt_seen=0.0))
    assert run_id is not None
    orphan = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        group = process_groups.Group.of(orphan.pid)
        assert group is not None
        await dead.record_process_group(run_id, str(group))
        executor = runs.Executor(alive, node="alive", owner="alive:1.000", clock=time.time)
        await alive.join("alive", "alive:1.000", {})
        # Its lease runs out; the node that records it as interrupted ends the group here.
        await asyncio.wait_for(asyncio.to_thread(orphan.wait), 30)
        assert orphan.returncode == -signal.SIGTERM
        await executor.flush()
        run = await alive.get_run(run_id)
        assert run is not None
        assert run.state is RunState.interrupted
        assert (run.summary or "").endswith("; 1 leftover process killed")
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


@pytest.mark.slow
async def test_the_owner_renews_its_lease(stores: Opener) -> None:
    owner = await stores(node="n1", lease=0.6)
    other = await stores(node="n2", lease=0.6)
    await owner.join("n1", "n1:1.000", {})
    await other.join("n2", "n2:1.000", {})
    run_id = await owner.claim_run(claim("long", 5.0, last_attempt_seen=0.0))
    assert run_id is not None
    await asyncio.sleep(2.0)  # several leases long: renewed every lease/3
    run = await other.get_run(run_id)
    assert run is not None
    assert run.state is RunState.running
    await owner.finish_run(run_id, claim("long", 5.0), Outcome(RunState.succeeded, 9.0, "ok"))
    done = await other.get_run(run_id)
    assert done is not None
    assert done.state is RunState.succeeded


async def test_finished_runs_reach_other_nodes_by_notify(stores: Opener) -> None:
    a = await stores(node="a", lease=60)
    b = await stores(node="b", lease=60)
    await b.join("b", "b:1.000", {})
    heard: list[dict[str, store.JobState]] = []
    b.subscribe(heard.append)
    run_id = await a.claim_run(claim("x", 50.0, node="a", last_attempt_seen=0.0))
    assert run_id is not None
    await a.finish_run(run_id, claim("x", 50.0, node="a"), Outcome(RunState.failed, 52.0, "no"))
    await asyncio.wait_for(_until(lambda: any("x" in h for h in heard)), 30)
    state = next(h["x"] for h in heard if "x" in h)
    assert (state.last_attempt, state.last_result, state.failures) == (50.0, "failed", 1)
    # The due time and node of that run come with it: b counts the job's grid from a's slot.
    assert (state.last_scheduled, state.last_node) == (50.0, "a")


async def test_a_node_name_is_held_by_one_live_daemon(stores: Opener) -> None:
    first = await stores(node="m1")
    second = await stores(node="m1")
    await first.join("m1", "1:1.000", {})
    with pytest.raises(store.StoreError, match=r"\(pid \d+ on .*\) already runs as node 'm1'"):
        await second.join("m1", "2:2.000", {})
    await first.close()  # its lock goes with it
    await second.join("m1", "2:2.000", {})
    nodes = await second.nodes()
    assert [(n["node"], n["alive"], n["this"]) for n in nodes] == [("m1", True, True)]


async def test_differing_definitions_are_named(stores: Opener) -> None:
    a = await stores(node="a", lease=0.6)
    b = await stores(node="b", lease=0.6)
    await a.join("a", "a:1", {"j": "one", "k": "same"})
    await b.join("b", "b:1", {"j": "two", "k": "same"})
    await asyncio.wait_for(_until(lambda: bool(a.presence.warnings)), 30)
    assert a.presence.warnings == [
        "job 'j' has different definitions on the live nodes: a (one); b (two)"
    ]


async def test_the_password_comes_from_a_file_and_is_never_shown(
    pg_url: str, pg_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    secret = pg_server.pg.password
    good = tmp_path / "pw"
    good.write_text(secret + "\n")
    s = store.open_store(pg_url, password_file=good)
    await s.open()
    try:
        await s.ping()
    finally:
        await s.close()
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    bad = store.open_store(pg_url, password_file=wrong)
    with pytest.raises(store.StoreError, match="password authentication failed") as exc:
        await bad.open()
    assert "not-the-password" not in str(exc.value)
    inline = pg_url.replace("directord@", "directord:hunter2@")
    with pytest.raises(store.StoreError) as exc:
        await store.open_store(inline).open()
    assert "hunter2" not in str(exc.value)
    assert "directord:***@" in str(exc.value)
    missing = store.open_store(pg_url, password_file=tmp_path / "absent")
    with pytest.raises(store.StoreError, match="database_password_file: cannot read"):
        await missing.open()


async def test_an_outage_keeps_finishes_and_writes_them_back(
    pg_server: Any, pg_url: str, pg_password: str
) -> None:
    s = store.open_store(pg_url, node="n1", lease=60)
    await s.open()
    try:
        assert isinstance(s, postgres.PostgresStore)
        run_id = await s.claim_run(claim("job", 1.0, last_attempt_seen=0.0))
        assert run_id is not None
        await asyncio.to_thread(pg_server.stop)
        with pytest.raises(store.StoreUnavailable, match="database unreachable since"):
            await s.ping()
        with pytest.raises(store.StoreUnavailable):
            await s.claim_run(claim("other", 1.0, last_attempt_seen=0.0))
        with pytest.raises(store.StoreUnavailable):
            await s.finish_run(run_id, claim("job", 1.0), Outcome(RunState.failed, 2.0, "no"))
        # The finish of a run that ended during the outage is kept, not lost and not raised
        # (the same write-back as on SQLite).
        finishes = writeback.WriteBack(s)
        finishes.record(run_id, claim("job", 1.0), Outcome(RunState.succeeded, 2.0, "ok"))
        await asyncio.wait_for(_until(lambda: len(finishes.kept) == 1), 60)
        await asyncio.to_thread(pg_server.start)
        await asyncio.wait_for(_until(lambda: finishes.unwritten == 0), 60)
        run = await s.get_run(run_id)
        assert run is not None
        assert (run.state, run.summary) == (RunState.succeeded, "ok")
        assert s.down_since is None
    finally:
        if pg_server.proc is None:
            await asyncio.to_thread(pg_server.start)
        await s.close()


async def _until_async(predicate: Callable[[], Any]) -> None:
    while not await predicate():
        await asyncio.sleep(0.05)


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.05)
