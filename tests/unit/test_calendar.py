"""Calendar schedules with a fake clock: every form, DST days in Europe/Berlin and
America/New_York, catch-up after downtime, bad input; properties of next/latest."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from directord import calendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
# 2027 DST days: Berlin springs forward 02:00 -> 03:00 on March 28 and falls back 03:00 -> 02:00
# on October 31; New York springs forward 02:00 -> 03:00 on March 14, falls back 02:00 -> 01:00
# on November 7.
SPRING = {"Europe/Berlin": (2027, 3, 28), "America/New_York": (2027, 3, 14)}
FALL = {"Europe/Berlin": (2027, 10, 31), "America/New_York": (2027, 11, 7)}
# A wall time inside each zone's repeated hour on its fall-back day.
REPEATED = {"Europe/Berlin": 2, "America/New_York": 1}
ZONES = [BERLIN, NEW_YORK]


def ts(tz: ZoneInfo, *parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=tz, fold=fold).timestamp()  # type: ignore[misc]


def tomorrow(tz: ZoneInfo, day: tuple[int, int, int], hour: int, minute: int) -> float:
    nxt = date(*day) + timedelta(days=1)
    return datetime.combine(nxt, time(hour, minute), tzinfo=tz).timestamp()


def local(tz: ZoneInfo, value: float | None) -> str:
    assert value is not None
    return datetime.fromtimestamp(value, tz).isoformat()


def starts(schedule: calendar.Schedule, after: float, count: int) -> list[str]:
    return [local(schedule.tz, x) for x in schedule.starts(after, count)]


# -- forms ---------------------------------------------------------------------------------------


def test_at_daily_at_each_time() -> None:
    sched = calendar.daily(calendar.parse_at(["18:00", "06:00"]), UTC)
    assert starts(sched, ts(UTC, 2027, 1, 4, 7), 3) == [
        "2027-01-04T18:00:00+00:00",
        "2027-01-05T06:00:00+00:00",
        "2027-01-05T18:00:00+00:00",
    ]


def test_at_with_seconds_and_strictly_after() -> None:
    sched = calendar.daily(calendar.parse_at("02:00:30"), UTC)
    at = ts(UTC, 2027, 1, 4, 2, 0, 30)
    assert sched.next_after(at - 0.001) == at
    assert sched.next_after(at) == at + 86400  # strictly after
    assert sched.latest(at) == at  # at or before
    assert sched.latest(at - 0.001) == at - 86400


def test_interval_with_at_is_anchored() -> None:
    sched = calendar.daily(calendar.parse_at("00:05"), UTC, every=900)
    assert starts(sched, ts(UTC, 2027, 1, 4, 9, 51), 5) == [
        "2027-01-04T10:05:00+00:00",
        "2027-01-04T10:20:00+00:00",
        "2027-01-04T10:35:00+00:00",
        "2027-01-04T10:50:00+00:00",
        "2027-01-04T11:05:00+00:00",
    ]
    assert len(sched.times) == 96


def test_interval_with_at_that_does_not_divide_a_day_restarts_at_the_anchor() -> None:
    sched = calendar.daily(calendar.parse_at("02:00"), UTC, every=7 * 3600)
    assert [t.isoformat() for t in sched.times] == ["02:00:00", "09:00:00", "16:00:00", "23:00:00"]


def test_interval_with_at_longer_than_a_day_is_an_error() -> None:
    with pytest.raises(calendar.CalendarError, match="at most 1d"):
        calendar.daily(calendar.parse_at("02:00"), UTC, every=2 * 86400)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("30 2 * * 1-5", ["2027-01-04T02:30:00+00:00", "2027-01-05T02:30:00+00:00"]),
        ("@daily", ["2027-01-04T00:00:00+00:00", "2027-01-05T00:00:00+00:00"]),
        ("@hourly", ["2027-01-03T23:00:00+00:00", "2027-01-04T00:00:00+00:00"]),
        ("*/20 * * * * *", ["2027-01-03T22:10:20+00:00", "2027-01-03T22:10:40+00:00"]),
        ("0 0 1 1 *", ["2028-01-01T00:00:00+00:00", "2029-01-01T00:00:00+00:00"]),
    ],
)
def test_cron_forms(expr: str, expected: list[str]) -> None:
    sched = calendar.parse_cron(expr, UTC)
    assert starts(sched, ts(UTC, 2027, 1, 3, 22, 10, 5), 2) == expected


def test_cron_in_the_jobs_zone() -> None:
    sched = calendar.parse_cron("0 2 * * *", NEW_YORK)
    assert local(UTC, sched.next_after(ts(UTC, 2027, 1, 4, 0))) == "2027-01-04T07:00:00+00:00"


def test_cron_leap_day_and_last_day() -> None:
    leap = calendar.parse_cron("0 0 29 2 *", UTC)
    assert leap.next_after(ts(UTC, 2027, 1, 1)) == ts(UTC, 2028, 2, 29)
    assert leap.latest(ts(UTC, 2027, 1, 1)) == ts(UTC, 2024, 2, 29)
    last = calendar.parse_cron("0 12 L * *", UTC)
    assert last.next_after(ts(UTC, 2027, 2, 1)) == ts(UTC, 2027, 2, 28, 12)


# -- DST -----------------------------------------------------------------------------------------


def _forms(tz: ZoneInfo, hour: int) -> list[calendar.Schedule]:
    """The same wall time as ``at``, ``at`` with seconds, 5-field and 6-field cron."""
    return [
        calendar.daily(calendar.parse_at(f"{hour:02}:30"), tz),
        calendar.daily(calendar.parse_at(f"{hour:02}:30:00"), tz),
        calendar.parse_cron(f"30 {hour} * * *", tz),
        calendar.parse_cron(f"0 30 {hour} * * *", tz),
    ]


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_spring_forward_a_missing_time_runs_once_right_after_the_gap(tz: ZoneInfo) -> None:
    y, m, d = SPRING[tz.key]
    for sched in _forms(tz, 2):
        assert starts(sched, ts(tz, y, m, d - 1, 12), 3) == [
            datetime(y, m, d, 3, 0, tzinfo=tz).isoformat(),  # 02:30 does not exist: 03:00
            datetime(y, m, d + 1, 2, 30, tzinfo=tz).isoformat(),
            datetime(y, m, d + 2, 2, 30, tzinfo=tz).isoformat(),
        ], sched
        # Seen from inside the day, after the gap: that start is the latest, not the next.
        assert sched.latest(ts(tz, y, m, d, 3, 10)) == ts(tz, y, m, d, 3, 0)
        assert sched.next_after(ts(tz, y, m, d, 3, 0)) == ts(tz, y, m, d + 1, 2, 30)


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_fall_back_a_repeated_time_runs_once_at_its_first_occurrence(tz: ZoneInfo) -> None:
    y, m, d = FALL[tz.key]
    hour = REPEATED[tz.key]
    first, second = ts(tz, y, m, d, hour, 30, fold=0), ts(tz, y, m, d, hour, 30, fold=1)
    assert second - first == 3600
    for sched in _forms(tz, hour):
        assert sched.starts(ts(tz, y, m, d - 1, 12), 2) == [
            first,
            tomorrow(tz, FALL[tz.key], hour, 30),
        ], sched
        # During the second pass of the hour the first occurrence is the latest start, and the
        # next is tomorrow's: no second run.
        assert sched.latest(ts(tz, y, m, d, hour, 10, fold=1)) == first
        assert sched.next_after(ts(tz, y, m, d, hour, 10, fold=1)) == tomorrow(
            tz, FALL[tz.key], hour, 30
        )
        assert sched.next_after(second - 1) == tomorrow(tz, FALL[tz.key], hour, 30)


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_anchored_interval_across_the_gap_starts_once_after_it(tz: ZoneInfo) -> None:
    y, m, d = SPRING[tz.key]
    sched = calendar.daily(calendar.parse_at("00:05"), tz, every=900)
    assert starts(sched, ts(tz, y, m, d, 1, 40), 3) == [
        datetime(y, m, d, 1, 50, tzinfo=tz).isoformat(),
        datetime(y, m, d, 3, 0, tzinfo=tz).isoformat(),  # 02:05 ... 02:50 collapse into one
        datetime(y, m, d, 3, 5, tzinfo=tz).isoformat(),
    ]


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_periodic_cron_runs_in_elapsed_time_through_the_repeated_hour(tz: ZoneInfo) -> None:
    y, m, d = FALL[tz.key]
    hour = REPEATED[tz.key]
    sched = calendar.parse_cron("*/30 * * * *", tz)
    got = sched.starts(ts(tz, y, m, d, hour - 1, 50), 5)
    assert [b - a for a, b in itertools.pairwise(got)] == [1800.0] * 4
    assert ts(tz, y, m, d, hour, 30, fold=1) in got


def test_instant_maps_a_gap_to_its_end_and_a_fold_to_its_first_occurrence() -> None:
    assert calendar.in_gap(datetime(2027, 3, 28, 2, 30), BERLIN)
    assert not calendar.in_gap(datetime(2027, 3, 28, 3, 0), BERLIN)
    assert calendar.instant(datetime(2027, 3, 28, 2, 30), BERLIN) == ts(BERLIN, 2027, 3, 28, 3)
    assert calendar.instant(datetime(2027, 10, 31, 2, 30), BERLIN) == ts(
        BERLIN, 2027, 10, 31, 2, 30, fold=0
    )
    # A 30-minute DST shift (Lord Howe Island) works the same way.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    gap = datetime(2027, 10, 3, 2, 10)
    assert calendar.in_gap(gap, lord_howe)
    assert local(lord_howe, calendar.instant(gap, lord_howe)) == "2027-10-03T02:30:00+11:00"


# -- next start and catch-up ---------------------------------------------------------------------

DAILY_2 = calendar.daily(calendar.parse_at("02:00"), UTC)
NIGHT = ts(UTC, 2027, 1, 10, 2)  # 02:00 on a day


def test_a_job_that_never_ran_waits_for_its_first_time() -> None:
    got = calendar.next_start(
        DAILY_2, last_attempt=None, known_since=NIGHT - 60, now=NIGHT - 60, catch_up=3600
    )
    assert got == calendar.Next(NIGHT)
    # Even just after a time it never ran at: the daemon was not there for it.
    got = calendar.next_start(
        DAILY_2, last_attempt=None, known_since=NIGHT + 60, now=NIGHT + 60, catch_up=3600
    )
    assert got == calendar.Next(NIGHT + 86400)


def test_due_at_its_time_while_the_daemon_is_up() -> None:
    last = NIGHT - 86400 + 0.2
    kw = {"last_attempt": last, "known_since": NIGHT - 7 * 86400, "catch_up": 3600.0}
    assert calendar.next_start(DAILY_2, now=NIGHT - 1, **kw) == calendar.Next(NIGHT)
    # Late (a long job ahead of it in the queue): still due at its time, not a catch-up.
    assert calendar.next_start(DAILY_2, now=NIGHT + 5000, **kw) == calendar.Next(NIGHT)
    # After it ran: tomorrow.
    ran = {**kw, "last_attempt": NIGHT + 0.3}
    assert calendar.next_start(DAILY_2, now=NIGHT + 1, **ran) == calendar.Next(NIGHT + 86400)


def test_several_times_missed_while_up_run_once_at_the_latest() -> None:
    sched = calendar.daily(calendar.parse_at("00:00"), UTC, every=900)
    start = ts(UTC, 2027, 1, 10, 10, 0)
    got = calendar.next_start(
        sched, last_attempt=start, known_since=start - 10, now=start + 3000, catch_up=900
    )
    assert got == calendar.Next(start + 2700)  # 10:45: not 10:15, 10:30 and 10:45


def test_catch_up_after_a_three_day_gap_runs_once_at_the_latest_missed_time() -> None:
    last = NIGHT - 3 * 86400 + 0.1  # it last ran three nights ago
    back = NIGHT + 1800  # the daemon comes back half an hour after tonight's time
    got = calendar.next_start(DAILY_2, last_attempt=last, known_since=back, now=back, catch_up=3600)
    assert got == calendar.Next(NIGHT, catch_up=True)
    # After that one run the next start is tomorrow's: the other missed nights never run.
    after = calendar.next_start(
        DAILY_2, last_attempt=back + 0.1, known_since=back, now=back + 5, catch_up=3600
    )
    assert after == calendar.Next(NIGHT + 86400)


def test_no_catch_up_outside_the_window_or_with_zero() -> None:
    last = NIGHT - 3 * 86400 + 0.1
    back = NIGHT + 2 * 3600  # two hours late: outside a one-hour window
    for window in (3600.0, 0.0):
        got = calendar.next_start(
            DAILY_2, last_attempt=last, known_since=back, now=back, catch_up=window
        )
        assert got == calendar.Next(NIGHT + 86400)
    # catch_up 0 means never, even a second after the time.
    got = calendar.next_start(
        DAILY_2, last_attempt=last, known_since=NIGHT + 1, now=NIGHT + 1, catch_up=0
    )
    assert got == calendar.Next(NIGHT + 86400)


def test_catch_up_window_is_measured_from_when_the_daemon_came_back() -> None:
    last = NIGHT - 86400 + 0.1
    back = NIGHT + 1800
    # Still the catch-up while it waits in the queue behind other jobs.
    got = calendar.next_start(
        DAILY_2, last_attempt=last, known_since=back, now=back + 7200, catch_up=3600
    )
    assert got == calendar.Next(NIGHT, catch_up=True)


def test_default_catch_up() -> None:
    assert calendar.default_catch_up(900.0) == 900.0
    assert calendar.default_catch_up(None) == 3600.0


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("61 2 * * *", "'61 2 * * *': bad minute field '61' (expected 0-59) at 0"),
        ("0  25 * * *", "bad hour field '25' (expected 0-23) at 3"),
        ("0 2 * * MON-XYZ", "bad day-of-week field 'MON-XYZ'"),
        ("0 2 * *", "4 fields; expected 5"),
        ("1 2 3 4 5 6 7", "7 fields; expected 5 (minute hour day-of-month month day-of-week) or 6"),
        ("@dayly", "unknown macro"),
        ("0 0 31 2 *", "bad day-of-month field '31'"),
    ],
)
def test_bad_cron_names_field_and_position(text: str, message: str) -> None:
    with pytest.raises(calendar.CalendarError) as info:
        calendar.parse_cron(text, UTC)
    assert message in str(info.value)
    assert info.value.position is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("24:00", "'24:00': hour must be 00-23 at 0"),
        ("02:61", "'02:61': minute must be 00-59 at 3"),
        ("02:00:60", "second must be 00-59 at 6"),
        ("2 am", "expected HH:MM or HH:MM:SS"),
        ([], "at least one time"),
    ],
)
def test_bad_at(value: str | list[str], message: str) -> None:
    with pytest.raises(calendar.CalendarError, match=message):
        calendar.parse_at(value)


def test_parse_at_sorts_and_dedupes() -> None:
    assert calendar.parse_at(["18:00", "06:00", "6:00"]) == (time(6), time(18))


def test_unknown_zone() -> None:
    with pytest.raises(calendar.CalendarError, match="unknown time zone"):
        calendar.zone("Europe/Atlantis")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789*/-,LW#@ MONTUEJA", max_size=24))
def test_any_cron_text_parses_or_names_its_problem(text: str) -> None:
    try:
        calendar.parse_cron(text, BERLIN)
    except calendar.CalendarError as exc:
        assert exc.problem  # noqa: PT017 (any input: most fail, the rest parse)


# -- properties ----------------------------------------------------------------------------------

SCHEDULES = st.one_of(
    st.lists(st.times().map(lambda t: t.replace(microsecond=0)), min_size=1, max_size=4).map(
        lambda ts_: ("at", [t.isoformat() for t in ts_], None)
    ),
    st.tuples(
        st.times().map(lambda t: t.replace(microsecond=0)),
        st.sampled_from([600, 900, 3600, 7 * 3600, 5400]),
    ).map(lambda p: ("at", [p[0].isoformat()], float(p[1]))),
    st.sampled_from(
        [
            "30 2 * * *",
            "0 30 2 * * *",
            "*/15 * * * *",
            "5 1-3 * * *",
            "0 0 * * *",
            "59 23 L * *",
            "15 2 * * 0",
            "*/7 * * * * *",
            "0 */2 * * *",
        ]
    ).map(lambda e: ("cron", e, None)),
)
# Instants around the DST days of both zones, and anywhere in a few years.
INSTANTS = st.one_of(
    st.sampled_from([*SPRING.items(), *FALL.items()]).flatmap(
        lambda item: st.floats(-2 * 86400, 2 * 86400).map(
            lambda off: ts(ZoneInfo(item[0]), *item[1]) + off
        )
    ),
    st.floats(ts(UTC, 2026, 1, 1), ts(UTC, 2030, 1, 1)),
)


def _build(spec: tuple[str, object, float | None], tz: ZoneInfo) -> calendar.Schedule:
    kind, value, every = spec
    if kind == "cron":
        assert isinstance(value, str)
        return calendar.parse_cron(value, tz)
    assert isinstance(value, list)
    return calendar.daily(calendar.parse_at(value), tz, every)


@settings(max_examples=150, deadline=None)
@given(SCHEDULES, st.sampled_from(ZONES), INSTANTS)
def test_next_start_is_strictly_after_now_and_never_in_a_gap(
    spec: tuple[str, object, float | None], tz: ZoneInfo, now: float
) -> None:
    sched = _build(spec, tz)
    nxt = sched.next_after(now)
    assert nxt is not None
    assert nxt > now
    wall = datetime.fromtimestamp(nxt, tz).replace(tzinfo=None)
    assert not calendar.in_gap(wall, tz)
    # Nothing is skipped: the latest start before the next one is at or before now. (Fresh
    # schedules, so each answer is searched from its own instant, not taken from a cached one.)
    before = _build(spec, tz).latest(nxt - 0.001)
    assert before is None or before <= now
    latest = sched.latest(now)
    assert latest is not None
    assert latest <= now
    assert _build(spec, tz).next_after(latest) == nxt  # no start between
    assert not calendar.in_gap(datetime.fromtimestamp(latest, tz).replace(tzinfo=None), tz)


@settings(max_examples=60, deadline=None)
@given(SCHEDULES, st.sampled_from(ZONES), INSTANTS, st.floats(0, 4 * 86400))
# Found by hypothesis: back at 01:45 exactly, a */15 start; it is the regular start, not a catch-up.
@example(("cron", "*/15 * * * *", None), ZoneInfo("Europe/Berlin"), 1767225600.0, 2700.0)
def test_catch_up_is_at_most_one_start_and_never_before_the_last_attempt(
    spec: tuple[str, object, float | None], tz: ZoneInfo, last: float, down: float
) -> None:
    sched = _build(spec, tz)
    back = last + down
    got = calendar.next_start(sched, last_attempt=last, known_since=back, now=back, catch_up=3600)
    assert got is not None
    if got.catch_up:
        assert last < got.at <= back
        assert back - got.at <= 3600
        assert sched.next_after(got.at) is not None
        assert (sched.next_after(got.at) or 0) > back  # the latest missed one, only
    elif got.at == back:
        assert sched.latest(back) == back  # a start at the very instant it is back: due now
    else:
        assert got.at > back


def test_repeated_questions_about_one_interval_agree_with_fresh_answers() -> None:
    sched = calendar.parse_cron("30 2 * * *", BERLIN)
    now = ts(BERLIN, 2027, 3, 27, 12)
    for t in (now, now + 1, now + 3600, ts(BERLIN, 2027, 3, 28, 3) - 0.5):
        assert sched.next_after(t) == ts(BERLIN, 2027, 3, 28, 3)
        assert sched.latest(t) == ts(BERLIN, 2027, 3, 27, 2, 30)
    edge = ts(BERLIN, 2027, 3, 28, 3)
    assert sched.latest(edge) == edge
    assert sched.next_after(edge) == calendar.parse_cron("30 2 * * *", BERLIN).next_after(edge)


def test_starts_count() -> None:
    got = DAILY_2.starts(NIGHT, 5)
    assert [b - a for a, b in itertools.pairwise(got)] == [86400.0] * 4
    assert got[0] == NIGHT + 86400
    assert timedelta(seconds=got[-1] - NIGHT).days == 5


def test_fractions_of_a_second_never_hide_a_start() -> None:
    # fromtimestamp rounds 399.9999998 up to 400.0; the search must still find 400 after it.
    sched = calendar.parse_cron("*/7 * * * * *", BERLIN)
    start = ts(UTC, 2027, 3, 28, 0, 0, 0)
    assert sched.next_after(start - 2e-7) == start
    # And a fraction inside the repeated hour keeps its fold: the first 02:30 is behind it.
    daily = calendar.daily(calendar.parse_at("02:30"), BERLIN)
    second_pass = ts(BERLIN, 2027, 10, 31, 2, 10, fold=1) + 0.25
    assert daily.latest(second_pass) == ts(BERLIN, 2027, 10, 31, 2, 30, fold=0)
