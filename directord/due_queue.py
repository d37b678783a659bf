"""The due queue: which job runs next, and which may start now. Pure: no I/O, no clock.

Due times sit in a heap of ``(at, name, generation)``; rescheduling a job bumps its generation,
so an older entry of it is stale and skipped when it surfaces. Waking costs O(log n), not a pass
over every job. ``choose`` picks what to start at ``now`` under the concurrency limit: manual
triggers first (they ignore the schedule and the time period), then due jobs oldest first; a job
never overlaps itself, and a job waits while a job it follows (``after``) runs or is due too.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from directord import scheduler


@dataclass(frozen=True)
class Start:
    """A run to start: ``due`` is None for a manual trigger."""

    name: str
    scheduled_for: float
    due: scheduler.Due | None = None

    @property
    def due_at(self) -> float:
        """When the run became due, which its start lateness counts from: the due time, also
        for a first run scheduled for its start (``scheduled_for``)."""
        return self.scheduled_for if self.due is None else self.due.at


class DueQueue:
    """The jobs' plans, what the scheduler knows of their past (``timings``) and their next
    due times. Every change of a job's timing goes through here, which reschedules it."""

    def __init__(self) -> None:
        self.plans: dict[str, scheduler.Plan] = {}
        self.timings: dict[str, scheduler.Timing] = {}
        # For each job, the plans of the jobs that run after it: looked up after every run.
        self._followers: dict[str, list[scheduler.Plan]] = {}
        self._heap: list[tuple[float, str, int]] = []
        self._gen: dict[str, int] = {}
        self._manual: collections.deque[str] = collections.deque()

    def set_plans(self, plans: Mapping[str, scheduler.Plan], now: float) -> None:
        """Take these plans (at start-up or a reload): new jobs are known from ``now``,
        removed ones leave the heap, every job is rescheduled."""
        self.plans = dict(plans)
        self._followers = {}
        for plan in self.plans.values():
            for leader in plan.after:
                self._followers.setdefault(leader, []).append(plan)
        for name in self.plans:
            self.timings.setdefault(name, scheduler.Timing(known_since=now))
        for name in set(self._gen) | set(self.plans):
            self.reschedule(name, now)

    def reschedule(self, name: str, now: float) -> None:
        """Put ``name``'s next due time on the heap (dropping any earlier entry of it)."""
        self._gen[name] = gen = self._gen.get(name, 0) + 1
        plan = self.plans.get(name)
        if plan is None:
            return
        due = scheduler.due(plan, self.timings.get(name) or scheduler.Timing(now), now)
        if due is not None:
            heapq.heappush(self._heap, (due.at, name, gen))
        if len(self._heap) > 2 * len(self.plans) + 64:
            self._heap = [e for e in self._heap if self._gen.get(e[1]) == e[2]]
            heapq.heapify(self._heap)

    def postpone(self, name: str, at: float) -> None:
        """Look at ``name`` again at ``at`` (a refused claim), whatever its due time says."""
        self._gen[name] = gen = self._gen.get(name, 0) + 1
        heapq.heappush(self._heap, (at, name, gen))

    def shift(self, seconds: float, now: float) -> None:
        """The wall clock was stepped by ``seconds``: move every job's past with it, so each keeps
        its cadence in elapsed time (a backward step must not hold a job back by its size), and
        reschedule all."""
        for name, t in self.timings.items():
            self.timings[name] = scheduler.Timing(
                known_since=t.known_since + seconds,
                last_attempt=None if t.last_attempt is None else t.last_attempt + seconds,
                last_scheduled=None if t.last_scheduled is None else t.last_scheduled + seconds,
                last_finished=None if t.last_finished is None else t.last_finished + seconds,
                failures=t.failures,
                requested_at=None if t.requested_at is None else t.requested_at + seconds,
            )
        for name in self.plans:
            self.reschedule(name, now)

    def timing(self, name: str, now: float) -> scheduler.Timing:
        return self.timings.get(name) or scheduler.Timing(known_since=now)

    def started(self, name: str, at: float, scheduled_for: float) -> None:
        """A run of ``name`` scheduled for ``scheduled_for`` started at ``at``: it is attempted,
        any chain request is served, its next run counts from ``scheduled_for`` (no drift)."""
        # Built field by field: dataclasses.replace costs several times as much, once a run.
        t = self.timing(name, at)
        self.timings[name] = scheduler.Timing(
            known_since=t.known_since,
            last_attempt=at,
            last_finished=t.last_finished,
            failures=t.failures,
            last_scheduled=scheduled_for,
        )

    def finished(
        self, name: str, started: float, finished: float, failures: int, changed: bool | None
    ) -> list[str]:
        """A run of ``name`` ended with ``failures`` consecutive failures (0: it succeeded):
        reschedule it, and request the jobs that follow it; returns their names."""
        # A wall-clock step back during the run leaves started after finished: count from the
        # earlier of the two, or the step would hold the job back.
        started = min(started, finished)
        t = self.timing(name, started)
        self.timings[name] = scheduler.Timing(
            known_since=t.known_since,
            last_attempt=started,
            last_finished=finished,
            failures=failures,
            last_scheduled=t.last_scheduled,
            requested_at=t.requested_at,
        )
        self.reschedule(name, finished)
        followers = self._followers.get(name, ())
        chained = scheduler.chain_requests(followers, name, failures == 0, changed)
        for follower in chained:
            self.timings[follower] = replace(self.timing(follower, finished), requested_at=finished)
            self.reschedule(follower, finished)
        return chained

    def trigger(self, name: str) -> None:
        """Queue a manual run of ``name`` (once: a second trigger while queued is a no-op)."""
        if name not in self._manual:
            self._manual.append(name)

    def next_due(self) -> tuple[float, str] | None:
        """The earliest scheduled run: (when, job), or None."""
        entry = self._peek()
        return None if entry is None else (entry[0], entry[1])

    def _peek(self) -> tuple[float, str, int] | None:
        while self._heap and self._gen.get(self._heap[0][1]) != self._heap[0][2]:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    def choose(self, running: Collection[str], capacity: int, now: float) -> list[Start]:
        """The runs to start at ``now`` with ``capacity`` free slots, in start order; the
        chosen ones leave the queue (the owner reschedules each when its run finishes)."""
        plans, timings = self.plans, self.timings
        busy = set(running)
        out: list[Start] = []
        for _ in range(len(self._manual)):
            name = self._manual.popleft()
            if name not in plans:
                continue
            if name in busy or capacity <= 0:
                self._manual.append(name)  # after the running one, or when a slot frees
                continue
            out.append(Start(name, now))
            busy.add(name)
            capacity -= 1
        deferred: list[tuple[float, str, int]] = []
        while capacity > 0:
            entry = self._peek()
            if entry is None or entry[0] > now:
                break
            _, name, gen = heapq.heappop(self._heap)
            if name in busy:
                continue  # rescheduled when that run finishes
            plan = plans[name]
            # Re-check at dispatch: a job queued behind others may have left its time period.
            due = scheduler.due(plan, timings[name], now)
            if due is None:
                continue
            if due.at > now:
                heapq.heappush(self._heap, (due.at, name, gen))
                continue
            if _follows_pending(plan, plans, timings, busy, now):
                deferred.append((due.at, name, gen))  # after the job it follows
                continue
            out.append(Start(name, scheduled_for(plan, timings[name], due, now), due))
            busy.add(name)
            capacity -= 1
        for entry in deferred:
            heapq.heappush(self._heap, entry)
        return out


