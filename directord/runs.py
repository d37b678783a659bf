"""The run executor: claim a run's row, give the job its context, call it, turn whatever
happens into a state and a one-line summary, and write the finish behind the next claim.

What a run means for the schedule (the job's new state, its next due time, the jobs that
follow it) is the supervisor's business; this module only runs and records.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from loguru import logger

from directord import clock as clock_mod
from directord import (
    config_secrets,
    due_queue,
    events,
    process,
    process_groups,
    store,
    writeback,
)
from directord import log as log_mod
from directord.jobs.base import JobContext, JobFailed, JobResult

if TYPE_CHECKING:
    from loguru import Logger

    from directord import config as config_mod
    from directord.specs import JobSpec


@dataclass(frozen=True)
class RunReport:
    """A finished run as the caller sees it: its row id, final state and one-line summary,
    the kind's counters and whether it changed anything (None: the kind cannot tell)."""

    run_id: int
    job: str
    state: store.RunState
    summary: str
    started: float
    finished: float
    scheduled_for: float
    counters: dict[str, Any] = field(default_factory=dict)
    changed: bool | None = None
    node: str | None = None  # the node that ran it

    @property
    def ok(self) -> bool:
        return self.state.ok

    @property
    def duration(self) -> float:
        return self.finished - self.started


@dataclass
class ActiveRun:
    """A run in progress in this process (``run_id`` is None until its claim is written)."""

    job: str
    run_id: int | None
    started: float
    scheduled_for: float
    task: asyncio.Task[RunReport | None]


@dataclass(frozen=True)
class Verdict:
    """What came of calling a job."""

    state: store.RunState
    summary: str
    counters: dict[str, Any] = field(default_factory=dict)
    changed: bool | None = None


def trigger_of(start: due_queue.Start) -> store.Trigger:
    """How a run came about, as recorded: manual, chain, retry or schedule."""
    if start.due is None:
        return store.Trigger.manual
    if start.due.chained:
        return store.Trigger.chain
    if start.due.catch_up:
        return store.Trigger.catch_up
    return store.Trigger.retry if start.due.retry else store.Trigger.schedule


async def call_job(spec: JobSpec, ctx: JobContext, timeout: float | None, log: Logger) -> Verdict:
    """Run the job; whatever happens becomes a state and a one-line summary."""
    try:
        job = spec.kind()
        if timeout:
            async with asyncio.timeout(timeout) as scope:
                try:
                    result = await job.run(ctx)
                except TimeoutError:
                    if scope.expired():
                        raise
                    raise JobFailed("TimeoutError inside the job") from None
        else:
            result = await job.run(ctx)
        if not isinstance(result, JobResult):
            return Verdict(
                store.RunState.failed, f"the job returned {type(result).__name__}, not a JobResult"
            )
        state = store.RunState.succeeded if result.succeeded else store.RunState.failed
        return Verdict(state, result.summary, result.counters, result.changed)
    except TimeoutError:
        return Verdict(store.RunState.timed_out, f"timed out after {timeout:g}s")
    except JobFailed as exc:
        return Verdict(store.RunState.failed, exc.summary, exc.counters)
    except asyncio.CancelledError:
        return Verdict(store.RunState.cancelled, "cancelled: the daemon was shutting down")
    except Exception as exc:
        log.bind(action="run_crashed").opt(exception=exc).error("the job raised")
        return Verdict(store.RunState.failed, f"{type(exc).__name__}: {exc}")


