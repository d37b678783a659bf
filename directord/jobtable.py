"""Every configured job as the supervisor knows it: its spec, its state (the job-state rules
applied to each finished run), what the scheduler knows of its past and its next due time."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from loguru import logger

from directord import clock, due_queue, jobstate, scheduler, store, timeperiods
from directord import specs as specs_mod
from directord import views as views_mod

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from directord.runs import RunReport


class JobTable:
    """The jobs of one config: ``specs`` by name, their ``states``, the due ``queue``."""

    def __init__(self, specs: dict[str, specs_mod.JobSpec], periods: timeperiods.Registry) -> None:
        self.specs = specs
        self.periods = periods
        self.states: dict[str, jobstate.JobState] = {}
        # Jobs switched off with `directord job disable` (name -> when): re-read before each run.
        self.store_disabled: dict[str, float] = {}
        self.queue = due_queue.DueQueue()
        self._wall = clock.WallWatch()

    @property
    def timings(self) -> dict[str, scheduler.Timing]:
        return self.queue.timings

    def load(self, states: dict[str, jobstate.JobState], now: float, schedule: bool) -> None:
        """Take the stored states (at start-up); ``schedule``: put every job on the queue."""
        self.states = states
        for name in self.specs:
            self.timings[name] = views_mod.timing_from_state(states.get(name), now)
        if schedule:
            self.queue.set_plans(self._plans(), now)

    def set_versions(self, versions: Mapping[str, int]) -> None:
        """The stored definitions' versions (recorded with each run)."""
        self.specs = {n: replace(s, version=versions.get(n)) for n, s in self.specs.items()}

    def replace(
        self, specs: dict[str, specs_mod.JobSpec], periods: timeperiods.Registry, now: float
    ) -> list[str]:
        """A reload: the new specs (versions kept until stored again), every job rescheduled.
        Returns what changed, one line each."""
        changes = specs_mod.changes(self.specs, specs, self.periods, periods)
        old = self.specs
        self.specs = {
            n: replace(s, version=old[n].version if n in old else None) for n, s in specs.items()
        }
        self.periods = periods
        self.queue.set_plans(self._plans(), now)
        return changes

    async def skip_disabled(self, db: store.Store, name: str, now: float) -> bool:
        """Whether ``name`` is switched off in the store (read again now). Then it does not run:
        no run row; it is looked at again one interval later, so enabling it resumes."""
        self.store_disabled = await db.disabled_jobs()
        if name not in self.store_disabled:
            return False
        logger.bind(action="run_skipped", job=name).info(
            "not started: disabled in the store (directord job enable {})", name
        )
        self.queue.started(name, now, now)
        self.queue.reschedule(name, now)
        return True

    def check_clock(self, wall: float, mono: float) -> None:
        """At each wake-up: after a backward step of the wall clock, the jobs' past moves back
        with it (due times are wall times). A forward step needs nothing: each job that became
        due runs once, then keeps its interval (no burst)."""
        step = self._wall.step(wall, mono)
        if step == 0.0:
            return
        logger.bind(action="clock_stepped", seconds=step).warning(
            "the wall clock jumped {:+.0f}s{}",
            step,
            "; due times moved with it" if step < 0 else "",
        )
        if step < 0:
            self.queue.shift(step, wall)

    def attempt(self, name: str, retry: bool, now: float) -> int:
        """The attempt number of a run about to start (retries count on from the failures)."""
        return self.queue.timing(name, now).failures + 1 if retry else 1

    def finished(self, report: RunReport) -> list[str]:
        """A run ended: the job's new state and next due time; returns the jobs it requests."""
        name = report.job
        finished = jobstate.Finished(
            name,
            report.run_id,
            report.started,
            report.finished,
            report.state,
            report.summary,
            report.node,
            report.scheduled_for,
        )
        self.states[name] = state = jobstate.next_state(self.states.get(name), finished)
        chained = self.queue.finished(
            name, report.started, report.finished, state.failures, report.changed
        )
        for follower in chained:
            logger.bind(action="chain_requested", job=follower).info(
                "after {} (run {})", name, report.run_id
            )
        return chained

    def views(
        self,
        running: Mapping[str, views_mod.ActiveRunLike],
        now: float,
        names: Iterable[str] | None = None,
    ) -> list[views_mod.JobView]:
        """Every job's view, or only those of ``names`` (that are configured)."""
        specs = self.specs if names is None else [self.specs[n] for n in names if n in self.specs]
        return views_mod.job_views(
            specs, self.states, running, now, self.timings, self.store_disabled
        )

    def _plans(self) -> dict[str, scheduler.Plan]:
        return {n: s.plan for n, s in self.specs.items()}
