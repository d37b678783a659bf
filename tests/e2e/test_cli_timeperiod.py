"""``directord timeperiod show`` and ``directord config check`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = """
timeperiods:
  workhours:
    timezone: Europe/Berlin
    ranges: {monday - friday: "08:00-12:00,13:00-17:00"}
    includes: []
    excludes: [holidays]
    prefer_includes: true
  holidays:
    timezone: Europe/Berlin
    ranges: {"december 24 - 26": "00:00-24:00", "monday -1 may": "00:00-24:00"}
"""


def directord(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "directord"]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def test_show_configured_period_as_json(config: Path) -> None:
    result = directord(
        "timeperiod",
        "show",
        "workhours",
        "--from",
        "2026-12-23",
        "--to",
        "2026-12-29",
        "--json",
        config=config,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["name"] == "workhours"
    assert doc["timezone"] == "Europe/Berlin"
    assert doc["active_at_from"] is False
    assert doc["next_change_after_from"] == "2026-12-23T08:00:00+01:00"
    # Christmas is excluded: Wednesday the 23rd, then Monday the 28th.
    assert [s["begin"] for s in doc["segments"]] == [
        "2026-12-23T08:00:00+01:00",
        "2026-12-23T13:00:00+01:00",
        "2026-12-28T08:00:00+01:00",
        "2026-12-28T13:00:00+01:00",
    ]
    assert doc["segments"][0]["end"] == "2026-12-23T12:00:00+01:00"


def test_show_inline_ranges_with_at(config: Path) -> None:
    result = directord(
        "timeperiod",
        "show",
        "--range",
        "monday - friday=22:00-06:00",
        "--tz",
        "America/New_York",
        "--from",
        "2026-11-06T00:00",
        "--to",
        "2026-11-07",
        "--at",
        "2026-11-07T05:00",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["segments"] == [
        {"begin": "2026-11-06T00:00:00-05:00", "end": "2026-11-06T06:00:00-05:00"},
        {"begin": "2026-11-06T22:00:00-05:00", "end": "2026-11-07T00:00:00-05:00"},
    ]
    assert doc["active_at"] is True
    assert doc["next_change_after_at"] == "2026-11-07T06:00:00-05:00"


def test_show_table(config: Path) -> None:
    result = directord(
        "timeperiod",
        "show",
        "workhours",
        "--from",
        "2026-12-28T00:00",
        "--to",
        "2026-12-29T00:00",
        config=config,
    )
    assert result.returncode == 0, result.stderr
    assert "time period  workhours (Europe/Berlin)" in result.stdout
    assert "Mon 2026-12-28 08:00:00 +0100" in result.stdout
    assert "2 segments, 8h active in all" in result.stdout
    # The columns line up under their header, whatever the widths of the times.
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.strip().startswith("#"))
    rows = [line for line in lines if line[:4].strip().isdigit()]
    assert len(rows) == 2
    for column in ("begin", "end", "duration"):
        at = header.index(column)
        assert all(row[at - 2 : at] == "  " and row[at] != " " for row in rows), column


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--range", "mondayy=08:00-10:00"],
            "'mondayy': unknown day name at 0, expected a weekday, month, 'day' or a date",
        ),
        (["--range", "monday=08:00-1O:00"], "'08:00-1O:00': invalid time at 6"),
        (["--range", "monday 0=08:00-10:00"], "there is no monday number 0 in a month at 7"),
        (["--range", "monday"], "expected KEY=VALUE"),
        (["--range", "monday=08:00-10:00", "--tz", "Nowhere/City"], "unknown time zone"),
        (["--range", "monday=08:00-10:00", "--from", "yesterday"], "--from: 'yesterday'"),
        (
            ["--range", "monday=08:00-10:00", "--from", "9999-12-31T23:00"],
            "--from: '9999-12-31T23:00' is out of range (from 0002-01-01 to 9990-12-31)",
        ),
        (
            ["--range", "monday=08:00-10:00", "--from", "0001-01-01"],
            "--from: '0001-01-01' is out of range",
        ),
        (
            ["--range", "monday=08:00-10:00", "--from", "2026-01-01", "--to", "9999-12-31"],
            "--to: '9999-12-31' is out of range",
        ),
        (
            ["--range", "monday=08:00-10:00", "--at", "0001-01-01T00:00+14:00"],
            "--at: '0001-01-01T00:00+14:00' is out of range",
        ),
    ],
)
def test_invalid_input_exits_2_with_the_reason(args: list[str], message: str) -> None:
    result = directord("timeperiod", "show", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_config_check_warns_where_icinga_differs(config: Path) -> None:
    # directord-only periods: only when asked (Icinga 2 does not evaluate them).
    result = directord("config", "check", "--icinga-compat", config=config)
    assert result.returncode == 0, result.stderr
    assert "OK (0 jobs, 2 time periods)" in result.stdout
    assert "warning: timeperiods.workhours: range 'monday - friday': Icinga 2 evaluates it" in (
        result.stderr
    )


def test_config_check_lists_every_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "timeperiods:\n"
        "  a: {ranges: {mondayy: '08:00-10:00'}}\n"
        "  b: {ranges: {monday: '08:00-10:00'}, excludes: [nope]}\n"
        "  c: {timezone: Mars/Base, ranges: {}}\n"
    )
    result = directord("config", "check", config=path)
    assert result.returncode == 2
    err = result.stderr
    assert "3 errors" in err
    assert "timeperiods.a.ranges['mondayy']: 'mondayy': unknown day name at 0" in err
    assert "timeperiods.c.timezone: unknown time zone 'Mars/Base'" in err
    assert "timeperiods.b.includes/excludes: excludes unknown time period 'nope'" in err
