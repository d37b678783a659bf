"""Calendar schedules in the real daemon and CLI (subprocesses on a temp SQLite file)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import Daemon, cli, runs, wait_for, write_config

pytestmark = pytest.mark.slow

StartDaemon = Callable[..., Daemon]


def test_a_job_at_a_wall_time_with_seconds_starts_then(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    # Whole seconds from two seconds from now on: the first that falls after the daemon is up is
    # the job's first start (a job with at that never ran waits for its first time).
    base = int(time.time()) + 2
    times = [base + k for k in range(0, 30, 2)]
    at = [datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S") for t in times]
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {"name": "timed", "kind": "noop", "at": at, "timezone": "UTC"},
                {"name": "cron", "kind": "noop", "cron": "*/2 * * * * *"},
            ]
        },
    )
    d = daemon_factory(config)
    row = wait_for(lambda: runs(d.db, "timed") and runs(d.db, "timed")[0], 60, "a run of timed")
    assert row["trigger"] == "schedule"
    assert row["scheduled_for"] in times  # exactly one of the wall times, not "when it started"
    assert row["started"] >= row["scheduled_for"]  # never early; how late is bench's business
    crons = wait_for(lambda: len(runs(d.db, "cron")) >= 2 and runs(d.db, "cron"), 60, "2 runs")
    for r in crons[:2]:
        assert r["scheduled_for"] % 2 == 0  # even seconds, whenever the daemon started
        assert r["started"] >= r["scheduled_for"]
    # The preview agrees with what ran: the next start of timed is one of the later times.
    listing = json.loads(cli(config, "jobs", "next", "--count", "1", "--json").stdout)
    nxt = {s["job"]: s for s in listing}
    assert datetime.fromisoformat(nxt["timed"]["at"]).timestamp() > row["scheduled_for"]


def test_jobs_next_lists_every_jobs_starts_in_time_order(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {"name": "nightly", "kind": "noop", "at": "02:00", "timezone": "Europe/Berlin"},
                {"name": "quarter", "kind": "noop", "interval": "15m", "at": "00:05"},
                {"name": "weekly", "kind": "noop", "cron": "@weekly"},
            ]
        },
    )
    result = cli(config, "jobs", "next", "--count", "3", "--json")
    assert result.returncode == 0, result.stderr
    starts = json.loads(result.stdout)
    assert sorted(s["job"] for s in starts) == ["nightly"] * 3 + ["quarter"] * 3 + ["weekly"] * 3
    stamps = [datetime.fromisoformat(s["at"]) for s in starts]
    assert stamps == sorted(stamps)
    for s in starts:
        when = datetime.fromisoformat(s["at"])
        if s["job"] == "quarter":
            assert when.minute % 15 == 5
        if s["job"] == "weekly":
            assert (when.weekday(), when.hour, when.minute) == (6, 0, 0)  # Sunday midnight UTC
    table = cli(config, "jobs", "next", "--count", "1")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["at", "job", "kind", "note"]
    listing = cli(config, "jobs", "list")
    assert "at 02:00 (Europe/Berlin)" in listing.stdout
    assert "every 15m at 00:05 (UTC)" in listing.stdout


def test_a_bad_schedule_is_a_config_error_naming_job_field_and_position(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {"name": "ok", "kind": "noop", "interval": "1h"},
                {"name": "nightly", "kind": "noop", "cron": "0 2 * * MON-FRY"},
                {"name": "both", "kind": "noop", "cron": "@daily", "at": "02:00"},
            ]
        },
    )
    result = cli(config, "config", "check")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "jobs[1] (nightly).cron: '0 2 * * MON-FRY': bad day-of-week field 'MON-FRY' "
        "(expected 0-7 or SUN-SAT, with #N or L) at 8" in result.stderr
    )
    assert "jobs[2] (both).cron: cannot be combined with at" in result.stderr
    assert cli(config, "jobs", "next").returncode == 2
