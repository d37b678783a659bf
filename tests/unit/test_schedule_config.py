"""The job fields at, cron, timezone and catch_up: what is accepted, what each error says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from directord import config as config_mod
from directord import job_schedule
from directord.jobs import registry


def parse(*jobs: dict[str, Any], **top: Any) -> config_mod.Settings:
    return config_mod.parse({"jobs": list(jobs), **top})


def errors(*jobs: dict[str, Any], **top: Any) -> list[str]:
    with pytest.raises(config_mod.ConfigError) as info:
        parse(*jobs, **top)
    return info.value.errors


def job(**kw: Any) -> dict[str, Any]:
    return {"name": "nightly", "kind": "noop", **kw}


def test_every_form_is_accepted_and_builds_a_schedule() -> None:
    settings = parse(
        job(name="plain", interval="1h"),
        job(name="at", at="02:00"),
        job(name="twice", at=["06:00", "18:00:30"], timezone="Europe/Berlin"),
        job(name="anchored", interval="15m", at="00:05"),
        job(name="cron", cron="30 2 * * 1-5", catch_up="2h"),
        job(name="macro", cron="@daily", catch_up=0),
    )
    by = {j.name: j for j in settings.jobs}
    assert job_schedule.job_schedule(by["plain"], settings) is None
    assert job_schedule.job_catch_up(by["plain"]) == 3600  # unused: interval jobs never catch up
    at = job_schedule.job_schedule(by["at"], settings)
    assert at is not None
    assert (at.text, at.tz.key) == ("at 02:00", "UTC")
    twice = job_schedule.job_schedule(by["twice"], settings)
    assert twice is not None
    assert (twice.text, twice.tz.key) == ("at 06:00, 18:00:30", "Europe/Berlin")
    assert job_schedule.job_catch_up(by["anchored"]) == 900  # one interval
    assert job_schedule.job_catch_up(by["at"]) == 3600  # 1 h for at and cron
    assert job_schedule.job_catch_up(by["cron"]) == 7200
    assert job_schedule.job_catch_up(by["macro"]) == 0


def test_zone_defaults_to_the_time_periods() -> None:
    settings = parse(
        job(at="02:00", timeperiod="nights"),
        timeperiods={
            "nights": {"timezone": "America/New_York", "ranges": {"monday": "00:00-06:00"}}
        },
    )
    sched = job_schedule.job_schedule(settings.jobs[0], settings)
    assert sched is not None
    assert sched.tz.key == "America/New_York"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "jobs[0] (nightly): no schedule; give one of interval, at, cron, or interval + at"),
        (
            {"interval": "1h", "cron": "0 2 * * *"},
            "jobs[0] (nightly).cron: cannot be combined with interval; "
            "the schedule is one of interval, at, cron, or interval + at",
        ),
        (
            {"at": "02:00", "cron": "0 2 * * *"},
            "jobs[0] (nightly).cron: cannot be combined with at; the schedule is one of",
        ),
        (
            {"cron": "0 61 * * *"},
            "jobs[0] (nightly).cron: '0 61 * * *': bad hour field '61' (expected 0-23) at 2",
        ),
        ({"cron": "0 2 * *"}, "jobs[0] (nightly).cron: '0 2 * *': 4 fields; expected 5"),
        ({"at": "25:00"}, "jobs[0] (nightly).at: '25:00': hour must be 00-23 at 0"),
        ({"at": ["02:00", "2 am"]}, "jobs[0] (nightly).at: '2 am': not a time"),
        (
            {"at": "02:00", "interval": "2d"},
            "jobs[0] (nightly).interval: '2d': with at, the interval must be more than 0 "
            "and at most 1d",
        ),
        (
            {"at": "02:00", "timezone": "Mars/Olympus"},
            "jobs[0] (nightly).timezone: 'Mars/Olympus': unknown time zone",
        ),
        ({"interval": "1h", "catch_up": "1h"}, "jobs[0] (nightly).catch_up: applies only to a job"),
        (
            {"interval": "1h", "timezone": "UTC"},
            "jobs[0] (nightly).timezone: applies only to a job",
        ),
        (
            {"at": "02:00", "catch_up": "soon"},
            "jobs[0] (nightly).catch_up: 'soon' is not a duration",
        ),
    ],
)
def test_schedule_errors_name_the_job_and_the_field(fields: dict[str, Any], message: str) -> None:
    got = errors(job(**fields))
    assert any(e.startswith(message) for e in got), got


def test_unquoted_yaml_time_says_to_quote_it(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("jobs:\n  - {name: nightly, kind: noop, at: 12:30}\n")
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.load(path)
    assert info.value.errors == [
        "jobs[0] (nightly).at: 750 is a number: YAML reads an unquoted 12:30 as 750 (base 60); "
        'write the time quoted, at: "12:30"'
    ]


def test_every_schedule_error_at_once() -> None:
    got = errors(job(name="a", cron="* * *"), job(name="b", at="9:99"), job(name="c"))
    assert [e.split(":")[0] for e in got] == [
        "jobs[0] (a).cron",
        "jobs[1] (b).at",
        "jobs[2] (c)",
    ]


def test_the_readme_schedules_example_is_a_valid_config() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Schedules", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    raw = yaml.safe_load(block)
    settings = config_mod.parse(raw, kinds=registry.discover())
    schedules = [job_schedule.job_schedule(j, settings) for j in settings.jobs]
    assert [s is None for s in schedules] == [True, False, False, False, False, False]
