"""The daemon's edges as a subprocess: descriptors under a low ulimit, slow clients, signals
during start-up, reloads that would empty the schedule, and the processes a job leaves behind."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, http, plugin_env, runs, wait_for, write_config

pytestmark = pytest.mark.slow


DAEMON = [sys.executable, "-m", "directord"]


@contextlib.contextmanager
def daemon(config: Path, nofile: int | None = None) -> Iterator[subprocess.Popen[str]]:
    """``jobs run --forever`` with an optional RLIMIT_NOFILE; its output in daemon.log."""

    def limit() -> None:
        if nofile is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    log = (config.parent / "daemon.log").open("w")
    proc = subprocess.Popen(
        [*DAEMON, "--config", str(config), "--verbose", "jobs", "run", "--forever"],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=plugin_env(),
        preexec_fn=limit,  # noqa: PLW1509 - only setrlimit, in the fork of a test process
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def output(config: Path) -> str:
    return (config.parent / "daemon.log").read_text()


def test_idle_connections_under_a_low_ulimit_leave_jobs_and_health_alone(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(
        tmp_path,
        {
            "http": {"listen": f"127.0.0.1:{port}"},
            "jobs": [
                {
                    "name": "tick",
                    "kind": "command",
                    "interval": "1s",
                    "settings": {"command": ["sh", "-c", "echo tick; echo tock >&2"]},
                }
            ],
        },
    )
    base = f"http://127.0.0.1:{port}"
    held: list[socket.socket] = []
    with daemon(config, nofile=64) as proc:

        def health() -> int | None:
            try:
                return http(f"{base}/health", timeout=5)[0]
            except OSError:
                return None

        wait_for(health, 30, f"the HTTP server\n{output(config)}")
        try:
            for _ in range(120):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                held.append(s)
            before = len(runs(tmp_path / "directord.db", "tick"))
            wait_for(
                lambda: len(runs(tmp_path / "directord.db", "tick")) >= before + 4,
                40,
                "four more runs while the idle connections are open",
            )
            assert health() == 200, output(config)
        finally:
            for s in held:
                s.close()
        assert proc.poll() is None, output(config)
        rows = runs(tmp_path / "directord.db", "tick")
        assert [r for r in rows if r["state"] != "succeeded" and r["state"] != "running"] == []
        assert "Too many open files" not in output(config)


def handler_installed(pid: int, sig: int) -> bool:
    """Whether the process catches ``sig`` (its SigCgt mask in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask.split()[1], 16) & (1 << (sig - 1)))


def start_up_config(tmp_path: Path) -> Path:
    port = free_port()
    return write_config(
        tmp_path,
        {
            "http": {"listen": f"127.0.0.1:{port}"},
            "jobs": [{"name": "tick", "kind": "noop", "interval": "1h"}],
        },
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3, 0.5, 0.8, 1.5])
def test_a_stop_signal_during_start_up_is_a_clean_exit_0(
    tmp_path: Path, delay: float, sig: signal.Signals
) -> None:
    for attempt in range(2):
        workdir = tmp_path / f"attempt{attempt}"
        workdir.mkdir()
        config = start_up_config(workdir)
        with daemon(config) as proc:
            # From the moment our handlers are in place (Python's own start-up comes before;
            # SIGINT it catches itself from early on, SIGTERM is ours alone).
            wait_for(
                lambda: handler_installed(proc.pid, signal.SIGTERM) or proc.poll() is not None,
                30,
                "the signal handlers",
            )
            time.sleep(delay)
            proc.send_signal(sig)
            code = proc.wait(30)
            text = output(config)
        assert code == 0, (delay, text)
        assert "Traceback" not in text, text
        assert "CancelledError" not in text, text
        assert f"{sig.name} during start-up" in text or f"shutting down: {sig.name}" in text, text


def test_a_second_sigterm_skips_the_grace(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "http": {"listen": f"127.0.0.1:{free_port()}"},
            "runner": {"shutdown_grace": "10m"},
            "jobs": [
                {
                    "name": "long",
                    "kind": "command",
                    "interval": "1h",
                    "settings": {"command": ["sleep", "300"], "kill_grace": "1s"},
                }
            ],
        },
    )
    with daemon(config) as proc:
        db = tmp_path / "directord.db"
        wait_for(lambda: any(r["state"] == "running" for r in runs(db, "long")), 30, "running")
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "waiting up to 600s" in output(config), 15, "the grace to begin")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, output(config)
    [row] = runs(db, "long")
    assert row["state"] == "cancelled"
    assert "cancelling 1 running job(s) without waiting" in output(config)


def test_a_reload_that_would_remove_every_job_is_refused(tmp_path: Path) -> None:
    jobs = [
        {"name": "tick", "kind": "noop", "interval": "1s"},
        {"name": "tock", "kind": "noop", "interval": "1h"},
    ]
    port = free_port()
    config = write_config(tmp_path, {"http": {"listen": f"127.0.0.1:{port}"}, "jobs": jobs})
    original = config.read_text()
    db = tmp_path / "directord.db"
    with daemon(config) as proc:
        wait_for(lambda: len(runs(db, "tick")) >= 2, 30, "two runs of tick")
        config.write_text("")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reload refused" in output(config), 15, "the refusal")
        assert "write 'jobs: []' to really remove every job" in output(config)
        seen = len(runs(db, "tick"))
        wait_for(lambda: len(runs(db, "tick")) >= seen + 2, 30, "tick still scheduled")
        # One job less: allowed, and said at WARNING.
        config.write_text(original.replace("- name: tock", "- name: tock2"))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload removes 1 job(s): tock" in output(config), 15, "removal")
        assert "WARNING reload_removes" in output(config)
        # An explicit empty list is taken at its word.
        config.write_text(original.split("jobs:")[0] + "jobs: []\n")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload removes 2 job(s): tick, tock2" in output(config), 15, "all")
        assert proc.poll() is None
