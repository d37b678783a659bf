"""directord's time-period semantics: every key form, the documented differences from Icinga 2,
DST in Europe/Berlin and America/New_York, and the errors users see."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from directord import timeperiods
from directord.timeperiods import icinga
from directord.timeperiods.compare import icinga_differences

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def active_days(key: str, first: date, last: date) -> list[date]:
    """The days on which a key's 12:00-12:01 is active (UTC)."""
    period = timeperiods.TimePeriod("t", {key: "12:00-12:01"})
    out = []
    day = first
    while day <= last:
        if period.is_active(datetime(day.year, day.month, day.day, 12, tzinfo=UTC)):
            out.append(day)
        day += timedelta(days=1)
    return out


def d(text: str) -> date:
    return date.fromisoformat(text)


# -- every key form of the Icinga 2 documentation ----------------------------------------------


@pytest.mark.parametrize(
    ("key", "first", "last", "expected"),
    [
        (
            "monday",
            "2026-11-01",
            "2026-11-30",
            ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"],
        ),
        ("2027-01-01", "2026-12-01", "2027-02-01", ["2027-01-01"]),
        ("january 1", "2026-01-01", "2027-12-31", ["2026-01-01", "2027-01-01"]),
        ("day 15", "2026-01-01", "2026-03-31", ["2026-01-15", "2026-02-15", "2026-03-15"]),
        ("day -1", "2026-01-01", "2026-03-31", ["2026-01-31", "2026-02-28", "2026-03-31"]),
        ("monday 3", "2026-01-01", "2026-02-28", ["2026-01-19", "2026-02-16"]),
        ("monday -1", "2026-01-01", "2026-02-28", ["2026-01-26", "2026-02-23"]),
        ("monday -1 may", "2026-01-01", "2027-12-31", ["2026-05-25", "2027-05-31"]),
        ("thursday 4 november", "2026-01-01", "2026-12-31", ["2026-11-26"]),
        (
            "2027-01-30 - 2027-02-02",
            "2027-01-01",
            "2027-03-01",
            ["2027-01-30", "2027-01-31", "2027-02-01", "2027-02-02"],
        ),
        (
            "2027-01-01 - 2027-01-10 / 3",
            "2026-12-01",
            "2027-02-01",
            ["2027-01-01", "2027-01-04", "2027-01-07", "2027-01-10"],
        ),
        ("day 1 - 15 / 5", "2026-03-01", "2026-03-31", ["2026-03-01", "2026-03-06", "2026-03-11"]),
        ("april 10 - 12", "2026-01-01", "2026-12-31", ["2026-04-10", "2026-04-11", "2026-04-12"]),
        (
            "april 29 - may 2",
            "2026-01-01",
            "2026-12-31",
            ["2026-04-29", "2026-04-30", "2026-05-01", "2026-05-02"],
        ),
        ("monday 1 - 2", "2026-06-01", "2026-06-30", [f"2026-06-{n:02d}" for n in range(1, 9)]),
        (
            "friday 2 march - monday 3 march",
            "2026-01-01",
            "2026-12-31",
            [f"2026-03-{n:02d}" for n in range(13, 17)],
        ),
        (
            "monday 1 january - friday 2 january",
            "2027-01-01",
            "2027-01-31",
            [f"2027-01-{n:02d}" for n in range(4, 9)],
        ),
    ],
)
def test_key_forms(key: str, first: str, last: str, expected: list[str]) -> None:
    assert active_days(key, d(first), d(last)) == [d(x) for x in expected]


def test_union_of_all_matching_keys() -> None:
    # Icinga 2's own example: no precedence, plain union.
    period = timeperiods.TimePeriod(
        "t", {"monday": "09:00-10:00", "2024-06-10": "12:00-13:00", "day 10": "09:30-12:30"}
    )
    day = datetime(2024, 6, 10, tzinfo=UTC)
    assert period.segments(day, day + timedelta(days=1)) == [
        (day.replace(hour=9), day.replace(hour=13))
    ]


