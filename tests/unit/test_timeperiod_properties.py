"""Property tests: segments() agrees with is_active(), next_change() is the first flip, includes and
excludes behave, and no input string makes the parser raise anything but TimePeriodError."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from directord import timeperiods
from directord.timeperiods import days
from directord.timeperiods.grammar import MONTHS, WEEKDAYS

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]
LO = datetime(2024, 1, 1, tzinfo=ZoneInfo("UTC")).timestamp()
HI = datetime(2029, 1, 1, tzinfo=ZoneInfo("UTC")).timestamp()

weekday = st.sampled_from(WEEKDAYS)
month = st.sampled_from(MONTHS)
nth = st.sampled_from([1, 2, 3, 4, 5, -1, -2, -5])
day_n = st.integers(1, 28) | st.integers(-28, -1)
dates = st.dates(date(2023, 6, 1), date(2028, 6, 1))

single = st.one_of(
    weekday,
    dates.map(date.isoformat),
    st.builds(lambda m, n: f"{m} {n}", month, day_n),
    day_n.map(lambda n: f"day {n}"),
    st.builds(lambda w, n: f"{w} {n}", weekday, nth),
    st.builds(lambda w, n, m: f"{w} {n} {m}", weekday, nth, month),
)
ranged = st.one_of(
    st.builds(lambda a, b: f"{a} - {b}", weekday, weekday),
    st.builds(lambda a, n: f"{a} - {a + timedelta(days=n)}", dates, st.integers(0, 60)),
    st.builds(lambda a, b: f"day {a} - {b}", day_n, day_n),
    st.builds(lambda m1, a, m2, b: f"{m1} {a} - {m2} {b}", month, day_n, month, day_n),
    st.builds(lambda w, a, b: f"{w} {a} - {b}", weekday, nth, nth),
    st.builds(
        lambda w1, a, m1, w2, b, m2: f"{w1} {a} {m1} - {w2} {b} {m2}",
        weekday,
        nth,
        month,
        weekday,
        nth,
        month,
    ),
)
key = st.one_of(
    single, st.builds(lambda r, s: f"{r} / {s}" if s > 1 else r, ranged, st.integers(1, 9))
)
clock = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 30), st.sampled_from([0, 15, 30, 59])
)
value = st.lists(st.builds(lambda a, b: f"{a}-{b}", clock, clock), min_size=1, max_size=3).map(
    ",".join
)
ranges = st.dictionaries(key, value, max_size=4)
instant = st.floats(LO, HI, allow_nan=False).map(int)


def brute_force(period: timeperiods.TimePeriod, t: float) -> bool:
    """An oracle that shares nothing with the compiled path but the parser and days.covers."""
    local = datetime.fromtimestamp(t, period.tz).date()
    for rule, times in period.rules:
        for back in range(4):
            day = local - timedelta(days=back)
            if not days.covers(rule, day):
                continue
            midnight = datetime(day.year, day.month, day.day, tzinfo=period.tz)
            for tr in times:
                b = (midnight + timedelta(seconds=tr.begin)).timestamp()
                e = (midnight + timedelta(seconds=tr.end)).timestamp()
                if b <= t < e:
                    return True
    return False


def make(r: dict[str, str], zone: str) -> timeperiods.TimePeriod | None:
    try:
        return timeperiods.TimePeriod("p", r, timezone=zone)
    except timeperiods.TimePeriodError:
        return None  # e.g. "day 5 - -30" style ends, ranges that end before they start


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges, st.sampled_from(ZONES), instant, st.integers(3600, 40 * 86400))
def test_segments_agree_with_is_active(r: dict[str, str], zone: str, t: int, span: int) -> None:
    period = make(r, zone)
    if period is None:
        return
    segs = period.segments_ts(t, t + span)
    for probe in (t, t + span // 3, t + span // 2, t + span - 1):
        inside = any(b <= probe < e for b, e in segs)
        assert period.is_active_ts(probe) is inside
        assert inside is brute_force(period, probe)
    for b, e in segs:
        assert period.is_active_ts(b)
        assert brute_force(period, b)
        assert not period.is_active_ts(e) or e == t + span


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges, st.sampled_from(ZONES), instant)
def test_next_change_is_the_first_flip(r: dict[str, str], zone: str, t: int) -> None:
    period = make(r, zone)
    if period is None:
        return
    state = period.is_active_ts(t)
    change = period.next_change_ts(t)
    if change is None:
        # No flip within 5 years: the state holds at every segment boundary in that time.
        horizon = t + 5 * 365 * 86400
        segs = period.segments_ts(t, horizon)
        assert segs == ([(t, horizon)] if state else [])
        return
    assert change > t
    assert period.is_active_ts(change) is not state
    # Nothing flips before it: the state at t holds over [t, change) ...
    assert period.segments_ts(t, change) == ([(t, change)] if state else [])
    # ... and bisection between t and the change finds the flip at it, to the second.
    lo, hi = float(t), float(change)
    while hi - lo > 1:
        mid = (lo + hi) / 2
        if period.is_active_ts(mid) is state:
            lo = mid
        else:
            hi = mid
    assert change - 1 <= hi <= change
    assert brute_force(period, change - 1) is state
    assert brute_force(period, change) is not state


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges, ranges, ranges, st.booleans(), st.sampled_from(ZONES), instant)
def test_includes_and_excludes(
    own: dict[str, str],
    inc: dict[str, str],
    exc: dict[str, str],
    prefer: bool,
    zone: str,
    t: int,
) -> None:
    if None in (make(own, zone), make(inc, "UTC"), make(exc, zone)):
        return
    registry = timeperiods.Registry(
        [
            timeperiods.TimePeriod(
                "p", own, includes=["i"], excludes=["x"], prefer_includes=prefer, timezone=zone
            ),
            timeperiods.TimePeriod("i", inc, timezone="UTC"),
            timeperiods.TimePeriod("x", exc, timezone=zone),
        ]
    )
    p, i, x = (registry.get(n) for n in "pix")
    for probe in (t, t + 3600, t + 86400):
        active = p.is_active_ts(probe)
        if prefer and i.is_active_ts(probe):
            assert active
        elif x.is_active_ts(probe):
            assert not active
        else:
            own_or_inc = brute_force(p, probe) or i.is_active_ts(probe)
            assert active is own_or_inc


printable_key = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            [
                *WEEKDAYS,
                *MONTHS,
                "day",
                "-",
                "/",
                "0",
                "1",
                "-1",
                "5",
                "31",
                "2027-02-29",
                "2027-01-01",
                " ",
                "  ",
                "x",
            ]
        ),
        max_size=7,
    ).map(" ".join),
)
printable_value = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(["09:00", "24:00", "00:00", "-", ",", " ", "99:99", "1:2:3", ":"]),
        max_size=8,
    ).map("".join),
)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(printable_key, printable_value, st.sampled_from(ZONES), instant)
def test_any_string_is_a_period_or_a_timeperiod_error(k: str, v: str, zone: str, t: int) -> None:
    try:
        period = timeperiods.TimePeriod("p", {k: v}, timezone=zone)
    except timeperiods.TimePeriodError as exc:
        assert str(exc).startswith("time period 'p'")  # noqa: PT017 - any input, either way
        return
    period.is_active_ts(t)
    period.next_change_ts(t)
    period.segments_ts(t, t + 86400 * 40)
