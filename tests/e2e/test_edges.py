"""The daemon's edges as a subprocess: descriptors under a low ulimit, slow clients, signals
during start-up, reloads that would empty the schedule, and the processes a job leaves behind."""

from __future__ import annotations

import contextlib
import json
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, http, plugin_env, runs, wait_for, write_config

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def daemon(config: Path, nofile: int | None = None) -> Iterator[subprocess.Popen[str]]:
    """``jobs run --forever`` with an optional RLIMIT_NOFILE; its output in daemon.log."""

    def limit() -> None:
        if nofile is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

    log = (config.parent / "daemon.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "directord", "--config", str(config), "--verbose"]
        + ["jobs", "run", "--forever"],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env=plugin_env(),
        preexec_fn=limit,
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
            import os

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


StartCheck = Callable[[], None]
