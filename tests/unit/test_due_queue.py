"""The due queue on a fake clock, no sleeps: stale heap entries, the concurrency limit, manual
triggers, ``after`` gating, chain requests, and a reload that removes a job."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from directord import calendar, clock, due_queue
from directord.scheduler import Plan

T0 = 1_800_000_000.0


def queue(*plans: Plan, now: float = T0) -> due_queue.DueQueue:
    q = due_queue.DueQueue()
    q.set_plans({p.name: p for p in plans}, now)
    return q


def names(starts: list[due_queue.Start]) -> list[str]:
    return [s.name for s in starts]


def test_new_jobs_are_due_at_once_oldest_first_under_the_limit() -> None:
    q = queue(Plan("b", 60), Plan("a", 60), Plan("c", 60))
    assert q.next_due() == (T0, "a")
    first = q.choose(running=(), capacity=2, now=T0)
    assert names(first) == ["a", "b"]
    assert all(s.due is not None and s.scheduled_for == T0 for s in first)
    # "c" waits for a slot; the chosen ones left the queue until their runs finish.
    assert q.next_due() == (T0, "c")
    assert names(q.choose(running={"a", "b"}, capacity=0, now=T0)) == []
    assert names(q.choose(running={"a", "b"}, capacity=1, now=T0 + 1)) == ["c"]


def test_new_jobs_queued_behind_each_other_keep_their_spacing() -> None:
    # Three new jobs, one at a time, each run 0.3 s: their first runs are scheduled for when
    # they start, so their grids keep that spacing and no run queues behind another again.
    q = queue(Plan("a", 10), Plan("b", 10), Plan("c", 20))
    late = []
    now = T0
    while now < T0 + 40:
        starts = q.choose((), 1, now)
        if not starts:
            nxt = q.next_due()
            assert nxt is not None
            now = max(now, nxt[0])
            continue
        [start] = starts
        late.append(round(now - start.scheduled_for, 3))
        q.started(start.name, now, start.scheduled_for)
        q.finished(start.name, now, now + 0.3, failures=0, changed=None)
        now += 0.3  # serial: the next run starts when this one ended at the earliest
    assert len(late) == 4 + 4 + 2
    assert max(late) < 0.001, late


def test_a_first_run_of_a_calendar_job_keeps_its_start_instant() -> None:
    daily = calendar.daily(calendar.parse_at(["02:00"]), ZoneInfo("UTC"), None)
    q = queue(Plan("nightly", 0.0, schedule=daily), Plan("new", 60), now=T0)
    opens = daily.next_after(T0)
    assert opens is not None
    [new] = q.choose((), 1, T0 + 5)
    assert (new.name, new.scheduled_for) == ("new", T0 + 5)  # a first run: when it starts
    assert new.due_at == T0  # its lateness counts from when it became due
    [nightly] = q.choose((), 1, opens + 2)  # the runner got to it 2 s late
    assert (nightly.name, nightly.scheduled_for, nightly.due_at) == ("nightly", opens, opens)


def test_rescheduling_leaves_stale_entries_that_are_skipped() -> None:
    q = queue(Plan("a", 60))
    q.started("a", T0, T0)
    for _ in range(5):  # every reschedule bumps the generation; older entries are stale
        q.reschedule("a", T0)
    assert q.next_due() == (T0 + 60, "a")
    assert q.choose((), 1, T0 + 59) == []
    assert names(q.choose((), 1, T0 + 60)) == ["a"]
    assert q.next_due() is None


def test_a_finished_run_reschedules_by_interval_and_retries_after_backoff() -> None:
    q = queue(Plan("a", 300, retry_attempts=1, retry_backoff=10))
    [_start] = q.choose((), 1, T0)
    q.started("a", T0, T0)
    assert q.finished("a", T0, T0 + 2, failures=1, changed=None) == []
    assert q.next_due() == (T0 + 12, "a")  # the retry, before the interval
    [retry] = q.choose((), 1, T0 + 12)
    assert retry.due is not None
    assert retry.due.retry
    q.started("a", T0 + 12, T0 + 12)
    q.finished("a", T0 + 12, T0 + 13, failures=2, changed=None)  # no attempts left
    assert q.next_due() == (T0 + 312, "a")


def test_manual_trigger_runs_once_after_a_running_run_and_ignores_the_period() -> None:
    q = queue(Plan("a", 3600, disabled=True))
    assert q.next_due() is None
    q.trigger("a")
    q.trigger("a")  # already queued
    assert q.choose(running={"a"}, capacity=1, now=T0) == []  # never overlaps itself
    [start] = q.choose(running=(), capacity=1, now=T0 + 5)
    assert (start.name, start.scheduled_for, start.due) == ("a", T0 + 5, None)
    assert q.choose((), 1, T0 + 6) == []


def test_a_job_waits_for_the_job_it_follows() -> None:
    q = queue(Plan("first", 60), Plan("second", 60, after=("first",)))
    # Both due: only "first" starts, even with room for two.
    assert names(q.choose((), 2, T0)) == ["first"]
    assert names(q.choose({"first"}, 1, T0 + 1)) == []  # "first" still runs
    q.started("first", T0, T0)
    q.finished("first", T0, T0 + 1, failures=0, changed=True)
    assert names(q.choose((), 2, T0 + 1)) == ["second"]  # due since it became known
    q.started("second", T0 + 1, T0 + 1)
    q.finished("second", T0 + 1, T0 + 2, failures=0, changed=True)
    assert q.choose((), 2, T0 + 3) == []
    # "first" runs again (manually): its success requests "second" at once, as a chain.
    q.started("first", T0 + 10, T0 + 10)
    assert q.finished("first", T0 + 10, T0 + 11, failures=0, changed=True) == ["second"]
    [second] = q.choose((), 2, T0 + 11)
    assert second.name == "second"
    assert second.due is not None
    assert second.due.chained


def test_only_if_changed_and_failures_do_not_chain() -> None:
    q = queue(Plan("a", 60), Plan("b", 60, after=("a",), only_if_changed=True))
    assert q.finished("a", T0, T0 + 1, failures=0, changed=False) == []
    assert q.finished("a", T0, T0 + 1, failures=1, changed=True) == []
    assert q.finished("a", T0, T0 + 1, failures=0, changed=True) == ["b"]


def test_a_reload_drops_removed_jobs_and_knows_new_ones_from_then() -> None:
    q = queue(Plan("a", 60), Plan("gone", 60))
    q.set_plans({"a": Plan("a", 60), "new": Plan("new", 60)}, T0 + 30)
    assert "gone" not in q.plans
    assert names(q.choose((), 5, T0 + 30)) == ["a", "new"]
    assert q.timings["new"].known_since == T0 + 30


def test_manual_clock_fires_timers_at_their_instant_and_steps_the_wall_alone() -> None:
    c = clock.ManualClock(wall=T0, monotonic=10.0)
    fired: list[tuple[float, float]] = []
    c.call_later(5, lambda: fired.append((c(), c.monotonic())))
    cancelled = c.call_later(1, lambda: fired.append((-1, -1)))
    cancelled.cancel()
    c.advance(10)
    assert fired == [(T0 + 5, 15.0)]
    assert (c(), c.monotonic()) == (T0 + 10, 20.0)
    c.step_wall(-7200)
    assert (c(), c.monotonic()) == (T0 + 10 - 7200, 20.0)
    assert c.pending() == []
