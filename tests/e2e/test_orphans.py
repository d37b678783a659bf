"""A job's children never outlive its run (issue 9.4), and a dead run shows as interrupted before
anyone records it (issue 9.12): real daemons, real processes, kill -9."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Daemon, cli, pid_alive, runs, wait_for, write_config

pytestmark = pytest.mark.slow

StartDaemon = Callable[..., Daemon]
LEFTOVERS = re.compile(r"; \d+ leftover process(es)? killed$")
SLEEPER = {"name": "long", "kind": "sleep", "interval": "1h", "settings": {"seconds": 60}}


@pytest.fixture
def pids(tmp_path: Path) -> Iterator[Callable[[str], int]]:
    """``pid(name)``: the pid a job wrote to ``name`` (waited for); every such process is
    killed after the test, whatever happened."""
    seen: list[int] = []

    def pid(name: str) -> int:
        path = tmp_path / name
        text = wait_for(lambda: path.exists() and path.read_text().strip(), 15, f"{name} written")
        seen.append(int(text))
        return int(text)

    try:
        yield pid
    finally:
        for p in seen:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)


def test_kill_9_then_restart_ends_the_orphans_before_the_job_runs_again(
    tmp_path: Path, daemon_factory: StartDaemon, pids: Callable[[str], int]
) -> None:
    # Each run notes whether the previous run's grandchild still lives when it starts (a zombie
    # that PID 1 has not reaped yet does not).
    script = (
        "p=$(cat grandchild.pid 2>/dev/null); "
        "if [ -n \"$p\" ] && [ -r /proc/$p/stat ] && ! grep -q ') [ZX] ' /proc/$p/stat; "
        "then echo overlap >> overlaps; fi; "
        "sleep 30 & echo $! > grandchild.pid; echo $$ > child.pid; wait"
    )
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {
                    "name": "long",
                    "kind": "command",
                    "interval": "1s",
                    "settings": {"command": ["sh", "-c", script]},
                }
            ]
        },
    )
    d = daemon_factory(config)
    child, grandchild = pids("child.pid"), pids("grandchild.pid")
    [first] = runs(d.db, "long")
    assert first["state"] == "running"
    wait_for(lambda: runs(d.db, "long")[0]["process_group"], 15, "the process group noted")
    group = runs(d.db, "long")[0]["process_group"]
    assert group.startswith(f"{child}:")
    d.signal(signal.SIGKILL)
    d.wait(10)
    # PR_SET_PDEATHSIG: the direct child hears of its parent's death; the grandchild does not.
    wait_for(lambda: not pid_alive(child), 15, "the direct child ended by PR_SET_PDEATHSIG")
    assert pid_alive(grandchild)
    (tmp_path / "child.pid").unlink()
    restarted = daemon_factory(config)
    # The orphan is ended before the job runs again, and its run's summary says so.
    wait_for(lambda: len(runs(d.db, "long")) >= 2, 30, "the job's next run")
    assert not pid_alive(grandchild)
    assert not (tmp_path / "overlaps").exists()
    old = runs(d.db, "long")[0]
    assert old["state"] == "interrupted"
    assert LEFTOVERS.search(old["summary"]), old["summary"]
    assert "leftovers_killed" in restarted.output()
    pids("child.pid")
    pids("grandchild.pid")


def test_a_job_that_daemonizes_leaves_nothing_behind(
    tmp_path: Path, pids: Callable[[str], int]
) -> None:
    config = write_config(
        tmp_path,
        {
            "jobs": [
                # setsid leaves the group and the session; it still holds the output pipe.
                {
                    "name": "setsid",
                    "kind": "command",
                    "interval": "1h",
                    "settings": {"command": ["sh", "-c", "setsid sleep 30 & echo $! > a.pid"]},
                },
                # A plain background child stays in the group, its output elsewhere.
                {
                    "name": "background",
                    "kind": "command",
                    "interval": "1h",
                    "settings": {
                        "command": ["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $! > b.pid"]
                    },
                },
                {
                    "name": "tidy",
                    "kind": "command",
                    "interval": "1h",
                    "settings": {"command": "true"},
                },
            ]
        },
    )
    result = cli(config, "jobs", "run")
    assert result.returncode == 0, result.stderr
    a, b = pids("a.pid"), pids("b.pid")
    assert not pid_alive(a)
    assert not pid_alive(b)
    by_job = {r["job"]: r for r in runs(tmp_path / "directord.db")}
    for name in ("setsid", "background"):
        assert by_job[name]["state"] == "succeeded"
        assert by_job[name]["summary"].endswith("; 1 leftover process killed"), by_job[name]
        assert f"{name}: succeeded" in result.stdout
    # A command that leaves nothing says nothing of it.
    assert "leftover" not in by_job["tidy"]["summary"]


def test_views_show_a_dead_run_as_interrupted_before_it_is_recorded(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(tmp_path, {"jobs": [SLEEPER]})
    d = daemon_factory(config)
    wait_for(lambda: runs(d.db, "long"), 15, "the run claimed")
    # While its daemon lives, the run is running in every view.
    listing = {j["name"]: j for j in json.loads(cli(config, "jobs", "list", "--json").stdout)}
    assert listing["long"]["running"] is not None
    [live] = json.loads(cli(config, "job", "history", "long", "--json").stdout)
    assert live["state"] == "running"
    d.signal(signal.SIGKILL)
    d.wait(10)
    history = cli(config, "job", "history", "long", "--json")
    assert history.returncode == 0, history.stderr
    [shown] = json.loads(history.stdout)
    assert shown["state"] == "interrupted"
    assert shown["summary"].startswith("interrupted: ")
    table = cli(config, "job", "history", "long")
    assert "interrupted" in table.stdout
    assert "running" not in table.stdout
    listed = cli(config, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    listing = {j["name"]: j for j in json.loads(listed.stdout)}
    assert listing["long"]["last_result"] == "interrupted"
    assert listing["long"]["running"] is None
    assert "interrupted" in cli(config, "jobs", "list").stdout
    # Derived, not written: the row still says running until a daemon records it.
    assert [r["state"] for r in runs(d.db, "long")] == ["running"]
    restarted = daemon_factory(config)
    wait_for(lambda: runs(d.db, "long")[0]["state"] == "interrupted", 15, "recorded")
    restarted.signal(signal.SIGTERM)
    assert restarted.wait(15) == 0
