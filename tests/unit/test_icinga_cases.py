"""Every case of Icinga 2's own time-period test suite (tests/data/icinga2-timeperiod-cases.json),
mapped onto directord's API — and onto the Icinga 2 reference model where the case tests one of
Icinga 2's internal functions.

Where a case encodes an Icinga 2 behaviour we deliberately differ from, the test says so
(``DIFFERS``) and asserts our documented behaviour instead.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from directord import timeperiods
from directord.timeperiods import days, icinga
from directord.timeperiods.grammar import MONTHS, WEEKDAYS

CASES = json.loads(
    (Path(__file__).parent.parent / "data" / "icinga2-timeperiod-cases.json").read_text()
)


def _cases(kind: str) -> list[Any]:
    selected = [c for c in CASES if c["kind"] == kind]
    return [pytest.param(c, id=f"{c['line']}-{i}") for i, c in enumerate(selected)]


def _instant(obj: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(obj["iso"])


def _wall(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=None)


def test_every_case_kind_is_mapped() -> None:
    mapped = {
        "parse_time_spec",
        "is_in_time_range",
        "process_time_range_raw",
        "find_nth_weekday",
        "find_running_segment",
        "find_next_segment",
        "timeperiod_update_region",
        "timeperiod_is_inside_probes",
    }
    assert {c["kind"] for c in CASES} == mapped
    assert len(CASES) == 1005


@pytest.mark.parametrize("case", _cases("parse_time_spec"))
def test_parse_time_spec(case: dict[str, Any]) -> None:
    spec = case["input"]["timespec"]
    ref_in = case["input"]["reference"]
    ref = date(ref_in["year"], ref_in["month"], 1) if ref_in else date(2016, 1, 1)
    if "error" in case["expected"]:
        with pytest.raises(icinga.IcingaError):
            icinga.parse_time_spec(spec, ref)
        with pytest.raises(timeperiods.TimePeriodError):
            timeperiods.TimePeriod("t", {spec: "00:00-24:00"})
        return
    begin, end = _wall(case["expected"]["begin"]), _wall(case["expected"]["end"])
    # Reference model: the same day Icinga 2 computes.
    assert icinga.parse_time_spec(spec, ref) == (begin.date(), end.date())
    # Ours: a period with that key is active exactly that day within the reference month.
    utc = ZoneInfo("UTC")
    lo = datetime(ref.year, ref.month, 1, tzinfo=utc) if ref_in else begin.replace(tzinfo=utc)
    hi = (lo + timedelta(days=32)).replace(day=1) if ref_in else end.replace(tzinfo=utc)
    period = timeperiods.TimePeriod("t", {spec: "00:00-24:00"})
    assert period.segments(lo - timedelta(days=5 if not ref_in else 0), hi) == [
        (begin.replace(tzinfo=utc), end.replace(tzinfo=utc))
    ]


@pytest.mark.parametrize("case", _cases("is_in_time_range"))
def test_is_in_time_range(case: dict[str, Any]) -> None:
    i = case["input"]
    begin, end, ref = _instant(i["begin"]), _instant(i["end"]), _instant(i["reference"])
    expected = case["expected"]["result"]
    assert (
        icinga.is_in_time_range(
            i["begin"]["epoch"], i["end"]["epoch"], i["stride"], i["reference"]["epoch"]
        )
        is expected
    )
    # Ours: the same stretch as a key (the days) and a value (the time of day).
    value = f"{begin:%H:%M}-{end:%H:%M}"
    if begin.date() == end.date():
        key = begin.date().isoformat()
    else:
        key = f"{begin.date()} - {end.date()} / {i['stride']}"
    period = timeperiods.TimePeriod("t", {key: value})
    assert period.is_active(ref) is expected


@pytest.mark.parametrize("case", _cases("process_time_range_raw"))
def test_process_time_range_raw(case: dict[str, Any]) -> None:
    i = case["input"]
    day = date.fromisoformat(i["reference_date"])
    begin, end = _wall(case["expected"]["begin"]), _wall(case["expected"]["end"])
    midnight = datetime.combine(day, datetime.min.time())
    b, e = icinga.process_time_range_raw(i["timerange"])
    assert (midnight + timedelta(seconds=b), midnight + timedelta(seconds=e)) == (begin, end)
    utc = ZoneInfo("UTC")
    period = timeperiods.TimePeriod("t", {day.isoformat(): i["timerange"]})
    window = (midnight.replace(tzinfo=utc), (midnight + timedelta(days=4)).replace(tzinfo=utc))
    assert period.segments(*window) == [(begin.replace(tzinfo=utc), end.replace(tzinfo=utc))]


@pytest.mark.parametrize("case", _cases("find_nth_weekday"))
def test_find_nth_weekday(case: dict[str, Any]) -> None:
    i = case["input"]
    ref = date.fromisoformat(i["reference_date"])
    expected = date.fromisoformat(case["expected"]["date"])
    assert icinga.find_nth_weekday(ref.year, ref.month, i["wday"], i["n"]) == expected
    weekday = (i["wday"] - 1) % 7  # Icinga 2 counts from Sunday, datetime from Monday
    assert days.nth_weekday(ref.year, ref.month, weekday, i["n"]) == expected
    key = f"{WEEKDAYS[weekday]} {i['n']} {MONTHS[ref.month - 1]}"
    utc = ZoneInfo("UTC")
    period = timeperiods.TimePeriod("t", {key: "00:00-24:00"})
    year_start = datetime(ref.year, 1, 1, tzinfo=utc)
    start = datetime.combine(expected, datetime.min.time(), utc)
    assert period.segments(year_start, year_start.replace(year=ref.year + 1)) == [
        (start, start + timedelta(days=1))
    ]


def _los_angeles(case: dict[str, Any]) -> timeperiods.TimePeriod:
    i = case["input"]
    return timeperiods.TimePeriod("t", {i["daydef"]: i["timeranges"]}, timezone=case["timezone"])


@pytest.mark.parametrize("case", _cases("find_running_segment"))
def test_find_running_segment(case: dict[str, Any]) -> None:
    period = _los_angeles(case)
    ref = _instant(case["input"]["reference"])
    expected = case["expected"]["segment"]
    if expected is None:
        assert not period.is_active(ref)
        return
    assert period.is_active(ref)
    # Epoch seconds: PEP 495 makes an ambiguous wall time unequal to any instant in another zone.
    t = ref.timestamp()
    around = period.segments_ts(t - 2 * 86400, t + 2 * 86400)
    assert [s for s in around if s[0] <= t < s[1]] == [
        (expected["begin"]["epoch"], expected["end"]["epoch"])
    ]


@pytest.mark.parametrize("case", _cases("find_next_segment"))
def test_find_next_segment(case: dict[str, Any]) -> None:
    period = _los_angeles(case)
    ref = _instant(case["input"]["reference"])
    expected = case["expected"]["segment"]
    t = ref.timestamp()
    # FindNextSegment: the first segment that begins at or after the reference.
    upcoming = [s for s in period.segments_ts(t - 1, t + 400 * 86400) if s[0] >= t]
    if expected is None:
        # Only date keys whose segment is empty or began before the reference.
        assert upcoming == []
        return
    assert upcoming[0] == (expected["begin"]["epoch"], expected["end"]["epoch"])
    if not period.is_active(ref):
        # Outside a segment, next_change is that begin, in the period's zone.
        next_begin = period.next_change(ref)
        assert next_begin is not None
        assert next_begin.timestamp() == expected["begin"]["epoch"]
        assert str(next_begin.tzinfo) == case["timezone"]


def _registry(periods: dict[str, Any], tz: str) -> timeperiods.Registry:
    registry = timeperiods.Registry()
    for name, spec in periods.items():
        # Unregistered periods cannot be referenced upstream; here every name is unique anyway.
        registry.add(
            timeperiods.TimePeriod(
                name,
                spec["ranges"],
                includes=spec["includes"],
                excludes=spec["excludes"],
                prefer_includes=spec["prefer_includes"],
                timezone=tz,
            )
        )
    return registry


@pytest.mark.parametrize("case", _cases("timeperiod_update_region"))
def test_update_region(case: dict[str, Any]) -> None:
    periods = {name: dict(spec) for name, spec in case["input"]["periods"].items()}
    windows: dict[str, tuple[datetime, datetime]] = {}
    for step in case["input"]["steps"]:
        # Our periods are immutable values: set_ranges and set_includes make new ones, and an
        # update_region is only the window the expected segments are read over.
        if step["op"] == "set_ranges":
            periods[step["period"]]["ranges"] = step["ranges"]
        elif step["op"] == "set_includes":
            periods[step["period"]]["includes"] = step["includes"]
        else:
            windows[step["period"]] = (_instant(step["begin"]), _instant(step["end"]))
    registry = _registry(periods, case["timezone"])
    expected = case["expected"]
    for probe in expected.get("is_inside", []):
        period = registry.get(probe["period"])
        assert period.is_active(_instant(probe["at"])) is probe["inside"], probe
    for name, segs in expected.get("segments", {}).items():
        # DIFFERS: Icinga 2 keeps segments in insertion order, unmerged (the include appended
        # last in line 341's case); ours are sorted and merged, so compare them that way.
        want = timeperiods.period.intervals.merge(
            (int(_instant(s["begin"]).timestamp()), int(_instant(s["end"]).timestamp()))
            for s in segs
        )
        got = registry.get(name).segments_ts(*(w.timestamp() for w in windows[name]))
        assert got == want
    for name, count in expected.get("segment_count", {}).items():
        got = registry.get(name).segments_ts(*(w.timestamp() for w in windows[name]))
        assert len(got) == count


@pytest.mark.parametrize("case", _cases("timeperiod_is_inside_probes"))
def test_is_inside_probes(case: dict[str, Any]) -> None:
    registry = _registry(case["input"]["periods"], case["timezone"])
    probes = case["input"]["probes"]
    period = registry.get(probes["period"])
    t = probes["first"]["epoch"]
    seen = 0
    while t < probes["stop_before"]["epoch"]:
        assert period.is_active_ts(t), t
        t += probes["step_seconds"]
        seen += 1
    assert seen == probes["count"]
