"""scheduler.due() for calendar jobs, with a fake clock: never-ran jobs wait, starts are due at
their time, time periods still gate, catch-up after a three-day gap, retries and chains."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from directord import calendar, scheduler, timeperiods
from directord.scheduler import Due, Plan, Timing

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def ts(tz: ZoneInfo, *parts: int) -> float:
    return datetime(*parts, tzinfo=tz).timestamp()  # type: ignore[misc]


NIGHT = ts(UTC, 2027, 1, 11, 2)  # Monday 02:00 UTC


def at(*times: str, tz: ZoneInfo = UTC, every: float | None = None) -> calendar.Schedule:
    return calendar.daily(calendar.parse_at(list(times)), tz, every)


def plan(schedule: calendar.Schedule, **kw: object) -> Plan:
    return Plan("job", 0.0, schedule=schedule, catch_up=3600.0, **kw)  # type: ignore[arg-type]


def test_a_calendar_job_that_never_ran_waits_but_an_interval_job_starts_at_once() -> None:
    now = NIGHT - 600
    assert scheduler.due(plan(at("02:00")), Timing(known_since=now), now) == Due(NIGHT, "job")
    assert scheduler.due(Plan("job", 3600), Timing(known_since=now), now) == Due(now, "job")


def test_due_at_each_time_then_the_next() -> None:
    p = plan(at("02:00", "14:00"))
    timing = Timing(known_since=NIGHT - 86400, last_attempt=NIGHT - 43200 + 0.1)
    assert scheduler.due(p, timing, NIGHT - 1) == Due(NIGHT, "job")
    assert scheduler.pending([p], {"job": timing}, NIGHT) == [Due(NIGHT, "job")]
    ran = Timing(known_since=NIGHT - 86400, last_attempt=NIGHT + 0.2, last_finished=NIGHT + 5)
    assert scheduler.due(p, ran, NIGHT + 5) == Due(NIGHT + 12 * 3600, "job")


def test_cron_job_in_its_zone() -> None:
    p = plan(calendar.parse_cron("0 2 * * *", BERLIN))
    now = ts(UTC, 2027, 1, 10, 12)
    assert scheduler.due(p, Timing(known_since=now), now) == Due(ts(BERLIN, 2027, 1, 11, 2), "job")


def test_anchored_interval_is_not_counted_from_the_last_start() -> None:
    p = plan(at("00:05", every=900))
    start = ts(UTC, 2027, 1, 11, 10, 5) + 40  # started 40 s late
    timing = Timing(known_since=start - 3600, last_attempt=start, last_finished=start + 60)
    assert scheduler.due(p, timing, start + 60) == Due(ts(UTC, 2027, 1, 11, 10, 20), "job")


def test_a_time_period_still_gates_a_calendar_start() -> None:
    weekdays = timeperiods.TimePeriod(
        "early", {"monday - friday": "03:00-05:00"}, timezone="Europe/Berlin"
    )
    p = plan(at("02:00", tz=BERLIN), period=weekdays)
    sunday = ts(BERLIN, 2027, 1, 10, 12)
    # Monday 02:00 is outside the period: moved to its start at 03:00.
    d = scheduler.due(p, Timing(known_since=sunday, last_attempt=sunday - 86400), sunday)
    assert d == Due(ts(BERLIN, 2027, 1, 11, 3), "job", gated=True)
    inside = plan(at("04:00", tz=BERLIN), period=weekdays)
    d = scheduler.due(inside, Timing(known_since=sunday, last_attempt=sunday - 86400), sunday)
    assert d == Due(ts(BERLIN, 2027, 1, 11, 4), "job")
    # Seen late, after the period opened: scheduled for the moment it opened.
    late = ts(BERLIN, 2027, 1, 11, 3, 30)
    d = scheduler.due(p, Timing(known_since=sunday, last_attempt=sunday - 86400), late)
    assert d == Due(ts(BERLIN, 2027, 1, 11, 3), "job", gated=True)


def test_catch_up_after_a_three_day_gap_is_one_run_marked_catch_up() -> None:
    p = plan(at("02:00"))
    back = NIGHT + 1200
    timing = Timing(known_since=back, last_attempt=NIGHT - 3 * 86400 + 0.1)
    d = scheduler.due(p, timing, back)
    assert d == Due(NIGHT, "job", catch_up=True)
    assert scheduler.pending([p], {"job": timing}, back) == [d]
    after = Timing(known_since=back, last_attempt=back + 0.1, last_finished=back + 2)
    assert scheduler.due(p, after, back + 2) == Due(NIGHT + 86400, "job")


def test_no_catch_up_beyond_the_window_or_for_zero() -> None:
    timing = Timing(known_since=NIGHT + 7200, last_attempt=NIGHT - 3 * 86400 + 0.1)
    assert scheduler.due(plan(at("02:00")), timing, NIGHT + 7200) == Due(NIGHT + 86400, "job")
    never = Plan("job", 0.0, schedule=at("02:00"), catch_up=0.0)
    early = Timing(known_since=NIGHT + 1, last_attempt=NIGHT - 86400)
    assert scheduler.due(never, early, NIGHT + 1) == Due(NIGHT + 86400, "job")


def test_catch_up_inside_a_closed_period_moves_to_its_start() -> None:
    period = timeperiods.TimePeriod("later", {"monday": "03:00-04:00"})
    p = plan(at("02:00"), period=period)
    back = NIGHT + 1200
    timing = Timing(known_since=back, last_attempt=NIGHT - 3 * 86400 + 0.1)
    assert scheduler.due(p, timing, back) == Due(NIGHT + 3600, "job", gated=True, catch_up=True)


def test_retry_and_chain_still_apply() -> None:
    p = plan(at("02:00"), retry_attempts=2, retry_backoff=60)
    failed = Timing(
        known_since=NIGHT - 10, last_attempt=NIGHT + 0.1, last_finished=NIGHT + 5, failures=1
    )
    assert scheduler.due(p, failed, NIGHT + 5) == Due(NIGHT + 65, "job", retry=True)
    requested = Timing(known_since=NIGHT - 10, last_attempt=NIGHT - 5, requested_at=NIGHT - 3600)
    assert scheduler.due(plan(at("02:00")), requested, NIGHT - 3600) == Due(
        NIGHT - 3600, "job", chained=True
    )


def test_disabled_calendar_job_is_never_due() -> None:
    assert scheduler.due(plan(at("02:00"), disabled=True), Timing(NIGHT), NIGHT) is None
