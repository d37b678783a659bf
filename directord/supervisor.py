"""The supervisor: the single asyncio task that owns the schedule.

It computes when the next job is due, sleeps until exactly then (or until a run finishes, a manual
trigger, a config reload or shutdown wakes it: there is no polling), and starts due jobs under a
limit of ``runner.concurrency`` runs at once (1, a lock, by default). One job never overlaps
itself. Every run is a row written before the job starts and finished after it.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import psutil
from loguru import logger

from directord import calendar, config_secrets, redact, scheduler, store, timeperiods, units
from directord import config as config_mod
from directord.jobs import registry
from directord.jobs.base import Job, JobContext, JobFailed, JobResult

Listener = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class JobSpec:
    config: config_mod.JobConfig
    kind: type[Job]
    settings: Any
    plan: scheduler.Plan
    version: int | None = None

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class RunReport:
    run_id: int
    job: str
    state: store.RunState
    summary: str
    started: float
    finished: float
    scheduled_for: float
    counters: dict[str, Any] = field(default_factory=dict)
    changed: bool | None = None

    @property
    def ok(self) -> bool:
        return self.state.ok


@dataclass(frozen=True)
class Stall:
    """The event loop was blocked: a heartbeat fired ``lag`` seconds late."""

    lag: float
    monotonic: float
    jobs: tuple[str, ...]


@dataclass
class ActiveRun:
    job: str
    run_id: int | None
    started: float
    scheduled_for: float
    task: asyncio.Task[RunReport | None]


def build_specs(
    settings: config_mod.Settings, kinds: registry.Kinds
) -> tuple[dict[str, JobSpec], timeperiods.Registry]:
    """Job specs from a validated config; ConfigError lists every problem with its path."""
    periods, errors = config_mod.build_timeperiods(settings.timeperiods)
    validated, kind_errors = registry.validate_jobs(settings, kinds)
    errors += kind_errors
    if errors:
        raise config_mod.ConfigError(errors, settings.source)
    specs = {}
    for job in settings.jobs:
        plan = scheduler.Plan(
            name=job.name,
            interval=job.interval or 0.0,  # None with at/cron: the schedule decides
            schedule=config_mod.job_schedule(job, settings),
            catch_up=config_mod.job_catch_up(job),
            period=periods.get(job.timeperiod) if job.timeperiod else None,
            disabled=job.disabled,
            retry_attempts=job.retry.attempts,
            retry_backoff=job.retry.backoff,
            after=tuple(job.after),
            only_if_changed=job.only_if_changed,
        )
        kind = kinds.get(job.kind)
        assert kind is not None  # validate_jobs reported unknown kinds
        specs[job.name] = JobSpec(job, kind, validated[job.name], plan)
    return specs, periods


def followers_of(specs: dict[str, JobSpec]) -> dict[str, list[scheduler.Plan]]:
    """For each job, the plans of the jobs that run after it: looked up after every run."""
    out: dict[str, list[scheduler.Plan]] = {}
    for spec in specs.values():
        for leader in spec.config.after:
            out.setdefault(leader, []).append(spec.plan)
    return out


def _trigger(due: scheduler.Due) -> store.Trigger:
    if due.chained:
        return store.Trigger.chain
    if due.catch_up:
        return store.Trigger.catch_up
    return store.Trigger.retry if due.retry else store.Trigger.schedule


def definition(job: config_mod.JobConfig, secret: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What is stored as a config-managed job's definition (its version changes with it), with
    its secret settings as ``***``."""
    # The calendar fields only when set: a job without them keeps the definition (and version)
    # it had before they existed.
    unset = {k for k in ("at", "cron", "timezone", "catch_up") if getattr(job, k) is None}
    dumped = job.model_dump(mode="json", exclude={"name", "kind", *unset})
    dumped["settings"] = redact.secret_fields(dumped["settings"], secret)
    return dict(redact.current().value(dumped))


_PROCESS: psutil.Process | None = None


