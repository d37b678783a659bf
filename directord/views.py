"""What every view of the jobs shows (``jobs list``, /status, /metrics, aiomonitor, the health
check), computed once per job. Pure: ``job_views`` takes the specs, the stored states, the
running runs and ``now``, so read-only commands use it without a Supervisor.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from directord import calendar, scheduler, units

if TYPE_CHECKING:
    from directord.jobstate import JobState
    from directord.specs import JobSpec


class ActiveRunLike(Protocol):
    @property
    def run_id(self) -> int | None: ...

    @property
    def started(self) -> float: ...


@dataclass(frozen=True)
class RunningView:
    run_id: int | None
    started: float
    elapsed: float


@dataclass(frozen=True)
class JobView:
    """One job as the views show it; times are epoch seconds (None: never / not scheduled)."""

    name: str
    kind: str
    enabled: bool
    disabled_by: str | None  # "config" (disabled: true) or "store" (directord job disable)
    interval: float | None  # None: an at/cron job
    schedule: str  # every 1h, at 02:00 (Europe/Berlin), cron 0 2 * * * (UTC)
    timeperiod: str | None
    in_period: bool
    last_attempt: float | None
    last_result: str | None
    last_node: str | None  # the node of the last finished run (several nodes on one database)
    last_error: str | None
    last_success: float | None
    next_due: float | None
    gated: bool  # next_due was moved to the opening of the job's time period
    # When a job that has not started by then is overdue: one interval after its due time, or
    # for a calendar job once a second start it owes has passed.
    overdue_after: float | None
    running: RunningView | None
    # Not started by overdue_after while its period is active and it is not running:
    # something holds it up (the health check goes CRITICAL on it).
    overdue: bool

    def as_json(self) -> dict[str, Any]:
        """The view as plain data (``jobs list --json``; /status turns times into ISO)."""
        # What dataclasses.asdict gives, built by hand: asdict walks every value recursively
        # and took a third of a /status render with a thousand jobs.
        doc = dict(self.__dict__)
        if self.running is not None:
            doc["running"] = dict(self.running.__dict__)
        return doc

    def as_json_with(self, instant: Callable[[float | None], Any]) -> dict[str, Any]:
        """``as_json()`` with every instant (the running run's start too) written by
        ``instant``, e.g. as ISO-8601 for ``jobs list --json`` and /status."""
        doc = self.as_json()
        doc.update((key, instant(getattr(self, key))) for key in INSTANTS)
        if self.running is not None:
            doc["running"] = {**doc["running"], "started": instant(self.running.started)}
        return doc


# The JobView fields that are instants (epoch seconds).
INSTANTS = ("last_attempt", "last_success", "next_due", "overdue_after")


def timing_from_state(state: JobState | None, now: float) -> scheduler.Timing:
    """What the scheduler needs of a job's stored state, as seen by a process starting at
    ``now``. A stored time after ``now`` means the wall clock was stepped back since: it counts
    as ``now``, so a backward step does not hold the job back by its size."""
    if state is None:
        return scheduler.Timing(known_since=now)
    return scheduler.Timing(
        known_since=now,
        last_attempt=None if state.last_attempt is None else min(state.last_attempt, now),
        last_finished=None if state.last_finished is None else min(state.last_finished, now),
        failures=state.failures,
        # The grid goes on from the last run's due time (one grid for every node, and after a
        # restart); scheduler._anchor falls back to the start when it does not fit.
        last_scheduled=state.last_scheduled,
    )


def job_view(
    spec: JobSpec,
    state: JobState | None,
    timing: scheduler.Timing,
    running: ActiveRunLike | None,
    now: float,
    store_disabled: bool = False,
) -> JobView:
    due = scheduler.due(spec.plan, timing, now)
    disabled_by = "config" if spec.job_config.disabled else "store" if store_disabled else None
    enabled = disabled_by is None
    in_period = scheduler.in_period(spec.plan, now)
    limit = overdue_after(spec.plan, timing, due)
    return JobView(
        name=spec.name,
        kind=spec.job_config.kind,
        enabled=enabled,
        disabled_by=disabled_by,
        interval=spec.job_config.interval,
        schedule=schedule_text(spec.plan),
        timeperiod=spec.job_config.timeperiod,
        in_period=in_period,
        # No stored state yet: the attempt the schedule counts from (a Director job seeded from
        # Director's ts_last_attempt, a first run going on).
        last_attempt=state.last_attempt if state else timing.last_attempt,
        last_result=state.last_result if state else None,
        last_node=state.last_node if state else None,
        last_error=state.last_error if state else None,
        last_success=state.last_success if state else None,
        next_due=None if due is None else due.at,
        gated=due is not None and due.gated,
        overdue_after=limit,
        running=None
        if running is None
        else RunningView(running.run_id, running.started, now - running.started),
        overdue=enabled and in_period and running is None and limit is not None and now > limit,
    )


def schedule_text(plan: scheduler.Plan) -> str:
    """``every 1h``, ``at 02:00 (Europe/Berlin)``, ``cron 0 2 * * * (UTC)``."""
    sched = plan.schedule
    if sched is None:
        return f"every {units.format_duration(plan.interval)}"
    return f"{sched.text} ({sched.tz.key})"


def overdue_after(
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


def job_views(
    specs: Mapping[str, JobSpec] | Iterable[JobSpec],
    states: Mapping[str, JobState],
    running: Mapping[str, ActiveRunLike],
    now: float,
    timings: Mapping[str, scheduler.Timing] | None = None,
    store_disabled: Collection[str] = (),
) -> list[JobView]:
    """One view per job, by name. ``timings``: the supervisor's in-memory ones (chain requests,
    when it first knew a job); without them they are derived from ``states``.
    ``store_disabled``: the jobs switched off with ``directord job disable``."""
    items = specs.values() if isinstance(specs, Mapping) else specs
    out = []
    for spec in sorted(items, key=lambda s: s.name):
        state = states.get(spec.name)
        timing = timings.get(spec.name) if timings is not None else None
        if timing is None:
            timing = timing_from_state(state, now)
        run = running.get(spec.name)
        out.append(job_view(spec, state, timing, run, now, spec.name in store_disabled))
    return out
