"""``jobs next``: the next starts of every job, in time order. Pure: no I/O, no clock.

Each job's starts come from the scheduler's own rule (scheduler.due), applied again as if every
run started at its scheduled time, so time periods, catch-up and calendar schedules show exactly
as they will run (retries and chain requests cannot be foreseen and are left out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from directord import scheduler


@dataclass(frozen=True, order=True)
class Start:
    at: float
    job: str
    gated: bool = False  # moved to the start of the job's time period
    catch_up: bool = False  # the latest start missed while the daemon was down


def job_starts(
    plan: scheduler.Plan, timing: scheduler.Timing, now: float, count: int
) -> list[Start]:
    """The next ``count`` starts of one job, seen at ``now``."""
    timing = replace(timing, failures=0, requested_at=None)
    out: list[Start] = []
    at = now
    while len(out) < count:
        due = scheduler.due(plan, timing, at)
        if due is None or (out and due.at <= out[-1].at):
            break
        out.append(Start(due.at, plan.name, due.gated, due.catch_up))
        at = max(due.at, now)
        timing = replace(timing, last_attempt=due.at, last_finished=due.at)
    return out


def upcoming(
    plans: Iterable[scheduler.Plan],
    timings: Mapping[str, scheduler.Timing],
    now: float,
    count: int,
) -> list[Start]:
    """The next ``count`` starts of every job, all in time order (ties by name)."""
    out: list[Start] = []
    for plan in plans:
        timing = timings.get(plan.name) or scheduler.Timing(known_since=now)
        out.extend(job_starts(plan, timing, now, count))
    return sorted(out)
