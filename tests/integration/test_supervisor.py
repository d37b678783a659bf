"""The supervisor in-process on a real SQLite file: serial by default, opt-in concurrency, no
overlap of a job with itself, manual triggers, timeouts, and no polling while idle."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from directord import config as config_mod
from directord import store
from directord.jobs import registry
from directord.supervisor import Supervisor
from tests.helpers import Make

pytestmark = pytest.mark.anyio


@pytest.fixture
def make(tmp_path: Path, supervisor_factory: Make) -> Make:
    async def build(jobs: list[dict[str, Any]], **runner: Any) -> Supervisor:
        raw = {"database": "sqlite:///d.db", "node": "n", "runner": runner, "jobs": jobs}
        return await supervisor_factory(raw, tmp_path)

    return build


async def run_for(sup: Supervisor, seconds: float) -> None:
    task = asyncio.create_task(sup.serve())
    await asyncio.sleep(seconds)
    sup.shutdown("test over")
    await asyncio.wait_for(task, 10)


def recorder(sup: Supervisor) -> list[tuple[str, str, float]]:
    seen: list[tuple[str, str, float]] = []
    sup.listeners.append(lambda event, data: seen.append((event, data["job"], sup.clock())))
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
    sup = await make(jobs)
    for name in list(sup.timings):
        sup.timings[name] = sup.timings[name].__class__(
            known_since=sup.clock() + 3600  # first due in an hour
        )
    await run_for(sup, 1.5)
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
        ]
    )
    await run_for(sup, 1.5)
    history = list(reversed(await sup.store.history("flaky")))
    assert [(r.trigger, r.attempt, str(r.state)) for r in history] == [
        ("schedule", 1, "failed"),
        ("retry", 2, "failed"),
        ("retry", 3, "failed"),
    ]
    assert history[1].started - history[0].finished == pytest.approx(0.2, abs=0.15)
    due = sup.job_views(sup.clock())[0]["next_due"]
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
        sup = Supervisor(settings, db, registry.discover())
        await sup.start()
        assert sup.job_views(sup.clock())[0]["next_due"] is None
        assert sup.job_views(sup.clock())[0]["in_period"] is False
        task = asyncio.create_task(sup.serve())
        await asyncio.sleep(0.3)
        assert await db.history("gated") == []
        sup.trigger("gated")
        await asyncio.sleep(0.3)
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
        ]
    )
    seen = recorder(sup)
    task = asyncio.create_task(sup.serve())
    await asyncio.sleep(0.3)
    sup.trigger("first")
    await asyncio.sleep(0.5)
    sup.shutdown("test over")
    await asyncio.wait_for(task, 10)
    starts = [j for e, j, _ in seen if e == "run_started"]
    # Start-up: dependencies first. The trigger: first, then second as a chain; third never
    # follows, because noop reports changed=False.
    assert starts == ["first", "second", "third", "first", "second"]
    history = await sup.store.history("second")
    assert [r.trigger for r in reversed(history)] == ["schedule", "chain"]
