"""The supervisor: the single asyncio task that owns the schedule.

It computes when the next job is due, sleeps until exactly then (or until a run finishes, a manual
trigger, a config reload or shutdown wakes it: there is no polling), and starts due jobs under a
limit of ``runner.concurrency`` runs at once (1, a lock, by default). One job never overlaps
itself. Every run is a row written before the job starts and finished after it.

The parts live beside it: ``due_queue`` (what to start), ``attempt`` (one run and its
consequences for the schedule), ``runs`` (claiming, calling and recording a run), ``claims``
(claims lost to other nodes, and when to try again), ``jobstate`` (what a run makes of a job's
state), ``heartbeat``, ``process`` (the memory rule), ``specs`` (building and diffing job specs),
``views`` and ``events``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from loguru import logger

from directord import (
    attempt,
    claims,
    events,
    heartbeat,
    jobtable,
    oneshot,
    process,
    runs,
    store,
    timeperiods,
)
from directord import clock as clock_mod
from directord import config as config_mod
from directord import specs as specs_mod
from directord import views as views_mod
from directord.jobs import registry

if TYPE_CHECKING:
    from directord.catalog import Catalog

# Re-exported: these lived here before the split and are imported from here elsewhere.
JobSpec = specs_mod.JobSpec
RunReport = runs.RunReport
ActiveRun = runs.ActiveRun
Stall = heartbeat.Stall
build_specs = specs_mod.build_specs
followers_of = specs_mod.followers_of
definition = specs_mod.definition
process_owner = process.process_owner
owner_alive = process.owner_alive
rss = process.rss
peak_rss = process.peak_rss


def _as_clock(clock: Callable[[], float] | clock_mod.Clock) -> clock_mod.Clock:
    if clock is time.time:
        return clock_mod.SystemClock()
    if hasattr(clock, "monotonic") and hasattr(clock, "call_later"):
        return clock
    return clock_mod.WallClock(clock)


class Supervisor:
    """Owns the schedule of one daemon (or one CLI command) on one store. ``load_state()``
    first; then ``serve()`` runs jobs as they fall due until ``shutdown()`` or ``retire()``, and
    ``trigger()``/``reload()`` act on it; or a one-shot ``run_pending_once()``/``run_now()``.
    ``clock``: wall time and timers (a clock.ManualClock in tests; a bare function: wall time)."""

    def __init__(
        self,
        settings: config_mod.Settings,
        db: store.Store,
        kinds: registry.Kinds,
        *,
        clock: Callable[[], float] | clock_mod.Clock = time.time,
        catalog: Catalog | None = None,
    ) -> None:
        self.daemon_settings = settings
        # Where the job definitions come from (config.yaml, the store, Director), for the web.
        self.catalog = catalog
        self.store = db
        self.kinds = kinds
        self.clock = _as_clock(clock)
        self.node = settings.node
        self.owner = process.process_owner()
        self.jobs = jobtable.JobTable(*specs_mod.load(settings, kinds))
        self.running: dict[str, runs.ActiveRun] = {}
        self.events = events.Events()
        self.evaluations = 0  # schedule evaluations, for the idle benchmark
        self.started_at = self.clock()
        self.exit_reason: str | None = None
        self.memory = process.MemoryRule(settings.runner.memory_growth_limit)
        self.heartbeat = heartbeat.Heartbeat(None, lambda: list(self.running))
        self.serving = False
        self._wake = asyncio.Event()
        self._stopping = False
        self._retiring = False
        self._timer: clock_mod.Timer | None = None
        self.executor = runs.Executor(db, node=self.node, owner=self.owner, clock=self.clock)
        self.claims = claims.Claims(
            db, self.jobs, self.running, self.clock, lambda: self.recheck, self._wake.set
        )

    @property
    def settings(self) -> config_mod.Settings:
        """Deprecated name of ``daemon_settings``."""
        return self.daemon_settings

    @property
    def specs(self) -> dict[str, JobSpec]:
        return self.jobs.specs

    @property
    def periods(self) -> timeperiods.Registry:
        return self.jobs.periods

    # -- set-up --------------------------------------------------------------------------------

    async def load_state(self, readonly: bool = False) -> list[store.Interrupted]:
        """Mark runs a dead process left 'running' as interrupted, store the config's job
        definitions, and load every job's state. ``readonly`` only loads (for views)."""
        now = self.clock()
        self.jobs.store_disabled = await self.store.disabled_jobs()
        interrupted = [] if readonly else await runs.interrupt_dead_runs(self.store, now)
        if not readonly:
            await self._store_definitions()
        self.jobs.load(await self.store.job_states(), now, schedule=not readonly)
        return interrupted

    start = load_state  # its deprecated name

    async def _store_definitions(self) -> None:
        managed = self.daemon_settings.managed
        versions = await specs_mod.store_definitions(self.store, self.specs, managed, self.clock())
        self.jobs.set_versions(versions)

    async def flush(self) -> None:
        """Wait until every run's finish is written (one the store does not take is retried
        within shutdown_grace of the stop, then named loudly: the next start interrupts it)."""
        await self.executor.flush(self.daemon_settings.runner.shutdown_grace)

    async def close(self) -> None:
        """Wait for every finish to be written; close the jobs' HTTP session."""
        await self.executor.close(self.daemon_settings.runner.shutdown_grace)

    # -- control -------------------------------------------------------------------------------

    def trigger(self, name: str) -> None:
        """Run ``name`` as soon as possible, outside its schedule (and its time period)."""
        if name not in self.specs:
            raise KeyError(name)
        self.jobs.queue.trigger(name)
        self._wake.set()

    def next_due(self) -> tuple[float, str] | None:
        """The next scheduled run: (when, job), or None."""
        return self.jobs.queue.next_due()

    def wake(self) -> None:
        """Have the loop look at the queue again now (a run ended, a trigger, a reload)."""
        self._wake.set()

    def shutdown(self, reason: str = "shutdown requested") -> None:
        """Stop taking new work; running jobs get shutdown_grace, then are cancelled."""
        if not self._stopping:
            logger.bind(action="shutdown").info("shutting down: {}", reason)
            self._stop(self.exit_reason or reason, reason)
        self._stopping = True

    def retire(self, reason: str) -> None:
        """Stop taking new work and exit (0) once the running jobs have finished."""
        if not self._retiring:
            logger.bind(action="retire").warning("exiting after the running jobs: {}", reason)
            self._stop(reason, reason)
        self._retiring = True

    def _stop(self, exit_reason: str, reason: str) -> None:
        self.executor.stopping()
        self.exit_reason = exit_reason
        self.events.emit(events.Stopping(reason))
        self._wake.set()

    def reload(self, settings: config_mod.Settings) -> list[str]:
        """Swap in a new config (jobs, time periods). Running jobs finish with the old one."""
        new_specs, periods = specs_mod.load(settings, self.kinds)
        changes = self.jobs.replace(new_specs, periods, self.clock())
        self.daemon_settings = settings
        self.memory.limit = settings.runner.memory_growth_limit
        self._wake.set()
        self.events.emit(events.Reloaded(tuple(changes)))
        return changes

    async def apply_reload(self, settings: config_mod.Settings) -> list[str]:
        """``reload`` and store the new definitions; logs what changed."""
        changes = self.reload(settings)
        await self._store_definitions()
        for change in changes or ["nothing changed"]:
            logger.bind(action="config_reloaded").info("reload: {}", change)
        return changes

    # -- the loop ------------------------------------------------------------------------------

    async def serve(self, heartbeat_interval: float | None = None) -> str:
        """Run jobs as they fall due until shutdown or retirement; returns why it stopped.
        ``heartbeat_interval``: seconds between heartbeats (None: one at start only)."""
        self.serving = True
        if heartbeat_interval is not None:
            self.heartbeat.interval = heartbeat_interval
        self.heartbeat.start()
        try:
            return await self._loop()
        finally:
            self.serving = False
            self.heartbeat.stop()

    async def _loop(self) -> str:
        while True:
            self._wake.clear()
            now = self.clock()
            self.jobs.check_clock(now, self.clock.monotonic())
            lifetime = self.daemon_settings.runner.max_lifetime
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
        # One timer handle sets the wake event at the next due instant (or none at all): cheaper
        # than a wait_for task per iteration, and nothing runs while nothing is due.
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if delay is not None:
            self._timer = self.clock.call_later(delay, self._wake.set)

    def _capacity(self) -> int:
        if self.claims.blocked(self.clock()):
            return 0
        return self.daemon_settings.runner.concurrency - len(self.running)

    def _dispatch(self, now: float) -> None:
        self.evaluations += 1
        for start in self.jobs.queue.choose(self.running, self._capacity(), now):
            spec = self.specs[start.name]
            self._launch(spec, start.scheduled_for, runs.trigger_of(start), start.due_at)

    def _delay(self, now: float) -> float | None:
        """Seconds until the loop wakes by itself; None: until a run ends, a trigger, a reload."""
        if self._retiring:
            return None
        lifetime = self.daemon_settings.runner.max_lifetime
        candidates = [self.started_at + lifetime] if lifetime else []
        entry = self.jobs.queue.next_due() if self._capacity() > 0 else None
        if entry is not None:
            candidates.append(entry[0])
        if self.claims.blocked_until > now:
            candidates.append(self.claims.blocked_until)
        return max(0.0, min(candidates) - now) if candidates else None

    async def _drain(self) -> None:
        """Wait for the running jobs (on shutdown: for shutdown_grace, then cancel them)."""
        grace = self.daemon_settings.runner.shutdown_grace if self._stopping else None
        await runs.drain([r.task for r in self.running.values()], grace)
        await self.flush()

    # -- one run -------------------------------------------------------------------------------
    # Methods written beside the class, each part in its module: the function takes the
    # supervisor as ``self``. ``execute``: one run and its consequences for the schedule;
    # ``_launch``: that run started as a task of its own, the loop woken when it ends;
    # ``run_pending_once`` (``jobs run``) and ``run_now`` (``job run NAME``): without the loop.

    execute = attempt.execute
    _launch = attempt.launch
    run_pending_once = oneshot.run_pending_once
    run_now = oneshot.run_now

    # -- several nodes on one store --------------------------------------------------------------

    @property
    def recheck(self) -> float:
        """How long a refused claim waits at most before it is tried again."""
        return self.daemon_settings.runner.lease / 2

    def observe(self, states: dict[str, store.JobState]) -> None:
        """Job states recorded by other nodes (the store's NOTIFY listener calls this)."""
        self.claims.observe(states)

    async def set_disabled(self, name: str, disabled: bool) -> None:
        """Switch ``name`` off or on in the store (as ``directord job disable|enable``): seen by
        its next due time and by every view at once. KeyError: no such job."""
        if name not in self.specs:
            raise KeyError(name)
        await self.store.set_job_disabled(name, disabled, self.clock())
        self.jobs.store_disabled = await self.store.disabled_jobs()

    def job_views(self, now: float, names: Iterable[str] | None = None) -> list[views_mod.JobView]:
        """One view per job (or per job of ``names``) for ``jobs list``, /status and the web."""
        return self.jobs.views(self.running, now, names)
