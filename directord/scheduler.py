"""Due-time arithmetic: when is each job due, which are pending, when must the supervisor wake.

Pure: no I/O, no clock. Every function takes ``now`` (epoch seconds), so tests drive it with a
fake clock.

Rules (Director's, then better):
- a job is due one ``interval`` after the time its last run was scheduled for, not after that
  run's actual start, so start lateness never adds up (no drift: a 1 s job runs 3,600 times an
  hour). When more than one interval was missed (downtime, a run longer than its interval), it
  is due once at the latest slot of that grid at or before now, so it runs at once, once, and
  stays on its grid (no catch-up burst). The grid counts from the run's start instead when the
  scheduled time is not known (after a restart: the store keeps the start) or belongs to
  another run (news of a run on another node); a job that never ran is due at once (at the
  moment the supervisor first knew it), and its first run is scheduled for the moment it starts,
  so its grid counts from there (``due_queue``: new jobs queued behind each other keep their
  spacing instead of colliding on one grid); a disabled job never;
- a job with a calendar schedule (``at``/``cron``) is due at its next start after its last
  attempt, or once at the latest one it missed while the daemon was down (within ``catch_up``);
  one that never ran waits for its first start (calendar.next_start);
- after a failure with ``retry.attempts`` left, it is due ``retry.backoff`` after that run ended,
  if that is earlier;
- with a time period: when the period is not active at ``max(due, now)``, the job is due at the
  period's next start (computed with next_change, never polled). Outside the period nothing runs,
  not even a late job;
- pending jobs run oldest due first, ties by name; a job whose ``after`` jobs are pending too
  runs after them;
- a chained job (``after``) is requested when a job it follows succeeded (and, with
  ``only_if_changed``, changed something): the request makes it due at once, still inside its own
  time period.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from directord import calendar, timeperiods


@dataclass(frozen=True)
class Plan:
    """What the scheduler needs of a job definition."""

    name: str
    interval: float
    period: timeperiods.TimePeriod | None = None
    disabled: bool = False
    retry_attempts: int = 0
    retry_backoff: float = 30.0
    after: tuple[str, ...] = ()
    only_if_changed: bool = False
    schedule: calendar.Schedule | None = None  # at/cron; then interval plays no part alone
    catch_up: float = 0.0  # how old a start missed while down may be to still run once


@dataclass(frozen=True)
class Timing:
    """What the scheduler needs of a job's past."""

    known_since: float
    last_attempt: float | None = None
    last_finished: float | None = None
    failures: int = 0  # consecutive failed runs
    last_scheduled: float | None = None  # the scheduled_for of the run started at last_attempt
    requested_at: float | None = None  # a chain request: a job this one follows succeeded


@dataclass(frozen=True, order=True)
class Due:
    at: float  # the instant the run is scheduled for (its scheduled_for)
    name: str
    retry: bool = False
    gated: bool = False  # moved to the start of the job's time period
    chained: bool = False  # due because a job it follows succeeded
    catch_up: bool = False  # the latest calendar start missed while the daemon was down


