"""The real daemon as a subprocess on a temp SQLite file, observed from outside."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Daemon, cli, pid_alive, runs, wait_for, write_config

pytestmark = pytest.mark.slow

StartDaemon = Callable[..., Daemon]


def test_one_second_job_runs_on_time(tmp_path: Path, daemon_factory: StartDaemon) -> None:
    config = write_config(tmp_path, {"jobs": [{"name": "tick", "kind": "noop", "interval": "1s"}]})
    d = daemon_factory(config)
    rows = wait_for(lambda: len(runs(d.db, "tick")) >= 5 and runs(d.db, "tick"), 60, "5 runs")
    assert all(r["state"] == "succeeded" for r in rows[:5])
    # Every run is due on the grid of the first one (a whole number of seconds after the previous
    # run's scheduled time, one unless a start came more than a second late), not one second
    # after the previous start (no drift), and never starts early. How late it starts is the
    # machine's load: bench/dispatch.py measures that, a test must not time it.
    for prev, cur in itertools.pairwise(rows[:5]):
        gap = cur["scheduled_for"] - prev["scheduled_for"]
        assert gap >= 1.0 - 1e-6
        assert gap == pytest.approx(round(gap), abs=1e-6)
        assert cur["started"] >= cur["scheduled_for"]
    assert "run_started job=tick" in d.output()


def test_failing_job_is_recorded_and_the_loop_goes_on(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {
                    "name": "bad",
                    "kind": "fail",
                    "interval": "1s",
                    "settings": {"message": "the CMDB said no"},
                },
                {"name": "worse", "kind": "crash", "interval": "1s"},
                {"name": "good", "kind": "noop", "interval": "1s"},
            ]
        },
    )
    d = daemon_factory(config)
    wait_for(lambda: len(runs(d.db, "good")) >= 3, 15, "3 runs of good")
    bad, worse = runs(d.db, "bad"), runs(d.db, "worse")
    assert len(bad) >= 2
    assert {r["state"] for r in bad} == {"failed"}
    assert bad[0]["summary"] == "the CMDB said no"
    assert json.loads(bad[0]["counters"]) == {"tried": 1}
    assert worse[0]["state"] == "failed"
    assert worse[0]["summary"] == "RuntimeError: unexpected trouble"
    result = cli(config, "job", "history", "bad", "--json", "--limit", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["summary"] == "the CMDB said no"
    listing = json.loads(cli(config, "jobs", "list", "--json").stdout)
    by_name = {j["name"]: j for j in listing}
    assert by_name["bad"]["last_result"] == "failed"
    assert by_name["bad"]["last_error"] == "the CMDB said no"
    assert by_name["good"]["last_result"] == "succeeded"


def test_timeout_kills_the_job_and_its_children(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    pidfile, escaped = tmp_path / "child.pid", tmp_path / "escaped.pid"
    # One child in the group, one that left it (and its session) with setsid.
    script = f"sleep 300 & echo $! > {pidfile}; setsid sleep 300 & echo $! > {escaped}; wait"
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {
                    "name": "stuck",
                    "kind": "command",
                    "interval": "1h",
                    "timeout": "1s",
                    "settings": {"command": ["sh", "-c", script], "kill_grace": "1s"},
                }
            ]
        },
    )
    d = daemon_factory(config)
    try:
        row = wait_for(
            lambda: [r for r in runs(d.db, "stuck") if r["state"] != "running"], 15, "the timeout"
        )[0]
        assert row["state"] == "timed_out"
        assert row["summary"] == "timed out after 1s; 1 leftover process killed"
        assert row["finished"] - row["started"] < 150  # not the children's 300 s
        details = json.loads(row["details"])
        child, outside = int(pidfile.read_text()), int(escaped.read_text())
        assert not pid_alive(outside)
        wait_for(lambda: not pid_alive(child) and not pid_alive(details["pid"]), 5, "children gone")
    finally:
        if escaped.exists():
            with contextlib.suppress(OSError):
                os.kill(int(escaped.read_text()), signal.SIGKILL)


def test_kill_9_during_a_run_then_restart_gives_interrupted(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {"name": "a-quick", "kind": "noop", "interval": "1h"},
                {"name": "long", "kind": "sleep", "interval": "1h", "settings": {"seconds": 60}},
            ]
        },
    )
    d = daemon_factory(config)
    wait_for(lambda: any(r["state"] == "running" for r in runs(d.db, "long")), 15, "long running")
    before = runs(d.db)
    # Commands beside a live daemon never take its running run for a dead one.
    assert cli(config, "jobs", "list", "--json").returncode == 0
    assert cli(config, "jobs", "run").returncode == 0
    assert [r["state"] for r in runs(d.db, "long")] == ["running"]
    d.signal(signal.SIGKILL)
    d.wait(10)
    # Looking does not change anything either...
    assert [r["state"] for r in runs(d.db, "long")] == ["running"]
    listed = cli(config, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["state"] for r in runs(d.db, "long")] == ["running"]
    # ... a restart finds the dead run and records it as interrupted; nothing was lost.
    restarted = daemon_factory(config)
    wait_for(lambda: runs(d.db, "long")[0]["state"] == "interrupted", 15, "interrupted")
    restarted.signal(signal.SIGTERM)
    assert restarted.wait(15) == 0
    result = cli(config, "jobs", "list", "--json")
    assert result.returncode == 0, result.stderr
    after = runs(d.db)
    assert [r["id"] for r in after][: len(before)] == [r["id"] for r in before]
    long_run = next(r for r in after if r["job"] == "long")
    assert long_run["state"] == "interrupted"
    assert long_run["finished"] is not None
    assert next(r for r in after if r["job"] == "a-quick")["state"] == "succeeded"
    listing = {j["name"]: j for j in json.loads(result.stdout)}
    assert listing["long"]["last_result"] == "interrupted"


def test_sigterm_cancels_the_run_and_exits_0_within_grace(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(
        tmp_path,
        {
            "runner": {"shutdown_grace": "1s"},
            "jobs": [
                {
                    "name": "long",
                    "kind": "command",
                    "interval": "1h",
                    "settings": {"command": ["sleep", "60"], "kill_grace": "1s"},
                }
            ],
        },
    )
    d = daemon_factory(config)
    wait_for(lambda: any(r["state"] == "running" for r in runs(d.db, "long")), 15, "running")
    time.sleep(0.3)
    d.signal(signal.SIGTERM)
    assert d.wait(30) == 0  # not the job's 60 s: the grace cancelled it
    [row] = runs(d.db, "long")
    assert row["state"] == "cancelled"
    assert not pid_alive(json.loads(row["details"])["pid"])
    assert "shutting down: SIGTERM" in d.output()


def test_memory_growth_makes_the_daemon_exit_0_after_recording(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(
        tmp_path,
        {
            "runner": {"memory_growth_limit": "48MiB"},
            "jobs": [
                {"name": "hog", "kind": "allocate", "interval": "1s", "settings": {"mib": 32}}
            ],
        },
    )
    d = daemon_factory(config)
    assert d.wait(30) == 0
    rows = runs(d.db, "hog")
    # 32 MiB stays under the limit, 64 MiB does not: exactly two runs, both recorded.
    assert [r["state"] for r in rows] == ["succeeded", "succeeded"]
    out = d.output()
    assert "memory_limit" in out
    assert "more than the memory_growth_limit of 48 MiB" in out


def test_sighup_reloads_without_killing_the_running_job(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(
        tmp_path,
        {"jobs": [{"name": "long", "kind": "sleep", "interval": "1h", "settings": {"seconds": 2}}]},
    )
    d = daemon_factory(config)
    wait_for(lambda: any(r["state"] == "running" for r in runs(d.db, "long")), 15, "running")
    write_config(
        tmp_path,
        {
            "jobs": [
                {"name": "long", "kind": "sleep", "interval": "1h", "settings": {"seconds": 2}},
                {"name": "new", "kind": "noop", "interval": "1h"},
            ]
        },
    )
    d.signal(signal.SIGHUP)
    wait_for(lambda: runs(d.db, "new"), 10, "the new job")
    wait_for(lambda: runs(d.db, "long")[0]["state"] == "succeeded", 10, "long to finish")
    assert "reload: job 'new' added" in d.output()
    # A broken config on reload is reported and the running config stays.
    config.write_text(config.read_text().replace("interval: 1h", "interval: 5x", 1))
    d.signal(signal.SIGHUP)
    wait_for(lambda: "config reload failed" in d.output(), 10, "the reload error")
    assert "'5x' is not a duration" in d.output()
    assert d.proc.poll() is None


def test_jobs_run_exit_codes(tmp_path: Path) -> None:
    ok = write_config(tmp_path, {"jobs": [{"name": "a", "kind": "noop", "interval": "1h"}]})
    result = cli(ok, "jobs", "run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("a: succeeded")
    # Nothing pending now: the second invocation runs nothing and exits 0.
    again = cli(ok, "jobs", "run")
    assert (again.returncode, again.stdout.strip()) == (0, "no job is pending")
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    bad = write_config(
        bad_dir,
        {
            "jobs": [
                {"name": "a", "kind": "noop", "interval": "1h"},
                {"name": "b", "kind": "fail", "interval": "1h"},
            ]
        },
    )
    result = cli(bad, "jobs", "run")
    assert result.returncode == 1
    assert "b: failed" in result.stdout
    assert "a: succeeded" in result.stdout


def test_job_run_now(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {"name": "a", "kind": "noop", "interval": "1h"},
                {"name": "b", "kind": "fail", "interval": "1h"},
            ]
        },
    )
    assert cli(config, "job", "run", "a").returncode == 0
    assert cli(config, "job", "run", "b").returncode == 1
    assert cli(config, "job", "run", "a").returncode == 0
    rows = runs(tmp_path / "directord.db")
    assert [(r["job"], r["trigger"], r["state"]) for r in rows] == [
        ("a", "manual", "succeeded"),
        ("b", "manual", "failed"),
        ("a", "manual", "succeeded"),
    ]
    unknown = cli(config, "job", "run", "zzz")
    assert unknown.returncode == 2
    assert "unknown job 'zzz'" in unknown.stderr


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (
            {"name": "a", "kind": "noop", "interval": "5x"},
            "jobs[0] (a).interval: '5x' is not a duration (use 30s, 5m, 1h, 1d)",
        ),
        (
            {"name": "a", "kind": "nope", "interval": "1h"},
            "jobs[0] (a).kind: unknown job kind 'nope' (known: ",
        ),
        (
            {"name": "a", "kind": "command", "interval": "1h", "settings": {}},
            "jobs[0] (a).settings.command: missing (required)",
        ),
        (
            {"name": "a", "kind": "noop", "interval": "1h", "timeperiod": "never"},
            "jobs[0] (a).timeperiod: unknown time period 'never'",
        ),
        ({"name": "a", "kind": "noop", "intervall": "1h"}, "jobs[0] (a).intervall: unknown key"),
    ],
)
def test_broken_config_exits_2_naming_the_field(
    tmp_path: Path, job: dict[str, object], message: str
) -> None:
    config = write_config(tmp_path, {"jobs": [job]})
    for args in (["jobs", "run"], ["jobs", "run", "--forever"], ["config", "check"]):
        result = cli(config, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_config_check_lists_all_job_errors_at_once(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {"name": "a", "kind": "noop", "interval": "1h"},
                {"name": "a", "kind": "noop", "interval": "1h"},
                {"name": "b", "kind": "nope", "interval": "1h", "after": ["zz"]},
            ]
        },
    )
    result = cli(config, "config", "check")
    assert result.returncode == 2
    assert "jobs[1] (a).name: 'a' is already the name of jobs[0] (a)" in result.stderr
    assert "jobs[2] (b).after: unknown job 'zz'" in result.stderr
    assert "jobs[2] (b).kind: unknown job kind 'nope'" in result.stderr
    assert "3 errors" in result.stderr


def test_jobs_kinds_lists_plugins_and_broken_ones() -> None:
    result = cli(None, "jobs", "kinds", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    names = {k["kind"] for k in doc["kinds"]}
    assert {"command", "housekeeping", "noop", "allocate"} <= names
    assert doc["broken"][0]["kind"] == "broken"
    command = next(k for k in doc["kinds"] if k["kind"] == "command")
    assert "command" in command["settings"]["required"]


def test_max_lifetime_exits_0_after_the_running_job(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(
        tmp_path,
        {
            "runner": {"max_lifetime": "2s"},
            "jobs": [
                {"name": "long", "kind": "sleep", "interval": "1h", "settings": {"seconds": 3}}
            ],
        },
    )
    d = daemon_factory(config)
    started = time.monotonic()
    assert d.wait(30) == 0
    # It waited for the running job (3 s) rather than cancelling it at the 2 s mark.
    assert time.monotonic() - started >= 3
    assert [r["state"] for r in runs(d.db, "long")] == ["succeeded"]
    assert "max_lifetime of 2s reached" in d.output()


def test_a_second_daemon_on_the_same_database_is_refused(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(tmp_path, {"jobs": [{"name": "a", "kind": "noop", "interval": "1h"}]})
    first = daemon_factory(config)
    wait_for(lambda: runs(first.db, "a"), 15, "the first daemon")
    # Another HTTP port, so only the database is shared.
    other = write_config(
        tmp_path, {"jobs": [{"name": "a", "kind": "noop", "interval": "1h"}]}, name="other.yaml"
    )
    second = cli(other, "jobs", "run", "--forever", timeout=30)
    assert second.returncode == 2
    assert f"another directord daemon (pid {first.proc.pid}) already runs on" in second.stderr
    assert first.proc.poll() is None