def process_owner() -> str:
    """This process as a run's owner: pid and start time, so a reused pid is not mistaken."""
    proc = psutil.Process(os.getpid())
    return f"{proc.pid}:{proc.create_time():.3f}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that owns a run still exists (the same one, not a reused pid)."""
    if not owner:
        return False
    pid, _, created = owner.partition(":")
    try:
        proc = psutil.Process(int(pid))
        return f"{proc.create_time():.3f}" == created and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):
        return False


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss() -> int:
    global _PROCESS
    if _PROCESS is None or _PROCESS.pid != os.getpid():
        _PROCESS = psutil.Process(os.getpid())
    return int(_PROCESS.memory_info().rss)


class Supervisor:
    def __init__(
        self,
        settings: config_mod.Settings,
        db: store.Store,
        kinds: registry.Kinds,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = db
        self.kinds = kinds
        self.clock = clock
        self.node = settings.node
        self.owner = process_owner()
        self.specs, self.periods = build_specs(settings, kinds)
        redact.install(config_secrets.redactor(settings))  # reads the secret files: warns
        self._followers = followers_of(self.specs)
        self.timings: dict[str, scheduler.Timing] = {}
        self.states: dict[str, store.JobState] = {}
        # Jobs switched off with `directord job disable` (name -> when): re-read before each run.
        self.store_disabled: dict[str, float] = {}
        self.running: dict[str, ActiveRun] = {}
        self.listeners: list[Listener] = []
        self.evaluations = 0  # schedule evaluations, for the idle benchmark
        self.started_at = clock()
        self.baseline_rss: int | None = None
        self.exit_reason: str | None = None
        self._manual: collections.deque[str] = collections.deque()
        # Due times as a heap of (at, name, generation): an entry whose generation is not the
        # job's current one is stale and skipped. Waking costs O(log n), not a pass over all jobs.
        self._heap: list[tuple[float, str, int]] = []
        self._gen: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._retiring = False
        self._http: aiohttp.ClientSession | None = None
        self._timer: asyncio.TimerHandle | None = None
        # The heartbeat: while serve() runs, a timer every tick_interval seconds that touches
        # neither the schedule nor the store. /health and the systemd watchdog live on it.
        self.tick_interval: float | None = None
        self.tick_listeners: list[Callable[[], object]] = []
        self.last_tick: float | None = None
        self.last_stall: Stall | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._tick_due = 0.0
        self.serving = False
        # (job, monotonic end) of recent runs: a stall is blamed on those that were running then.
        self._recent_ends: collections.deque[tuple[str, float]] = collections.deque(maxlen=64)
        self._writes: set[asyncio.Future[None]] = set()

    # -- set-up --------------------------------------------------------------------------------

    async def start(self, readonly: bool = False) -> list[store.Interrupted]:
        """Mark runs a dead process left 'running' as interrupted, store the config's job
        definitions, and load every job's state. ``readonly`` only loads (for views)."""
        now = self.clock()
        self.store_disabled = await self.store.disabled_jobs()
        if readonly:
            self.states = await self.store.job_states()
            for name in self.specs:
                self.timings[name] = self._timing(self.states.get(name), now)
            return []
        interrupted = await self.store.interrupt_running(None, now, owner_alive)
        for item in interrupted:
            logger.bind(action="run_interrupted", job=item.job, run=item.run_id).warning(
                "run started {} was interrupted by the daemon stopping; recorded as interrupted",
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item.started)),
            )
        await self._store_definitions()
        states = await self.store.job_states()
        self.states = states
        for name in self.specs:
            self.timings[name] = self._timing(states.get(name), now)
            self._reschedule(name, now)
        return interrupted

    def _reschedule(self, name: str, now: float) -> None:
        """Put ``name``'s next due time on the heap (dropping any earlier entry of it)."""
        self._gen[name] = gen = self._gen.get(name, 0) + 1
        spec = self.specs.get(name)
        if spec is None:
            return
        due = scheduler.due(spec.plan, self.timings.get(name) or scheduler.Timing(now), now)
        if due is not None:
            heapq.heappush(self._heap, (due.at, name, gen))
        if len(self._heap) > 2 * len(self.specs) + 64:
            self._heap = [e for e in self._heap if self._gen.get(e[1]) == e[2]]
            heapq.heapify(self._heap)

    def _next_entry(self) -> tuple[float, str, int] | None:
        while self._heap and self._gen.get(self._heap[0][1]) != self._heap[0][2]:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    async def _store_definitions(self) -> None:
        await self.store.sync_config_jobs(
            [
                (s.name, s.config.kind, definition(s.config, s.kind.secret_settings))
                for s in self.specs.values()
            ],
            self.clock(),
        )
        versions = {r.name: r.version for r in await self.store.list_jobs()}
        self.specs = {n: replace(s, version=versions.get(n)) for n, s in self.specs.items()}

    @staticmethod
    def _timing(state: store.JobState | None, now: float) -> scheduler.Timing:
        if state is None:
            return scheduler.Timing(known_since=now)
        return scheduler.Timing(
            known_since=now,
            last_attempt=state.last_attempt,
            last_finished=state.last_finished,
            failures=state.failures,
        )

    def mark_baseline(self) -> None:
        """RSS after start-up: the memory rule measures growth from here."""
        self.baseline_rss = rss()

    async def flush(self) -> None:
        """Wait until every run's finish is written."""
        while self._writes:
            await asyncio.gather(*self._writes)

    async def close(self) -> None:
        await self.flush()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=300),
                headers={"User-Agent": "directord"},
            )
        return self._http

    # -- control -------------------------------------------------------------------------------

    def trigger(self, name: str) -> None:
        """Run ``name`` as soon as possible, outside its schedule (and its time period)."""
        if name not in self.specs:
            raise KeyError(name)
        if name not in self._manual:
            self._manual.append(name)
        self._wake.set()

    def next_due(self) -> tuple[float, str] | None:
        """The next scheduled run: (when, job), or None."""
        entry = self._next_entry()
        return None if entry is None else (entry[0], entry[1])

    def shutdown(self, reason: str = "shutdown requested") -> None:
        """Stop taking new work; running jobs get shutdown_grace, then are cancelled."""
        if not self._stopping:
            logger.bind(action="shutdown").info("shutting down: {}", reason)
            self.exit_reason = self.exit_reason or reason
            self._emit("stopping", reason=reason)
        self._stopping = True
        self._wake.set()

    def retire(self, reason: str) -> None:
        """Stop taking new work and exit (0) once the running jobs have finished."""
        if not self._retiring:
            logger.bind(action="retire").warning("exiting after the running jobs: {}", reason)
            self.exit_reason = reason
            self._emit("stopping", reason=reason)
        self._retiring = True
        self._wake.set()

    def reload(self, settings: config_mod.Settings) -> list[str]:
        """Swap in a new config (jobs, time periods). Running jobs finish with the old one."""
        specs, periods = build_specs(settings, self.kinds)
        changes = []
        for name in sorted(set(self.specs) | set(specs)):
            old, new = self.specs.get(name), specs.get(name)
            if old is None:
                changes.append(f"job {name!r} added")
            elif new is None:
                changes.append(f"job {name!r} removed")
            elif old.config != new.config:
                fields = [
                    k
                    for k in new.config.model_fields
                    if getattr(old.config, k) != getattr(new.config, k)
                ]
                changes.append(f"job {name!r} changed: {', '.join(fields)}")
        old_periods = {p.name: (p.ranges, p.includes, p.excludes, p.timezone) for p in self.periods}
        new_periods = {p.name: (p.ranges, p.includes, p.excludes, p.timezone) for p in periods}
        for name in sorted(set(old_periods) | set(new_periods)):
            if old_periods.get(name) != new_periods.get(name):
                verb = (
                    "added"
                    if name not in old_periods
                    else "removed"
                    if name not in new_periods
                    else "changed"
                )
                changes.append(f"time period {name!r} {verb}")
        now = self.clock()
        self.settings, self.periods = settings, periods
        redact.install(config_secrets.redactor(settings))
        self._followers = followers_of(specs)
        self.specs = {
            n: replace(s, version=self.specs[n].version if n in self.specs else None)
            for n, s in specs.items()
        }
        for name in specs:
            self.timings.setdefault(name, scheduler.Timing(known_since=now))
        for name in set(self._gen) | set(specs):
            self._reschedule(name, now)
        self._wake.set()
        self._emit("reloaded", changes=changes)
        return changes

    async def apply_reload(self, settings: config_mod.Settings) -> list[str]:
        changes = self.reload(settings)
        await self._store_definitions()
        for change in changes or ["nothing changed"]:
            logger.bind(action="config_reloaded").info("reload: {}", change)
        return changes

    # -- the loop ------------------------------------------------------------------------------

    async def serve(self) -> str:
        """Run jobs as they fall due until shutdown or retirement; returns why it stopped."""
        self.serving = True
        self._tick()
        try:
            return await self._serve()
        finally:
            self.serving = False
            if self._tick_handle is not None:
                self._tick_handle.cancel()
                self._tick_handle = None

    def _tick(self) -> None:
        now = time.monotonic()
        if self.last_tick is not None and self.tick_interval:
            lag = now - self._tick_due
            if lag >= self.tick_interval:
                suspects = dict.fromkeys(
                    [job for job, ended in self._recent_ends if ended >= self._tick_due]
                    + list(self.running)
                )
                self.last_stall = Stall(lag, now, tuple(suspects))
                logger.bind(action="loop_stalled").error(
                    "the event loop was blocked for {:.1f}s (running: {})",
                    lag,
                    ", ".join(self.running) or "no job",
                )
        self.last_tick = now
        for listener in self.tick_listeners:
            try:
                listener()
            except Exception:
                logger.bind(action="listener_failed").exception("tick listener")
        if self.tick_interval and self.serving:
            self._tick_due = now + self.tick_interval
            loop = asyncio.get_running_loop()
            self._tick_handle = loop.call_later(self.tick_interval, self._tick)

    async def _serve(self) -> str:
        while True:
            self._wake.clear()
            now = self.clock()
            lifetime = self.settings.runner.max_lifetime
            if lifetime and now - self.started_at >= lifetime and not self._retiring:
                self.retire(f"max_lifetime of {lifetime:.0f}s reached")
            if self._stopping or (self._retiring and not self.running):
                break
            if not self._retiring:
                self._dispatch(now)
            self._arm_timer(self._delay(self.clock()))
            await self._wake.wait()
        self._arm_timer(None)
        await self._drain()
        return self.exit_reason or "stopped"

    def _arm_timer(self, delay: float | None) -> None:
        """One timer handle sets the wake event at the next due instant (or none at all):
        cheaper than a wait_for task per iteration, and nothing runs while nothing is due."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if delay is not None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._wake.set)

    def _capacity(self) -> int:
        return self.settings.runner.concurrency - len(self.running)

    def _dispatch(self, now: float) -> None:
        self.evaluations += 1
        for _ in range(len(self._manual)):
            name = self._manual.popleft()
            if name not in self.specs:
                continue
            if name in self.running or self._capacity() <= 0:
                self._manual.append(name)  # after the running one, or when a slot frees
                continue
            self._start(self.specs[name], now, store.Trigger.manual)
        deferred: list[tuple[float, str, int]] = []
        while self._capacity() > 0:
            entry = self._next_entry()
            if entry is None or entry[0] > now:
                break
            _, name, gen = heapq.heappop(self._heap)
            if name in self.running:
                continue  # rescheduled when that run finishes
            spec = self.specs[name]
            # Re-check at dispatch: a job queued behind others may have left its time period.
            due = scheduler.due(spec.plan, self.timings[name], now)
            if due is None:
                continue
            if due.at > now:
                heapq.heappush(self._heap, (due.at, name, gen))
                continue
            if self._follows_pending(spec, now):
                deferred.append((due.at, name, gen))  # after the job it follows
                continue
            self._start(spec, due.at, _trigger(due))
        for entry in deferred:
            heapq.heappush(self._heap, entry)

    def _follows_pending(self, spec: JobSpec, now: float) -> bool:
        """Whether a job this one follows (``after``) is running or due now itself."""
        for other in spec.config.after:
            if other in self.running:
                return True
            other_spec = self.specs.get(other)
            if other_spec is None:
                continue
            timing = self.timings.get(other) or scheduler.Timing(known_since=now)
            due = scheduler.due(other_spec.plan, timing, now)
            if due is not None and due.at <= now:
                return True
        return False

    def _delay(self, now: float) -> float | None:
        candidates = []
        lifetime = self.settings.runner.max_lifetime
        if lifetime and not self._retiring:
            candidates.append(self.started_at + lifetime)
        if self._capacity() > 0 and not self._retiring:
            entry = self._next_entry()
            if entry is not None:
                candidates.append(entry[0])
        if not candidates:
            return None  # until a run finishes, a trigger, a reload or shutdown
        return max(0.0, min(candidates) - now)

    def _start(self, spec: JobSpec, scheduled_for: float, trigger: store.Trigger) -> None:
        task = asyncio.create_task(
            self._execute(spec, scheduled_for, trigger), name=f"directord-run-{spec.name}"
        )
        active = ActiveRun(spec.name, None, self.clock(), scheduled_for, task)
        self.running[spec.name] = active

        def done(_: asyncio.Task[RunReport | None]) -> None:
            if self.running.get(spec.name) is active:
                del self.running[spec.name]
            self._wake.set()

        task.add_done_callback(done)

    async def _drain(self) -> None:
        tasks = [r.task for r in self.running.values()]
        if not tasks:
            return
        grace = self.settings.runner.shutdown_grace
        if self._stopping:
            logger.bind(action="shutdown_grace").info(
                "waiting up to {:.0f}s for {} running job(s)", grace, len(tasks)
            )
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.flush()

    # -- one run -------------------------------------------------------------------------------

    async def run_pending_once(self) -> list[RunReport]:
        """``jobs run``: every job pending now, once, oldest due first."""
        now = self.clock()
        plans = [s.plan for s in self.specs.values()]
        due = scheduler.pending(plans, self.timings, now)
        limit = asyncio.Semaphore(self.settings.runner.concurrency)

        async def one(d: scheduler.Due) -> RunReport | None:
            async with limit:
                return await self._execute(self.specs[d.name], d.at, _trigger(d))

        # Chained jobs requested by these runs come in later rounds; each job runs once.
        done: set[str] = set()
        results: list[RunReport | None] = []
        while due:
            done.update(d.name for d in due)
            if self.settings.runner.concurrency == 1:
                for d in due:  # serial: one after the other, dependencies first
                    results.append(await one(d))
            else:
                results += await asyncio.gather(*(one(d) for d in due))
            now = self.clock()
            due = [d for d in scheduler.pending(plans, self.timings, now) if d.name not in done]
        await self.flush()
        return [r for r in results if r is not None]

    async def run_now(self, name: str) -> RunReport | None:
        """``job run NAME``: now, outside the schedule, recorded like any other run."""
        report = await self._execute(self.specs[name], self.clock(), store.Trigger.manual)
        await self.flush()
        return report

    async def _execute(
        self, spec: JobSpec, scheduled_for: float, trigger: store.Trigger
    ) -> RunReport | None:
        name = spec.name
        started = self.clock()
        timeout = spec.config.timeout
        if trigger is not store.Trigger.manual:
            self.store_disabled = await self.store.disabled_jobs()
            if name in self.store_disabled:
                # No run row: it is looked at again one interval later, so enabling it resumes.
                logger.bind(action="run_skipped", job=name).info(
                    "not started: disabled in the store (directord job enable {})", name
                )
                self.timings[name] = replace(
                    self.timings.get(name, scheduler.Timing(started)),
                    last_attempt=started,
                    requested_at=None,
                )
                self._reschedule(name, started)
                return None
        claim = store.Claim(
            job=name,
            kind=spec.config.kind,
            node=self.node,
            trigger=trigger,
            scheduled_for=scheduled_for,
            started=started,
            lease_until=None if not timeout else started + timeout + 60,
            owner=self.owner,
            attempt=self.timings.get(name, scheduler.Timing(started)).failures + 1
            if trigger is store.Trigger.retry
            else 1,
            job_version=spec.version,
        )
        run_id = await self.store.claim_run(claim)
        if run_id is None:
            logger.bind(action="run_skipped", job=name).info(
                "not started: it is running (here or in another process) or already claimed"
            )
            return None
        if name in self.running:
            self.running[name].run_id = run_id
        log = logger.bind(job=name, run=run_id)
        lateness = max(0.0, started - scheduled_for)
        log.bind(action="run_started").info(
            "{} run of {} started ({:.3f}s after due)", trigger, spec.config.kind, lateness
        )
        self._emit("run_started", job=name, run=run_id, lateness=lateness, kind=spec.config.kind)
        self.timings[name] = replace(
            self.timings.get(name, scheduler.Timing(started)),
            last_attempt=started,
            requested_at=None,
        )
        ctx = JobContext(
            name=name,
            settings=spec.settings,
            log=log,
            store=self.store,
            config=self.settings,
            run_id=run_id,
            node=self.node,
            deadline=None if not timeout else time.monotonic() + timeout,
            _http_factory=self.http,
        )
        state, summary, counters, changed = await self._call(spec, ctx, timeout, log)
        # Secrets never reach the store, the views or the log (issue 9.6).
        redactor = config_secrets.redactor(self.settings)
        summary, details = redactor.text(summary), redactor.value(ctx.details)
        self._recent_ends.append((name, time.monotonic()))
        finished = self.clock()
        outcome = store.Outcome(state, finished, summary, counters, details, changed)
        # The finish is written in the background so the next run's claim can queue right behind
        # it; shutdown and close wait for every pending write (_flush), so nothing is lost.
        write = asyncio.ensure_future(self.store.finish_run(run_id, claim, outcome))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        timing = self.timings.get(name, scheduler.Timing(started))
        self.timings[name] = replace(
            timing,
            last_attempt=started,
            last_finished=finished,
            failures=0 if state.ok else timing.failures + 1,
        )
        self.states[name] = store.JobState(
            job=name,
            last_attempt=started,
            last_finished=finished,
            last_success=finished
            if state.ok
            else (self.states[name].last_success if name in self.states else None),
            last_result=str(state),
            last_error=None if state.ok else summary,
            last_run_id=run_id,
            failures=self.timings[name].failures,
        )
        self._reschedule(name, finished)
        followers = self._followers.get(name, ())
        for follower in scheduler.chain_requests(followers, name, state.ok, changed):
            logger.bind(action="chain_requested", job=follower).info(
                "after {} (run {})", name, run_id
            )
            self.timings[follower] = replace(
                self.timings.get(follower, scheduler.Timing(finished)), requested_at=finished
            )
            self._reschedule(follower, finished)
        level = "INFO" if state.ok else "WARNING"
        log.bind(action="run_finished").log(
            level, "{} in {:.3f}s: {}", state, finished - started, summary
        )
        report = RunReport(
            run_id, name, state, summary, started, finished, scheduled_for, counters, changed
        )
        self._emit(
            "run_finished",
            job=name,
            run=run_id,
            state=str(state),
            duration=finished - started,
            finished=finished,
            kind=spec.config.kind,
        )
        self._check_memory()
        return report

    async def _call(
        self, spec: JobSpec, ctx: JobContext, timeout: float | None, log: Any
    ) -> tuple[store.RunState, str, dict[str, Any], bool | None]:
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
                return (
                    store.RunState.failed,
                    f"the job returned {type(result).__name__}, not a JobResult",
                    {},
                    None,
                )
            state = store.RunState.succeeded if result.succeeded else store.RunState.failed
            return state, result.summary, result.counters, result.changed
        except TimeoutError:
            return store.RunState.timed_out, f"timed out after {timeout:g}s", {}, None
        except JobFailed as exc:
            return store.RunState.failed, exc.summary, exc.counters, None
        except asyncio.CancelledError:
            return store.RunState.cancelled, "cancelled: the daemon was shutting down", {}, None
        except Exception as exc:
            log.bind(action="run_crashed").opt(exception=exc).error("the job raised")
            return store.RunState.failed, f"{type(exc).__name__}: {exc}", {}, None

    def _check_memory(self) -> None:
        if self.baseline_rss is None:
            return
        limit = self.settings.runner.memory_growth_limit
        # The peak RSS is a cheap syscall and never below the current RSS: read /proc only when
        # the peak says the limit may have been crossed.
        if limit and peak_rss() - self.baseline_rss <= limit:
            return
        now_rss = rss()
        growth = now_rss - self.baseline_rss
        if limit and growth > limit:
            mib = 1 << 20
            logger.bind(action="memory_limit", rss=now_rss, baseline=self.baseline_rss).warning(
                "RSS {:.0f} MiB grew {:.0f} MiB since start-up ({:.0f} MiB), more than the "
                "memory_growth_limit of {:.0f} MiB: exiting (0) for a fresh start",
                now_rss / mib,
                growth / mib,
                self.baseline_rss / mib,
                limit / mib,
            )
            self.retire(f"memory grew by {growth / mib:.0f} MiB (limit {limit / mib:.0f} MiB)")

    def _emit(self, event: str, **data: Any) -> None:
        for listener in self.listeners:
            try:
                listener(event, data)
            except Exception:  # a broken listener must not break runs
                logger.bind(action="listener_failed").exception("listener for {}", event)

    # -- views ---------------------------------------------------------------------------------

    def job_views(self, now: float) -> list[dict[str, Any]]:
        """One row per job for ``jobs list``, /status and the web."""
        out = []
        for name, spec in sorted(self.specs.items()):
            state = self.states.get(name)
            timing = self.timings.get(name) or scheduler.Timing(known_since=now)
            due = scheduler.due(spec.plan, timing, now)
            running = self.running.get(name)
            out.append(
                {
                    "name": name,
                    "kind": spec.config.kind,
                    "enabled": not spec.config.disabled and name not in self.store_disabled,
                    "disabled_by": "config"
                    if spec.config.disabled
                    else "store"
                    if name in self.store_disabled
                    else None,
                    "interval": spec.config.interval,
                    "schedule": _schedule_text(spec),
                    "timeperiod": spec.config.timeperiod,
                    "in_period": scheduler.in_period(spec.plan, now),
                    "last_attempt": state.last_attempt if state else None,
                    "last_result": state.last_result if state else None,
                    "last_error": state.last_error if state else None,
                    "last_success": state.last_success if state else None,
                    "next_due": None if due is None else due.at,
                    "overdue_after": _overdue_after(spec.plan, timing, due),
                    "gated": due is not None and due.gated,
                    "running": None
                    if running is None
                    else {
                        "run_id": running.run_id,
                        "started": running.started,
                        "elapsed": now - running.started,
                    },
                }
            )
        return out


def _schedule_text(spec: JobSpec) -> str:
    """``every 1h``, ``at 02:00 (Europe/Berlin)``, ``cron 0 2 * * * (UTC)``."""
    sched = spec.plan.schedule
    if sched is None:
        return f"every {units.format_duration(spec.plan.interval)}"
    return f"{sched.text} ({sched.tz.key})"


def _overdue_after(
    plan: scheduler.Plan, timing: scheduler.Timing, due: scheduler.Due | None
) -> float | None:
    """When a job that has not started by then is overdue: one interval after its due time, or
    for a calendar job once a second start it owes has passed (calendar.overdue_after)."""
    if due is None:
        return None
    if plan.schedule is None:
        return due.at + plan.interval
    return calendar.overdue_after(
        plan.schedule, last_attempt=timing.last_attempt, known_since=timing.known_since
    )
