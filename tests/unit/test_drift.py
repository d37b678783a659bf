"""No drift: a job's next due time counts from the time its run was scheduled for, not from its
actual start, and a downtime or a run longer than the interval gives one run, not a burst.

Driven on a fake clock (clock.ManualClock) through the real due queue and scheduler: every run
starts late by a few milliseconds, as on a loaded machine, and each run's lateness would add to
the next gap if the schedule counted from the start."""

from __future__ import annotations

from directord import clock, due_queue
from directord.scheduler import Plan, Timing, due

T0 = 1_800_000_000.0


def run_for(
    q: due_queue.DueQueue, c: clock.ManualClock, seconds: float, lateness: float, duration: float
) -> list[tuple[float, float]]:
    """Serve ``q`` on ``c`` for ``seconds``: each wake-up comes ``lateness`` after the due time
    (the timer, the loop, the claim); each run takes ``duration``. The (scheduled, started)
    pairs of the runs."""
    end = c.monotonic() + seconds
    runs: list[tuple[float, float]] = []
    while (entry := q.next_due()) is not None:
        delay = max(0.0, entry[0] - c()) + lateness
        if c.monotonic() + delay >= end:
            break
        c.advance(delay)
        now = c()
        for start in q.choose((), 1, now):
            q.started(start.name, now, start.scheduled_for)
            runs.append((start.scheduled_for, now))
            c.advance(duration)
            q.finished(start.name, now, c(), failures=0, changed=None)
    return runs


def test_a_1s_job_makes_3600_runs_an_hour_though_each_starts_late() -> None:
    c = clock.ManualClock(wall=T0, monotonic=0.0)
    q = due_queue.DueQueue()
    q.set_plans({"a": Plan("a", 1.0)}, c())
    runs = run_for(q, c, 3600, lateness=0.003, duration=0.002)
    assert 3599 <= len(runs) <= 3601
    # Every run is scheduled on the grid of the first one (scheduled for when it started), a
    # whole number of seconds after it.
    first = runs[0][0]
    assert first == runs[0][1]
    assert [round(s - first, 6) for s, _ in runs[:3]] == [0.0, 1.0, 2.0]
    assert [round(s - first, 6) for s, _ in runs[-2:]] == [len(runs) - 2.0, len(runs) - 1.0]
    assert max(started - scheduled for scheduled, started in runs) < 0.004


def test_missed_intervals_give_one_run_on_the_grid_not_a_burst() -> None:
    plan = Plan("a", 10.0)
    ran = Timing(known_since=T0, last_attempt=T0 + 0.2, last_scheduled=T0)
    assert due(plan, ran, T0 + 5).at == T0 + 10  # on time: one interval after the slot
    assert due(plan, ran, T0 + 15).at == T0 + 10  # late by less than one interval: that slot
    # Down for 95 s: nine slots missed; due once, at the latest one (at once, on the grid).
    assert due(plan, ran, T0 + 95).at == T0 + 90


def test_a_run_longer_than_its_interval_runs_again_at_once_once() -> None:
    c = clock.ManualClock(wall=T0, monotonic=0.0)
    q = due_queue.DueQueue()
    q.set_plans({"a": Plan("a", 1.0)}, c())
    runs = run_for(q, c, 20, lateness=0.0, duration=2.5)
    # Each run takes 2.5 slots: the next starts when it ends, scheduled for the latest slot
    # that passed, so the lateness stays under one interval instead of growing.
    assert len(runs) == 8
    assert all(0 <= started - scheduled < 1.0 for scheduled, started in runs)
    assert [round(s - T0, 6) for s, _ in runs[:3]] == [0.0, 2.0, 5.0]


def test_without_the_scheduled_time_the_grid_counts_from_the_start() -> None:
    plan = Plan("a", 10.0)
    # After a restart (the store keeps the start) or news of a run on another node (the
    # scheduled time known here belongs to an older run), the start is all there is.
    assert due(plan, Timing(known_since=T0, last_attempt=T0 + 0.2), T0).at == T0 + 10.2
    news = Timing(known_since=T0, last_attempt=T0 + 10.3, last_scheduled=T0)
    assert due(plan, news, T0 + 11).at == T0 + 20.3
