"""``jobs next`` arithmetic with a fake clock: every job's next starts in time order, through
the scheduler's own rule (periods, calendar schedules, catch-up)."""

from __future__ import annotations

from datetime import UTC, datetime

from directord import calendar, preview, timeperiods
from directord.scheduler import Plan, Timing

NOW = datetime(2027, 1, 11, 1, 0, tzinfo=UTC).timestamp()  # Monday 01:00 UTC
H = 3600.0


def test_starts_of_every_job_in_time_order() -> None:
    nightly = Plan(
        "nightly", 0.0, schedule=calendar.daily(calendar.parse_at("02:00"), calendar.zone("UTC"))
    )
    plain = Plan("plain", 6 * H)
    got = preview.upcoming([nightly, plain], {}, NOW, 3)
    assert [(s.job, s.at - NOW) for s in got] == [
        ("plain", 0.0),  # never ran: at once
        ("nightly", 1 * H),
        ("plain", 6 * H),
        ("plain", 12 * H),
        ("nightly", 25 * H),
        ("nightly", 49 * H),
    ]


def test_period_gating_and_catch_up_show() -> None:
    utc = calendar.zone("UTC")
    period = timeperiods.TimePeriod("p", {"monday - sunday": "03:00-04:00"})
    gated = Plan("gated", 0.0, period=period, schedule=calendar.parse_cron("0 2 * * *", utc))
    got = preview.upcoming([gated], {}, NOW, 2)  # 02:00 moves to the period's 03:00
    assert [(s.at - NOW, s.gated) for s in got] == [(2 * H, True), (26 * H, True)]
    missed = Plan("missed", 0.0, catch_up=H, schedule=calendar.parse_cron("30 0 * * *", utc))
    timing = Timing(known_since=NOW, last_attempt=NOW - 3 * 86400)
    got = preview.upcoming([missed], {"missed": timing}, NOW, 2)
    assert [(s.at - NOW, s.catch_up) for s in got] == [(-0.5 * H, True), (23.5 * H, False)]


def test_disabled_jobs_have_no_starts() -> None:
    assert preview.upcoming([Plan("off", 60, disabled=True)], {}, NOW, 3) == []