# -- deliberate differences from Icinga 2 (README "Time periods") -------------------------------


def test_weekday_range_covers_every_day_between() -> None:
    days = active_days("monday - friday", d("2026-11-23"), d("2026-11-29"))
    assert days == [d("2026-11-23") + timedelta(days=n) for n in range(5)]
    assert active_days("friday - monday", d("2026-11-23"), d("2026-11-29")) == [
        d("2026-11-23"),
        d("2026-11-27"),
        d("2026-11-28"),
        d("2026-11-29"),
    ]
    # Icinga 2: Mondays only.
    assert icinga.is_in_day_definition("monday - friday", d("2026-11-24"), UTC) is False


def test_ranges_that_wrap_a_year_or_month() -> None:
    assert active_days("december 30 - january 2", d("2026-12-01"), d("2027-01-31")) == [
        d("2026-12-30"),
        d("2026-12-31"),
        d("2027-01-01"),
        d("2027-01-02"),
    ]
    assert active_days("day 30 - 2", d("2026-04-01"), d("2026-05-05")) == [
        d("2026-04-01"),
        d("2026-04-02"),
        d("2026-04-30"),
        d("2026-05-01"),
        d("2026-05-02"),
    ]
    assert icinga.is_in_day_definition("day 30 - 2", d("2026-05-01"), UTC) is False


def test_month_kept_in_shorthand_end() -> None:
    # "monday 2 february - 3": 2nd to 3rd Monday of February (Icinga 2: of the evaluated month).
    assert active_days("monday 2 february - 3", d("2026-01-01"), d("2026-12-31")) == [
        d("2026-02-09") + timedelta(days=n) for n in range(8)
    ]


def test_days_that_do_not_exist_never_match() -> None:
    assert active_days("day 31", d("2026-04-01"), d("2026-05-31")) == [d("2026-05-31")]
    assert active_days("monday 5", d("2026-01-01"), d("2026-02-28")) == []
    assert active_days("monday 5", d("2026-06-01"), d("2026-06-30")) == [d("2026-06-29")]
    assert active_days("february 29", d("2027-01-01"), d("2028-12-31")) == [d("2028-02-29")]
    # Icinga 2 rolls february 29 over to March 1 in common years.
    assert icinga.parse_time_spec("february 29", d("2027-03-01"))[0] == d("2027-03-01")


def test_range_end_past_the_month_means_its_last_day() -> None:
    assert active_days("day 29 - 31", d("2026-02-01"), d("2026-03-01")) == []
    assert active_days("day 27 - 31", d("2026-02-01"), d("2026-03-01")) == [
        d("2026-02-27"),
        d("2026-02-28"),
    ]


def test_overnight_from_yesterday_counts_after_a_restart() -> None:
    # Icinga 2 (re)started at 01:00 would miss the Friday 22:00-06:00 occurrence.
    period = timeperiods.TimePeriod("t", {"friday": "22:00-06:00"})
    assert period.is_active(datetime(2026, 11, 28, 1, 0, tzinfo=UTC))
    assert not period.is_active(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))


def test_exclude_sharing_an_endpoint_is_removed() -> None:
    registry = timeperiods.Registry(
        [
            timeperiods.TimePeriod(
                "24x7", {"monday - sunday": "00:00-24:00"}, excludes=["mornings"]
            ),
            timeperiods.TimePeriod("mornings", {"monday": "00:00-12:00"}),
        ]
    )
    period = registry.get("24x7")
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert not period.is_active(monday)
    assert not period.is_active(monday.replace(hour=11, minute=59))
    assert period.is_active(monday.replace(hour=12))


def test_segments_are_half_open_and_merged() -> None:
    period = timeperiods.TimePeriod(
        "t", {"monday": "08:00-10:00,12:00-14:00,09:00-13:00", "tuesday": "00:00-24:00"}
    )
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert period.segments(monday, monday + timedelta(days=1)) == [
        (monday.replace(hour=8), monday.replace(hour=14))
    ]
    # Monday evening to Tuesday: touching segments merge into one; the window clips.
    period2 = timeperiods.TimePeriod("t", {"monday": "20:00-24:00", "tuesday": "00:00-02:00"})
    assert period2.segments(monday.replace(hour=21), monday + timedelta(days=2)) == [
        (monday.replace(hour=21), monday + timedelta(days=1, hours=2))
    ]
    assert not period.is_active(monday.replace(hour=14))