class Executor:
    """Claims, runs and records runs on ``db`` for this node and process (``owner``)."""

    def __init__(
        self,
        db: store.Store,
        *,
        node: str,
        owner: str,
        clock: clock_mod.Clock,
    ) -> None:
        self.store = db
        self.node = node
        self.owner = owner
        self.clock = clock
        self._http: aiohttp.ClientSession | None = None
        # Runs a lease expiry interrupted (a shared store): their groups end here if local.
        db.on_interrupted(self._interrupted_elsewhere)
        self.writeback = writeback.WriteBack(db)
        self._stop_began: float | None = None  # monotonic

    def http(self) -> aiohttp.ClientSession:
        """The jobs' shared aiohttp session, opened on first use."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=300),
                headers={"User-Agent": "directord"},
            )
        return self._http

    async def close(self, grace: float | None = None) -> None:
        await self.flush(grace)
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def claim(
        self,
        spec: JobSpec,
        scheduled_for: float,
        trigger: store.Trigger,
        attempt: int,
        seen: float | None = None,
    ) -> tuple[store.Claim, int | None]:
        """The run's row, written before the job starts; None: not claimed (the job runs,
        here or in another process, or that slot was taken)."""
        started = self.clock()
        timeout = spec.job_config.timeout
        claim = store.Claim(
            job=spec.name,
            kind=spec.job_config.kind,
            node=self.node,
            trigger=trigger,
            scheduled_for=scheduled_for,
            started=started,
            lease_until=None if not timeout else started + timeout + 60,
            owner=self.owner,
            attempt=attempt,
            job_version=spec.version,
            # A shared store refuses the claim if the job was attempted since this view.
            last_attempt_seen=seen,
        )
        if self.writeback.kept:
            await self.writeback.write_kept()  # (raises while the store is away)
        run_id = await self.store.claim_run(claim)
        # Only a refusal for a running row can be a dead run's (a shared store says why; the
        # others say nothing): losing to another node costs no second round trip.
        blocked = self.store.last_refusal in (None, "running")
        if run_id is None and blocked and await self._dead_run_blocks(spec.name):
            # The next writer records a dead process's run (views show it interrupted already)
            # and ends what is left of it; then the job is free to run.
            await interrupt_dead_runs(self.store, started, self.node)
            run_id = await self.store.claim_run(claim)
        return claim, run_id

    async def _dead_run_blocks(self, job: str) -> bool:
        """Whether ``job`` has a running row on this node whose owner is gone (a ``job run``
        killed with -9 beside a live daemon). A shared store's leases see to that instead."""
        if not self.store.single_daemon:
            return False
        found = await self.store.running_runs(self.node)
        return any(r.job == job and not process.owner_alive(r.owner) for r in found)

    async def execute(
        self,
        spec: JobSpec,
        scheduled_for: float,
        trigger: store.Trigger,
        attempt: int,
        daemon_settings: config_mod.Settings,
        on_started: Callable[[int, float, float], object],
        seen: float | None = None,
        due_at: float | None = None,
    ) -> RunReport | None:
        """Claim a run and call its job; None: not claimed. ``on_started(run_id, started,
        lateness)`` is called once the claim is written, before the job runs. ``due_at``: when
        the run became due, if not at ``scheduled_for`` (a first run): its lateness counts
        from there."""
        claim, run_id = await self.claim(spec, scheduled_for, trigger, attempt, seen)
        if run_id is None:
            logger.bind(action="run_skipped", job=spec.name).info(
                "not started: it is running (here or in another process) or already claimed"
            )
            return None
        log = log_for(spec.name, run_id)
        lateness = max(0.0, claim.started - (scheduled_for if due_at is None else due_at))
        lines = log_mod.info_kept()
        if lines:
            log.bind(action="run_started").info(
                "{} run of {} started ({:.3f}s after due)", trigger, spec.job_config.kind, lateness
            )
        on_started(run_id, claim.started, lateness)
        report = await self.run(spec, claim, run_id, daemon_settings, log)
        if lines or not report.ok:
            level = "INFO" if report.ok else "WARNING"
            log.bind(action="run_finished").log(
                level, "{} in {:.3f}s: {}", report.state, report.duration, report.summary
            )
        return report

    async def run(
        self,
        spec: JobSpec,
        claim: store.Claim,
        run_id: int,
        daemon_settings: config_mod.Settings,
        log: Logger,
    ) -> RunReport:
        """Call the job of a claimed run; its finish is written in the background."""
        timeout = spec.job_config.timeout
        processes = process_groups.RunProcesses(
            process_groups.Marks(run_id, self.owner),
            lambda group: self._note_group(run_id, group, log),
        )
        ctx = JobContext(
            name=spec.name,
            kind_settings=spec.kind_settings,
            log=log,
            store=self.store,
            daemon_settings=daemon_settings,
            run_id=run_id,
            node=self.node,
            deadline=None if not timeout else time.monotonic() + timeout,
            _http_factory=self.http,
            processes=processes,
        )
        verdict = await call_job(spec, ctx, timeout, log)
        if processes.groups:  # the job spawned: what is left of it goes, and the summary says
            verdict = await _without_leftovers(verdict, processes)
        # Secrets never reach the store, the views or the log (issue 9.6).
        redactor = config_secrets.redactor(daemon_settings)
        summary, details = redactor.text(verdict.summary), redactor.value(ctx.details)
        verdict = Verdict(verdict.state, summary, verdict.counters, verdict.changed)
        finished = self.clock()
        outcome = store.Outcome(
            verdict.state, finished, summary, verdict.counters, details, verdict.changed
        )
        self.record(run_id, claim, outcome)
        return RunReport(
            run_id,
            spec.name,
            verdict.state,
            verdict.summary,
            claim.started,
            finished,
            claim.scheduled_for,
            verdict.counters,
            verdict.changed,
            self.node,
        )

    def _note_group(self, run_id: int, group: process_groups.Group, log: Logger) -> None:
        """Note a group the run's job spawned on its row, behind the job's back."""

        async def write() -> None:
            try:
                await self.store.record_process_group(run_id, str(group))
            except store.StoreError as exc:  # its children still carry the run's marks
                log.bind(action="process_group_lost").warning(
                    "the run's process group {} could not be noted: {}", group, exc
                )

        self.writeback.behind(write())

    def _interrupted_elsewhere(self, items: list[store.Interrupted]) -> None:
        self.writeback.behind(end_interrupted(self.store, items))

    def record(self, run_id: int, claim: store.Claim, outcome: store.Outcome) -> None:
        """Write a finish behind the caller's back, so the next run's claim can queue right
        behind it; one the store cannot take is kept and written later (writeback.py)."""
        self.writeback.record(run_id, claim, outcome)

    def stopping(self) -> None:
        """The process stops: the grace for unwritten finishes counts from now."""
        if self._stop_began is None:
            self._stop_began = time.monotonic()

    async def flush(self, grace: float | None = None) -> list[writeback.Finish]:
        """Wait until every run's finish is written; with a ``grace``, for that long after the
        stop began (or from now) at most: then the unwritten ones are logged loudly and
        returned."""
        began = time.monotonic() if self._stop_began is None else self._stop_began
        return await self.writeback.flush(None if grace is None else began + grace)


