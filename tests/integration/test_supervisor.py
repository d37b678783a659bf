"""The supervisor in-process on a real SQLite file: serial by default, opt-in concurrency, no
overlap of a job with itself, manual triggers, timeouts, and no polling while idle."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from directord import config as config_mod
from directord import events, store
from directord.clock import ManualClock, WallWatch
from directord.jobs import registry
from directord.supervisor import Supervisor
from tests.helpers import Make

pytestmark = pytest.mark.anyio


@pytest.fixture
def make(tmp_path: Path, supervisor_factory: Make) -> Make:
    async def build(
        jobs: list[dict[str, Any]], clock: ManualClock | None = None, **runner: Any
    ) -> Supervisor:
        raw = {"database": "sqlite:///d.db", "node": "n", "runner": runner, "jobs": jobs}
        return await supervisor_factory(raw, tmp_path, clock)

    return build


async def settled(sup: Supervisor) -> None:
    """Until the supervisor waits for its clock: no run in progress, no wake-up pending, every
    finish written. The runs' store I/O is real, so this polls (with a deadline)."""
    deadline = time.monotonic() + 30
    await asyncio.sleep(0.005)  # a serve() task just created gets to its first wait
    while sup.running or sup._wake.is_set() or sup.executor.writeback.unwritten:
        assert time.monotonic() < deadline, "the supervisor did not settle"
        await asyncio.sleep(0.005)


async def advance(sup: Supervisor, clock: ManualClock, seconds: float) -> None:
    """Move the fake clock ``seconds`` on, timer by timer, letting each wake-up's runs end."""
    end = clock.monotonic() + seconds
    await settled(sup)
    while (due := [t for t in clock.pending() if t <= end]) != []:
        clock.advance(due[0] - clock.monotonic())
        await settled(sup)
    clock.advance(end - clock.monotonic())
    await settled(sup)


async def serve_for(sup: Supervisor, clock: ManualClock, seconds: float) -> None:
    """``run_for`` on a fake clock: no real sleeping."""
    task = asyncio.create_task(sup.serve())
    await advance(sup, clock, seconds)
    sup.shutdown("test over")
    await asyncio.wait_for(task, 10)


async def run_for(sup: Supervisor, seconds: float) -> None:
    task = asyncio.create_task(sup.serve())
    await asyncio.sleep(seconds)
    sup.shutdown("test over")
    await asyncio.wait_for(task, 10)


def recorder(sup: Supervisor) -> list[tuple[str, str, float]]:
    seen: list[tuple[str, str, float]] = []

    def record(event: events.Event) -> None:
        assert isinstance(event, events.RunStarted | events.RunFinished)
        seen.append((event.name, event.job, sup.clock()))

    sup.events.subscribe(record, {events.RunStarted, events.RunFinished})
    return seen


def sleep_job(name: str, seconds: float = 0.3, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "sleep",
        "interval": "1h",
        "settings": {"seconds": seconds},
        **extra,
    }


async def test_serial_by_default(make: Make) -> None:
    sup = await make([sleep_job("a"), sleep_job("b")])
    seen = recorder(sup)
    await run_for(sup, 1.0)
    assert [(e, j) for e, j, _ in seen] == [
        ("run_started", "a"),
        ("run_finished", "a"),
        ("run_started", "b"),
        ("run_finished", "b"),
    ]


async def test_opt_in_concurrency(make: Make) -> None:
    sup = await make([sleep_job("a"), sleep_job("b"), sleep_job("c")], concurrency=2)
    seen = recorder(sup)
    await run_for(sup, 1.0)
    order = [(e, j) for e, j, _ in seen]
    assert order[:2] == [("run_started", "a"), ("run_started", "b")]
    assert ("run_started", "c") in order
    assert order.index(("run_started", "c")) > order.index(("run_finished", "a"))


async def test_trigger_never_overlaps_a_running_job(make: Make) -> None:
    sup = await make([sleep_job("a", 0.4)])
    seen = recorder(sup)
    task = asyncio.create_task(sup.serve())
    await asyncio.sleep(0.1)
    sup.trigger("a")  # while the scheduled run is going
    await asyncio.sleep(1.2)
    sup.shutdown("test over")
    await asyncio.wait_for(task, 10)
    order = [(e, j) for e, j, _ in seen]
    assert order == [("run_started", "a"), ("run_finished", "a")] * 2
    history = await sup.store.history("a")
    assert [r.trigger for r in reversed(history)] == ["schedule", "manual"]
    with pytest.raises(KeyError):
        sup.trigger("nope")


async def test_timeout_records_timed_out(make: Make) -> None:
    sup = await make([sleep_job("a", 5, timeout="200ms")])
    reports = await sup.run_pending_once()
    assert [(r.job, str(r.state), r.summary) for r in reports] == [
        ("a", "timed_out", "timed out after 0.2s")
    ]


async def test_idle_supervisor_does_not_poll(make: Make) -> None:
    jobs = [{"name": f"j{i}", "kind": "noop", "interval": "1h"} for i in range(50)]
    clock = ManualClock()
    sup = await make(jobs, clock)
    for name in list(sup.jobs.timings):
        sup.jobs.timings[name] = sup.jobs.timings[name].__class__(
            known_since=sup.clock() + 3600  # first due in an hour
        )
    await serve_for(sup, clock, 1800)
    assert sup.evaluations == 1


