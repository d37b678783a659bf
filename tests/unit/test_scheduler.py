"""Due-time arithmetic with a fake clock: Director's pending rule, period gating and the computed
wake-up, ordering, retries, DST, and jobs edited while running."""

from __future__ import annotations

from datetime import UTC, datetime

from directord import scheduler, timeperiods
from directord.scheduler import Due, Plan, Timing

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()  # a Monday, noon UTC


def wakeup(
    plans: list[Plan], timings: dict[str, Timing], now: float, running: frozenset[str] = frozenset()
) -> float | None:
    """When the supervisor wakes: the earliest future due time (its heap holds these)."""
    return min(
        (d.at for d in scheduler.all_due(plans, timings, now, running) if d.at > now), default=None
    )


def test_never_run_is_due_at_once() -> None:
    plan = Plan("a", interval=60)
    assert scheduler.due(plan, Timing(known_since=T0), T0) == Due(T0, "a")
    assert scheduler.pending([plan], {}, T0) == [Due(T0, "a")]


def test_due_is_last_attempt_plus_interval() -> None:
    plan = Plan("a", interval=300)
    timing = Timing(known_since=T0 - 1000, last_attempt=T0 - 100, last_finished=T0 - 50)
    assert scheduler.due(plan, timing, T0) == Due(T0 + 200, "a")
    assert scheduler.pending([plan], {"a": timing}, T0) == []
    assert scheduler.pending([plan], {"a": timing}, T0 + 200) == [Due(T0 + 200, "a")]
    # A run longer than its interval: due again as soon as it is over.
    slow = Timing(known_since=T0, last_attempt=T0 - 400, last_finished=T0)
    assert scheduler.pending([plan], {"a": slow}, T0) == [Due(T0 - 100, "a")]


def test_disabled_never_due() -> None:
    plan = Plan("a", interval=60, disabled=True)
    assert scheduler.due(plan, Timing(known_since=T0), T0) is None
    assert wakeup([plan], {}, T0) is None


def test_oldest_due_first_ties_by_name() -> None:
    plans = [Plan("c", 60), Plan("b", 60), Plan("a", 60), Plan("z", 60)]
    timings = {
        "c": Timing(T0, last_attempt=T0 - 100),  # due T0-40
        "b": Timing(T0, last_attempt=T0 - 61),  # due T0-1
        "a": Timing(T0, last_attempt=T0 - 61),  # due T0-1
        "z": Timing(T0, last_attempt=T0 - 10),  # due T0+50
    }
    assert [d.name for d in scheduler.pending(plans, timings, T0)] == ["c", "a", "b"]
    assert wakeup(plans, timings, T0) == T0 + 50
    # A running job is neither pending nor a reason to wake.
    assert [d.name for d in scheduler.pending(plans, timings, T0, running={"c"})] == ["a", "b"]
    assert wakeup(plans, timings, T0, running=frozenset({"z"})) is None


def _nights() -> timeperiods.TimePeriod:
    return timeperiods.TimePeriod("nights", {"monday - sunday": "22:00-06:00"})


def test_outside_the_period_due_at_its_next_start() -> None:
    plan = Plan("backup", interval=3600, period=_nights())
    timing = Timing(known_since=T0)
    d = scheduler.due(plan, timing, T0)
    start = datetime(2026, 11, 23, 22, 0, tzinfo=UTC).timestamp()
    assert d == Due(start, "backup", gated=True)
    assert scheduler.pending([plan], {"backup": timing}, T0) == []
    # The wake-up is computed, not polled: exactly the period's start.
    assert wakeup([plan], {"backup": timing}, T0) == start
    # When it opens, the run is scheduled for the opening (its lateness counts from there).
    assert scheduler.pending([plan], {"backup": timing}, start + 5) == [
        Due(start, "backup", gated=True)
    ]


def test_late_job_does_not_run_outside_its_period() -> None:
    plan = Plan("backup", interval=3600, period=_nights())
    # Last run 23:00 the night before; due 00:00; the daemon was down until 07:00.
    seven = datetime(2026, 11, 24, 7, 0, tzinfo=UTC).timestamp()
    timing = Timing(known_since=T0, last_attempt=seven - 8 * 3600)
    assert scheduler.pending([plan], {"backup": timing}, seven) == []
    d = scheduler.due(plan, timing, seven)
    assert d is not None
    assert d.at == datetime(2026, 11, 24, 22, 0, tzinfo=UTC).timestamp()
    # Inside the period the late job runs at once, once, scheduled for the latest slot of its
    # grid that passed (00:00 and 01:00 were missed: 01:00).
    one = datetime(2026, 11, 24, 1, 0, tzinfo=UTC).timestamp()
    assert scheduler.pending([plan], {"backup": timing}, one) == [Due(one, "backup")]