def due(plan: Plan, timing: Timing, now: float) -> Due | None:
    """When ``plan`` is next due, seen at ``now`` (maybe in the past: it is late). None: never."""
    if plan.disabled:
        return None
    at: float | None
    catch_up = False
    if plan.schedule is not None:
        start = calendar.next_start(
            plan.schedule,
            last_attempt=timing.last_attempt,
            known_since=timing.known_since,
            now=now,
            catch_up=plan.catch_up,
        )
        at, catch_up = (None, False) if start is None else (start.at, start.catch_up)
    elif timing.last_attempt is None:
        at = timing.known_since
    else:
        at = next_slot(_anchor(timing, plan.interval), plan.interval, now)
    retry = False
    if (
        timing.failures > 0
        and timing.failures <= plan.retry_attempts
        and timing.last_finished is not None
    ):
        retry_at = timing.last_finished + plan.retry_backoff
        if at is None or retry_at < at:
            at, retry, catch_up = retry_at, True, False
    chained = False
    if timing.requested_at is not None and (at is None or timing.requested_at < at):
        at, retry, chained, catch_up = timing.requested_at, False, True, False
    if at is None:
        return None  # a cron expression that never matches again
    if plan.period is None:
        return Due(at, plan.name, retry, chained=chained, catch_up=catch_up)
    probe = max(at, now)
    if not plan.period.is_active_ts(probe):
        opens = plan.period.next_change_ts(probe)
        return None if opens is None else Due(opens, plan.name, retry, True, chained, catch_up)
    if at < now and not plan.period.is_active_ts(at):
        # Due while the period was closed: the run is scheduled for the moment it opened.
        opened = plan.period.next_change_ts(at)
        if opened is not None and opened <= now:
            return Due(opened, plan.name, retry, True, chained, catch_up)
    return Due(at, plan.name, retry, chained=chained, catch_up=catch_up)


def _anchor(timing: Timing, interval: float) -> float:
    """Where the job's interval grid counts from: the time its last run was scheduled for, when
    that run started within one interval of it; else the run's start."""
    start, scheduled = timing.last_attempt, timing.last_scheduled
    assert start is not None
    if scheduled is not None and start - interval < scheduled <= start:
        return scheduled
    return start


def next_slot(anchor: float, interval: float, now: float) -> float:
    """The next slot of the grid ``anchor + k * interval`` (k >= 1) a job is due at, seen at
    ``now``: the first one, or, when later ones have passed too, the latest at or before ``now``
    (one run for all the missed slots, on the grid)."""
    at = anchor + interval
    if at + interval > now or interval <= 0:
        return at
    return anchor + math.floor((now - anchor) / interval) * interval


def all_due(
    plans: Iterable[Plan], timings: Mapping[str, Timing], now: float, running: Collection[str] = ()
) -> list[Due]:
    """When every job that is not running is next due, oldest first, ties by name."""
    out = []
    for plan in plans:
        if plan.name in running:
            continue
        timing = timings.get(plan.name) or Timing(known_since=now)
        d = due(plan, timing, now)
        if d is not None:
            out.append(d)
    out.sort()
    return out


def pending(
    plans: Iterable[Plan], timings: Mapping[str, Timing], now: float, running: Collection[str] = ()
) -> list[Due]:
    """The jobs due at or before ``now``, in the order they should run."""
    plans = list(plans)
    due_now = [d for d in all_due(plans, timings, now, running) if d.at <= now]
    return after_dependencies(due_now, {p.name: p.after for p in plans})


def after_dependencies(due: list[Due], after: Mapping[str, tuple[str, ...]]) -> list[Due]:
    """``due`` reordered so no job comes before a job it follows that is also in the list
    (otherwise the order stays: oldest due first, ties by name). Cycles are a config error."""
    names = {d.name for d in due}
    placed: set[str] = set()
    out: list[Due] = []
    waiting = list(due)
    while waiting:
        for i, d in enumerate(waiting):
            if all(dep in placed or dep not in names for dep in after.get(d.name, ())):
                out.append(waiting.pop(i))
                placed.add(d.name)
                break
        else:  # a cycle slipped through: keep the plain order rather than lose jobs
            out.extend(waiting)
            break
    return out


def chain_requests(
    plans: Iterable[Plan], finished: str, succeeded: bool, changed: bool | None
) -> list[str]:
    """The jobs to request after ``finished`` ended: those that follow it, if it succeeded
    (and changed something, for the ones that ask for that)."""
    if not succeeded:
        return []
    return [
        p.name
        for p in plans
        if finished in p.after and (not p.only_if_changed or changed is not False)
    ]


def in_period(plan: Plan, now: float) -> bool:
    return plan.period is None or plan.period.is_active_ts(now)
