"""The one-shot modes of the CLI: ``jobs run`` (every pending job once) and ``job run NAME``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from directord import due_queue, runs, scheduler, specs, store
from directord.jobs import selection

if TYPE_CHECKING:
    from directord.runs import RunReport
    from directord.supervisor import Supervisor


async def run_pending_once(sup: Supervisor) -> list[RunReport]:
    """Every job pending now, once, oldest due first (dependencies first); the jobs their runs
    request (chained) in later rounds. Serial unless ``runner.concurrency`` says otherwise."""
    now = sup.clock()
    plans = [s.plan for s in sup.specs.values()]
    due = scheduler.pending(plans, sup.jobs.timings, now)
    limit = asyncio.Semaphore(sup.daemon_settings.runner.concurrency)

    async def one(d: scheduler.Due) -> RunReport | None:
        async with limit:
            spec = sup.specs[d.name]
            timing = sup.jobs.queue.timing(d.name, now)
            at = due_queue.scheduled_for(spec.plan, timing, d, sup.clock())
            start = due_queue.Start(d.name, at, d)
            trigger = runs.trigger_of(start)
            return await sup.execute(spec, at, trigger, None, start.due_at)

    done: set[str] = set()
    results: list[RunReport | None] = []
    while due:
        done.update(d.name for d in due)
        if sup.daemon_settings.runner.concurrency == 1:
            for d in due:  # serial: one after the other, dependencies first
                results.append(await one(d))
        else:
            results += await asyncio.gather(*(one(d) for d in due))
        now = sup.clock()
        due = [d for d in scheduler.pending(plans, sup.jobs.timings, now) if d.name not in done]
    await sup.flush()
    return [r for r in results if r is not None]


async def run_now(sup: Supervisor, name: str) -> RunReport | None:
    """Now, outside the schedule, recorded like any other run."""
    report = await sup.execute(sup.specs[name], sup.clock(), store.Trigger.manual)
    await sup.flush()
    return report


async def run_kind(
    sup: Supervisor, name: str, kind: str, kind_settings: dict[str, Any]
) -> tuple[RunReport | None, list[Any]]:
    """A run of ``kind`` that is not one of the config's jobs (``import run SOURCE`` is the job
    ``import:SOURCE`` of kind ``import``): the kind's own run, recorded like any run, trigger
    manual (a real row: the run id the kind gets is real, ``job history import:SOURCE`` shows
    it). Returns the report (None: not claimed, it runs in another process) and the outcomes a
    selection kind computed, in full."""
    spec = specs.one_off(name, kind, kind_settings, sup.daemon_settings, sup.kinds)
    outcomes: list[Any] = []
    token = selection.collected.set(outcomes)
    try:
        report = await sup.executor.execute(
            spec, sup.clock(), store.Trigger.manual, 1, sup.daemon_settings, lambda *_: None
        )
    finally:
        selection.collected.reset(token)
    await sup.flush()
    return report, outcomes