async def test_shutdown_cancels_after_grace(make: Make) -> None:
    sup = await make([sleep_job("a", 30)], shutdown_grace="200ms")
    task = asyncio.create_task(sup.serve())
    await asyncio.sleep(0.2)
    sup.shutdown("test")
    reason = await asyncio.wait_for(task, 5)
    assert reason == "test"
    [run] = await sup.store.history("a")
    assert str(run.state) == "cancelled"


async def test_retries_after_failure_then_back_to_the_interval(make: Make) -> None:
    sup = await make(
        [
            {
                "name": "flaky",
                "kind": "fail",
                "interval": "1h",
                "retry": {"attempts": 2, "backoff": "200ms"},
            }
        ],
        clock := ManualClock(),
    )
    await serve_for(sup, clock, 1.5)
    history = list(reversed(await sup.store.history("flaky")))
    assert [(r.trigger, r.attempt, str(r.state)) for r in history] == [
        ("schedule", 1, "failed"),
        ("retry", 2, "failed"),
        ("retry", 3, "failed"),
    ]
    assert history[1].started - history[0].finished == pytest.approx(0.2, abs=0.15)
    due = sup.job_views(sup.clock())[0].next_due
    assert due == pytest.approx(history[-1].started + 3600, abs=1e-6)


async def test_period_gates_the_run_and_manual_trigger_ignores_it(
    make: Make, tmp_path: Path
) -> None:
    settings = config_mod.parse(
        {
            "database": "sqlite:///p.db",
            "node": "n",
            "timeperiods": {"never-now": {"ranges": {"2001-01-01": "00:00-24:00"}}},
            "jobs": [
                {"name": "gated", "kind": "noop", "interval": "1s", "timeperiod": "never-now"}
            ],
        },
        base_dir=tmp_path,
    )
    db = store.open_store(settings.database_url())
    await db.open()
    try:
        clock = ManualClock()
        sup = Supervisor(settings, db, registry.discover(), clock=clock)
        await sup.start()
        assert sup.job_views(sup.clock())[0].next_due is None
        assert sup.job_views(sup.clock())[0].in_period is False
        task = asyncio.create_task(sup.serve())
        await advance(sup, clock, 3600)
        assert await db.history("gated") == []
        sup.trigger("gated")
        await advance(sup, clock, 0.3)
        sup.shutdown("test over")
        await task
        [run] = await db.history("gated")
        assert (run.trigger, str(run.state)) == ("manual", "succeeded")
        await sup.close()
    finally:
        await db.close()


async def test_chained_job_runs_after_success_only_if_changed(make: Make) -> None:
    sup = await make(
        [
            {"name": "first", "kind": "noop", "interval": "1h"},
            {"name": "second", "kind": "noop", "interval": "1h", "after": ["first"]},
            {
                "name": "third",
                "kind": "noop",
                "interval": "1h",
                "after": ["second"],
                "only_if_changed": True,
            },
        ],
        clock := ManualClock(),
    )
    seen = recorder(sup)
    task = asyncio.create_task(sup.serve())
    await advance(sup, clock, 0.3)
    sup.trigger("first")
    await advance(sup, clock, 0.5)
    sup.shutdown("test over")
    await asyncio.wait_for(task, 10)
    starts = [j for e, j, _ in seen if e == "run_started"]
    # Start-up: dependencies first. The trigger: first, then second as a chain; third never
    # follows, because noop reports changed=False.
    assert starts == ["first", "second", "third", "first", "second"]
    history = await sup.store.history("second")
    assert [r.trigger for r in reversed(history)] == ["schedule", "chain"]


async def test_a_backward_wall_clock_step_does_not_stall_jobs(make: Make) -> None:
    clock = ManualClock()
    sup = await make([{"name": "a", "kind": "noop", "interval": "2s"}], clock)
    task = asyncio.create_task(sup.serve())
    await advance(sup, clock, 4.5)  # runs at 0, 2 and 4
    assert len(await sup.store.history("a")) == 3
    clock.step_wall(-7200)
    await advance(sup, clock, 4.5)  # still every 2 s of elapsed time
    assert len(await sup.store.history("a")) == 5
    [view] = sup.job_views(sup.clock())
    assert view.next_due is not None
    assert view.next_due - sup.clock() <= 2
    sup.shutdown("test over")
    await asyncio.wait_for(task, 10)


async def test_a_forward_wall_clock_step_runs_each_job_once_not_a_burst(make: Make) -> None:
    clock = ManualClock()
    jobs = [{"name": n, "kind": "noop", "interval": "10s"} for n in ("a", "b")]
    sup = await make(jobs, clock)
    task = asyncio.create_task(sup.serve())
    await advance(sup, clock, 1)
    clock.step_wall(7200)  # two hours' worth of 10 s intervals skipped
    await advance(sup, clock, 5)  # the sleep is on elapsed time: nothing early
    assert [len(await sup.store.history(n)) for n in ("a", "b")] == [1, 1]
    await advance(sup, clock, 5)  # one run each, not 720
    assert [len(await sup.store.history(n)) for n in ("a", "b")] == [2, 2]
    await advance(sup, clock, 10)
    assert [len(await sup.store.history(n)) for n in ("a", "b")] == [3, 3]
    sup.shutdown("test over")
    await asyncio.wait_for(task, 10)


def test_wall_watch_sees_steps_not_slewing() -> None:
    watch = WallWatch(tolerance=2)
    assert watch.step(1000.0, 10.0) == 0.0
    assert watch.step(1005.5, 15.0) == 0.0  # half a second of slewing
    assert watch.step(1010.0 - 7200, 20.0) == pytest.approx(-7200.5)
    assert watch.step(1020.0 - 7200, 30.0) == 0.0