def test_period_that_never_comes_back() -> None:
    plan = Plan("once", 60, period=timeperiods.TimePeriod("p", {"2020-01-01": "00:00-24:00"}))
    assert scheduler.due(plan, Timing(known_since=T0), T0) is None


def test_retry_after_failure_with_backoff() -> None:
    plan = Plan("a", interval=3600, retry_attempts=2, retry_backoff=30)
    failed_once = Timing(T0, last_attempt=T0 - 10, last_finished=T0 - 5, failures=1)
    assert scheduler.due(plan, failed_once, T0) == Due(T0 + 25, "a", retry=True)
    failed_thrice = Timing(T0, last_attempt=T0 - 10, last_finished=T0 - 5, failures=3)
    assert scheduler.due(plan, failed_thrice, T0) == Due(T0 + 3590, "a")
    no_retry = Plan("a", interval=3600)
    assert scheduler.due(no_retry, failed_once, T0) == Due(T0 + 3590, "a")


def test_retry_respects_the_period() -> None:
    plan = Plan("a", 3600, period=_nights(), retry_attempts=1, retry_backoff=60)
    five_59 = datetime(2026, 11, 24, 5, 59, tzinfo=UTC).timestamp()
    timing = Timing(T0, last_attempt=five_59 - 30, last_finished=five_59, failures=1)
    d = scheduler.due(plan, timing, five_59)
    assert d is not None
    assert d.retry
    assert d.gated
    assert d.at == datetime(2026, 11, 24, 22, 0, tzinfo=UTC).timestamp()


def test_dst_period_start_in_local_time() -> None:
    period = timeperiods.TimePeriod("p", {"sunday": "01:00-05:00"}, timezone="Europe/Berlin")
    plan = Plan("a", 86400 * 7, period=period)
    saturday = datetime(2026, 10, 24, 12, 0, tzinfo=UTC).timestamp()
    d = scheduler.due(plan, Timing(known_since=saturday), saturday)
    assert d is not None
    # Sunday 2026-10-25 01:00 CEST = 2026-10-24 23:00 UTC (fall-back day).
    assert d.at == datetime(2026, 10, 24, 23, 0, tzinfo=UTC).timestamp()


def test_job_edited_while_running() -> None:
    # The supervisor keeps the timing; a new interval applies from the last attempt at once.
    timing = Timing(T0 - 1000, last_attempt=T0 - 100, last_finished=T0 - 90)
    before = Plan("a", interval=600)
    after = Plan("a", interval=60)
    assert scheduler.pending([before], {"a": timing}, T0, running={"a"}) == []
    assert scheduler.pending([after], {"a": timing}, T0) == [Due(T0 - 40, "a")]
    assert wakeup([before], {"a": timing}, T0) == T0 + 500


def test_dependencies_run_first_when_both_are_pending() -> None:
    plans = [Plan("a-sync", 60, after=("z-import",)), Plan("z-import", 60), Plan("b", 60)]
    assert [d.name for d in scheduler.pending(plans, {}, T0)] == ["b", "z-import", "a-sync"]


def test_chain_requests() -> None:
    plans = [
        Plan("sync", 3600, after=("import",)),
        Plan("deploy", 3600, after=("sync",), only_if_changed=True),
    ]
    assert scheduler.chain_requests(plans, "import", True, False) == ["sync"]
    assert scheduler.chain_requests(plans, "import", False, True) == []
    assert scheduler.chain_requests(plans, "sync", True, False) == []
    assert scheduler.chain_requests(plans, "sync", True, True) == ["deploy"]
    # A request makes the follower due at once, still inside its own period.
    timing = Timing(T0 - 10, last_attempt=T0 - 10, requested_at=T0)
    assert scheduler.due(plans[0], timing, T0) == Due(T0, "sync", chained=True)
    gated = Plan("sync", 3600, period=_nights(), after=("import",))
    d = scheduler.due(gated, timing, T0)
    assert d is not None
    assert d.gated
    assert d.chained
    assert d.at == datetime(2026, 11, 23, 22, 0, tzinfo=UTC).timestamp()