async def _without_leftovers(verdict: Verdict, processes: process_groups.RunProcesses) -> Verdict:
    """End whatever the job's children left running; the summary says when it had to."""
    if processes.unswept:  # the job did not sweep itself (a timeout, a crash)
        # Shielded: a second cancel (shutdown) leaves neither them nor the finish unwritten.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(processes.end_leftovers())
    if not processes.killed:
        return verdict
    summary = f"{verdict.summary}; {process_groups.leftovers_text(processes.killed)}"
    return Verdict(verdict.state, summary, verdict.counters, verdict.changed)


async def interrupt_dead_runs(
    db: store.Store, now: float, node: str | None = None
) -> list[store.Interrupted]:
    """Record runs whose process is gone (crash, kill -9, power loss) as interrupted, and end
    what is left of their children before anything runs again."""
    interrupted = await db.interrupt_running(node, now, process.owner_alive)
    for item in interrupted:
        logger.bind(action="run_interrupted", job=item.job, run=item.run_id).warning(
            "run started {} was interrupted by the daemon stopping; recorded as interrupted",
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.started)),
        )
    await end_interrupted(db, interrupted)
    return interrupted


async def end_interrupted(db: store.Store, items: list[store.Interrupted]) -> None:
    """End the processes interrupted runs left (on this host: their group, if it is still the
    same, and whatever carries their marks); log it and say it in the run's summary."""
    for item in items:
        group = process_groups.Group.parse(item.process_group)
        marks = None if not item.owner else process_groups.Marks(item.run_id, item.owner)
        if group is None and marks is None:
            continue
        count = await process_groups.end_run([] if group is None else [group], marks)
        if not count:
            continue
        text = process_groups.leftovers_text(count)
        logger.bind(action="leftovers_killed", job=item.job, run=item.run_id).warning(
            "run {} of {} was interrupted but its children still ran: {}",
            item.run_id,
            item.job,
            text,
        )
        try:
            await db.append_run_summary(item.run_id, f"; {text}")
        except store.StoreError as exc:
            logger.bind(action="leftovers_not_noted", run=item.run_id).warning(
                "could not add to the summary of run {}: {}", item.run_id, exc
            )


def finished_event(report: RunReport, kind: str) -> events.RunFinished:
    return events.RunFinished(
        report.job, report.run_id, kind, report.state, report.duration, report.finished
    )


async def drain(tasks: list[asyncio.Task[RunReport | None]], grace: float | None) -> None:
    """Wait for ``tasks``; with a ``grace``, cancel those still running after it."""
    if not tasks:
        return
    if grace is not None:
        logger.bind(action="shutdown_grace").info(
            "waiting up to {:.0f}s for {} running job(s)", grace, len(tasks)
        )
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def log_for(job: str, run_id: int) -> Logger:
    return logger.bind(job=job, run=run_id)