def test_timezone_is_the_periods_own() -> None:
    period = timeperiods.TimePeriod("t", {"monday": "09:00-10:00"}, timezone="Asia/Tokyo")
    assert period.is_active(datetime(2026, 11, 23, 0, 30, tzinfo=UTC))  # 09:30 in Tokyo
    assert not period.is_active(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    begin = period.next_change(datetime(2026, 11, 24, tzinfo=UTC))
    assert begin is not None
    assert begin.isoformat() == "2026-11-30T09:00:00+09:00"


def test_special_values() -> None:
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    full = timeperiods.TimePeriod("t", {"monday": "09:00-09:00"})
    assert full.segments(monday, monday + timedelta(days=3)) == [
        (monday.replace(hour=9), monday + timedelta(days=1, hours=9))
    ]
    late = timeperiods.TimePeriod("t", {"monday": "24:00-06:00,23:59:30-23:59:45"})
    assert late.segments(monday, monday + timedelta(days=3)) == [
        (
            monday.replace(hour=23, minute=59, second=30),
            monday.replace(hour=23, minute=59, second=45),
        ),
        (monday + timedelta(days=1), monday + timedelta(days=1, hours=6)),
    ]


def test_config_check_warnings_name_each_differing_key() -> None:
    period = timeperiods.TimePeriod(
        "t",
        {"monday - friday": "08:00-17:00", "saturday": "10:00-12:00", "sunday": "09:00 - 10:00"},
    )
    warnings = icinga_differences(period, d("2026-11-25"))
    assert len(warnings) == 2
    assert warnings[0].startswith("range 'monday - friday': Icinga 2 evaluates it differently")
    assert "2026-11-25T08:00:00+00:00" in warnings[0]
    assert warnings[1] == "range 'sunday': Icinga 2 rejects it (Can't convert '00 ' to an integer.)"


# -- DST ---------------------------------------------------------------------------------------


def _hours(period: timeperiods.TimePeriod, day: datetime) -> list[float]:
    return [
        (e - b) / 3600
        for b, e in period.segments_ts(day.timestamp(), (day + timedelta(days=1)).timestamp())
    ]


@pytest.mark.parametrize(
    ("zone", "spring", "fall"),
    [
        ("Europe/Berlin", datetime(2026, 3, 29), datetime(2026, 10, 25)),
        ("America/New_York", datetime(2026, 3, 8), datetime(2026, 11, 1)),
    ],
)
def test_dst_rule(zone: str, spring: datetime, fall: datetime) -> None:
    tz = ZoneInfo(zone)
    spring, fall = spring.replace(tzinfo=tz), fall.replace(tzinfo=tz)
    gap = timeperiods.TimePeriod("t", {"sunday": "02:00-03:00"}, timezone=zone)
    if zone == "Europe/Berlin":
        # Berlin jumps 02:00 -> 03:00: the hour does not exist, the range is empty that day.
        assert _hours(gap, spring) == []
    else:
        assert _hours(gap, spring) == []
    assert _hours(gap, spring - timedelta(days=7)) == [1.0]
    wide = timeperiods.TimePeriod("t", {"sunday": "01:00-04:00"}, timezone=zone)
    assert _hours(wide, spring) == [2.0]
    assert _hours(wide, fall) == [4.0]
    whole = timeperiods.TimePeriod("t", {"sunday": "00:00-24:00"}, timezone=zone)
    assert _hours(whole, spring) == [23.0]
    assert _hours(whole, fall) == [25.0]


def test_fall_back_ambiguous_time_is_the_first_occurrence() -> None:
    period = timeperiods.TimePeriod("t", {"sunday": "02:30-02:45"}, timezone="Europe/Berlin")
    first = datetime(2026, 10, 25, 2, 35, tzinfo=BERLIN, fold=0)  # CEST
    second = datetime(2026, 10, 25, 2, 35, tzinfo=BERLIN, fold=1)  # CET, an hour later
    assert period.is_active(first)
    assert not period.is_active(second)


def test_spring_forward_time_in_the_gap_moves_after_it() -> None:
    period = timeperiods.TimePeriod("t", {"sunday": "02:30-04:00"}, timezone="America/New_York")
    change = period.next_change(datetime(2026, 3, 8, tzinfo=NEW_YORK))
    assert change is not None
    assert change.isoformat() == "2026-03-08T03:30:00-04:00"


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_nights_across_dst(zone: str) -> None:
    tz = ZoneInfo(zone)
    period = timeperiods.TimePeriod("n", {"monday - sunday": "22:00-06:00"}, timezone=zone)
    for day in (
        datetime(2026, 3, 28 if zone == "Europe/Berlin" else 7, tzinfo=tz),
        datetime(2026, 10, 24, tzinfo=tz)
        if zone == "Europe/Berlin"
        else datetime(2026, 10, 31, tzinfo=tz),
    ):
        start = period.next_change(day.replace(hour=12))
        assert start is not None
        assert (start.hour, start.minute) == (22, 0)
        end = period.next_change(start)
        assert end is not None
        assert (end.hour, end.minute) == (6, 0)
        assert end.date() == (start + timedelta(days=1)).date()


# -- includes and excludes ---------------------------------------------------------------------


def _workhours() -> timeperiods.Registry:
    return timeperiods.Registry(
        [
            timeperiods.TimePeriod(
                "workhours",
                {"monday - friday": "08:00-18:00"},
                excludes=["holidays"],
                includes=["oncall"],
                timezone="Europe/Berlin",
            ),
            timeperiods.TimePeriod(
                "holidays",
                {"december 24 - 26": "00:00-24:00", "monday -1 may": "00:00-24:00"},
                timezone="Europe/Berlin",
            ),
            timeperiods.TimePeriod(
                "oncall", {"2026-12-24": "10:00-11:00"}, timezone="Europe/Berlin"
            ),
        ]
    )


def test_includes_win_by_default_excludes_otherwise() -> None:
    registry = _workhours()
    period = registry.get("workhours")
    assert not period.is_active(datetime(2026, 12, 24, 9, tzinfo=BERLIN))
    assert period.is_active(datetime(2026, 12, 24, 10, 30, tzinfo=BERLIN))
    assert not period.is_active(datetime(2026, 5, 25, 9, tzinfo=BERLIN))
    assert period.is_active(datetime(2026, 5, 26, 9, tzinfo=BERLIN))
    strict = timeperiods.Registry(
        [
            timeperiods.TimePeriod(
                "w",
                {"monday - friday": "08:00-18:00"},
                includes=["o"],
                excludes=["h"],
                prefer_includes=False,
            ),
            timeperiods.TimePeriod("h", {"2026-12-24": "00:00-24:00"}),
            timeperiods.TimePeriod("o", {"2026-12-24": "10:00-11:00"}),
        ]
    ).get("w")
    assert not strict.is_active(datetime(2026, 12, 24, 10, 30, tzinfo=UTC))


def test_registry_reports_unknown_names_and_cycles() -> None:
    registry = timeperiods.Registry([timeperiods.TimePeriod("a", {}, excludes=["nope"])])
    [error] = registry.check()
    assert "excludes unknown time period 'nope'" in str(error)
    cyclic = timeperiods.Registry(
        [
            timeperiods.TimePeriod("a", {}, includes=["b"]),
            timeperiods.TimePeriod("b", {}, excludes=["c"]),
            timeperiods.TimePeriod("c", {}, includes=["a"]),
        ]
    )
    [error] = cyclic.check()
    assert "cycle: a -> b -> c -> a" in str(error)
    with pytest.raises(timeperiods.TimePeriodError, match="cycle"):
        cyclic.get("a").is_active(datetime(2026, 1, 1, tzinfo=UTC))


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("mondayy", "'mondayy': unknown day name at 0, expected a weekday, month, 'day' or a date"),
        ("Monday", "'Monday': unknown day name (names are lowercase) at 0"),
        ("monday-friday", "a range needs spaces around '-'"),
        ("monday 0", "'monday 0': there is no monday number 0 in a month at 7"),
        ("monday 6", "there is no monday number 6 in a month at 7"),
        ("day 0", "'day 0': day 0 does not exist at 4"),
        ("day 1 -15", "'day 1 -15': unexpected '-15' at 6"),
        ("2016-02-30", "'2016-02-30': february 2016 has no day 30 at 8"),
        ("2015-13-01", "'2015-13-01': month 13 does not exist at 5"),
        ("april 31", "'april 31': april 31 does not exist at 6"),
        ("monday / 2", "'monday / 2': a stride needs a range at 7"),
        ("day 1 - 15 / 0", "stride 0 at 13"),
        ("day 1 - 15 / x", "invalid stride at 13"),
        ("monday - day 5", "range from a weekday to a day of the month at 9"),
        ("2027-02-01 - 2027-01-01", "range ends before it starts at 13"),
        ("2027-02-01 - 5", "a bare number '5' cannot end a range from '2027-02-01' at 13"),
        ("monday 1 jan", "unknown month 'jan' at 9, expected a month name"),
        ("", "empty day definition at 0"),
        ("day 1 - 2 - 3", "a second '-' at 10"),
    ],
)
def test_key_errors(key: str, message: str) -> None:
    with pytest.raises(timeperiods.TimePeriodError) as info:
        timeperiods.TimePeriod("p", {key: "00:00-24:00"})
    assert message in str(info.value)
    assert str(info.value).startswith("time period 'p': ")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("09:00-17:0x", "'09:00-17:0x': unexpected 'x' at 10"),
        ("", "'': empty time range at 0"),
        ("09:00-17:00,", "empty time range at 12"),
        ("9-17", "'9-17': invalid time at 0, expected a time HH:MM or HH:MM:SS"),
        ("09:60-10:00", "minute 60 at 3, expected minutes 00..59"),
        ("09:00", "time range without '-' at 5"),
        ("49:00-50:00", "time 49:00 is more than two days at 0"),
    ],
)
def test_value_errors(value: str, message: str) -> None:
    with pytest.raises(timeperiods.TimePeriodError) as info:
        timeperiods.TimePeriod("p", {"monday": value})
    assert message in str(info.value)
    assert "range 'monday'" in str(info.value)