def scheduled_for(
    plan: scheduler.Plan, timing: scheduler.Timing, due: scheduler.Due, now: float
) -> float:
    """The instant a run started at ``now`` is scheduled for, which its job's interval grid
    counts from: its due time, except for the first run of an interval job, which is scheduled
    for when it starts (its lateness still counts from its due time: ``Start.due_at``).
    New jobs are all due at the instant they became known; a serial runner starts them one
    after another, and a grid counted from that one instant would make them queue behind each
    other again at every common multiple of their intervals, forever (issue 12: twenty
    Director jobs). Counted from their first starts, their grids keep that spacing."""
    if timing.last_attempt is None and plan.schedule is None and not due.chained:
        return max(due.at, now)
    return due.at


def _follows_pending(
    plan: scheduler.Plan,
    plans: Mapping[str, scheduler.Plan],
    timings: Mapping[str, scheduler.Timing],
    busy: Collection[str],
    now: float,
) -> bool:
    """Whether a job ``plan`` follows (``after``) is running or due now itself."""
    for other in plan.after:
        if other in busy:
            return True
        other_plan = plans.get(other)
        if other_plan is None:
            continue
        timing = timings.get(other) or scheduler.Timing(known_since=now)
        due = scheduler.due(other_plan, timing, now)
        if due is not None and due.at <= now:
            return True
    return False
