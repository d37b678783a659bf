"""One attempt at a job, as the schedule sees it: started as a task of its own (``launch``),
skipped if switched off in the store, claimed and run through the executor (``runs``), then its
consequences for the schedule (the job's state, next due time, followers, the events, the memory
rule). A refused claim goes to ``claims``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from directord import events, runs, store

if TYPE_CHECKING:
    from directord.runs import RunReport
    from directord.specs import JobSpec
    from directord.supervisor import Supervisor


def launch(
    sup: Supervisor,
    spec: JobSpec,
    scheduled_for: float,
    trigger: store.Trigger,
    due_at: float | None = None,
) -> None:
    """Start a run of ``spec`` as a task of its own; the loop wakes when it ends."""
    # The last attempt this due time was computed from (the claim checks it).
    seen = sup.jobs.queue.timing(spec.name, sup.clock()).last_attempt or 0.0
    task = asyncio.create_task(
        sup.execute(spec, scheduled_for, trigger, seen, due_at), name=f"directord-run-{spec.name}"
    )
    active = runs.ActiveRun(spec.name, None, sup.clock(), scheduled_for, task)
    sup.running[spec.name] = active

    def done(_: asyncio.Task[RunReport | None]) -> None:
        if sup.running.get(spec.name) is active:
            del sup.running[spec.name]
        sup.wake()

    task.add_done_callback(done)


async def execute(
    sup: Supervisor,
    spec: JobSpec,
    scheduled_for: float,
    trigger: store.Trigger,
    seen: float | None = None,
    due_at: float | None = None,
) -> RunReport | None:
    """One run of ``spec``, recorded, with its consequences for the schedule (the job's
    state, next due time, followers). None: it could not be claimed. ``seen``: the job's last
    attempt as known when ``scheduled_for`` was chosen (None: as known now). ``due_at``: when
    it became due, if not at ``scheduled_for`` (a first run), for its lateness."""
    name = spec.name
    # The view the due time came from, taken before anything waits: news of another node's
    # run that arrives meanwhile must make the claim stale, not look like this node's view.
    if trigger is store.Trigger.manual:
        seen = None
    elif seen is None:
        seen = sup.jobs.queue.timing(name, sup.clock()).last_attempt or 0.0
    if trigger is not store.Trigger.manual and await sup.jobs.skip_disabled(
        sup.store, name, sup.clock()
    ):
        return None
    attempt = sup.jobs.attempt(name, trigger is store.Trigger.retry, sup.clock())

    def started(run_id: int, at: float, lateness: float) -> None:
        if name in sup.running:
            sup.running[name].run_id = run_id
        sup.events.emit(events.RunStarted(name, run_id, spec.job_config.kind, lateness))
        sup.jobs.queue.started(name, at, scheduled_for)

    try:
        report = await sup.executor.execute(
            spec, scheduled_for, trigger, attempt, sup.daemon_settings, started, seen, due_at
        )
    except store.StoreError as exc:
        if not sup.serving:
            raise  # a one-shot command reports it
        sup.claims.store_unavailable(name, exc)
        return None
    sup.claims.claimed()
    if report is None:
        sup.claims.refused(name, sup.store.last_refusal, seen)
        return None
    sup.heartbeat.run_ended(name)
    sup.jobs.finished(report)
    sup.events.emit(runs.finished_event(report, spec.job_config.kind))
    reason = sup.memory.check()
    if reason is not None:
        sup.retire(reason)
    return report