def test_whitespace_in_values_is_tolerated() -> None:
    period = timeperiods.TimePeriod("p", {"monday": " 09:00 - 10:00 , 11:00-12:00"})
    assert (
        len(period.segments(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)))
        == 2
    )


def test_unknown_timezone_and_naive_datetimes() -> None:
    with pytest.raises(timeperiods.TimePeriodError, match="unknown time zone 'Mars/Olympus'"):
        timeperiods.TimePeriod("p", {}, timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="timezone-aware"):
        timeperiods.TimePeriod("p", {}).is_active(datetime(2026, 1, 1))


def test_next_change_none_when_it_never_flips() -> None:
    never = timeperiods.TimePeriod("p", {})
    assert never.next_change(datetime(2026, 1, 1, tzinfo=UTC)) is None
    always = timeperiods.TimePeriod("p", {"monday - sunday": "00:00-24:00"})
    assert always.next_change(datetime(2026, 1, 1, tzinfo=UTC)) is None
    once = timeperiods.TimePeriod("p", {"2035-06-01": "10:00-11:00"})
    assert once.next_change(datetime(2026, 1, 1, tzinfo=UTC)) is None
    soon = timeperiods.TimePeriod("p", {"2030-06-01": "10:00-11:00"})
    assert soon.next_change(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(
        2030, 6, 1, 10, tzinfo=UTC
    )
