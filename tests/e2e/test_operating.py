"""Operating the daemon: /health, /status, /metrics, the API, sd_notify, aiomonitor, the unit
file and the monitoring-plugin check, against the real daemon subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Daemon, cli, free_port, http, runs, wait_for, write_config

pytestmark = pytest.mark.slow

StartDaemon = Callable[..., Daemon]
SECRET = "correct-horse-battery-staple"
TOKEN = "t0ken-for-tests"


def operated(tmp_path: Path, jobs: list[dict[str, Any]], **extra: Any) -> tuple[Path, str]:
    port = free_port()
    (tmp_path / "token").write_text(TOKEN + "\n")
    config = write_config(
        tmp_path,
        {
            "http": {"listen": f"127.0.0.1:{port}", "token_file": "token", "stale_after": "2s"},
            "jobs": jobs,
            **extra,
        },
    )
    return config, f"http://127.0.0.1:{port}"


def up(base: str) -> Any:
    def ready() -> Any:
        try:
            return http(f"{base}/health", timeout=2)
        except OSError:
            return None

    return wait_for(ready, 20, "the HTTP server")


def get_json(url: str) -> tuple[int, Any]:
    code, body = http(url)
    return code, json.loads(body)


def test_health_status_metrics_and_no_secrets(tmp_path: Path, daemon_factory: StartDaemon) -> None:
    config, base = operated(
        tmp_path,
        [
            {"name": "tick", "kind": "noop", "interval": "1s"},
            {
                "name": "login",
                "kind": "secret",
                "interval": "1s",
                "settings": {"user": "monitor", "password": SECRET},
            },
            {
                "name": "cmd",
                "kind": "command",
                "interval": "1h",
                "settings": {"command": ["true"], "env": {"API_KEY": SECRET}},
            },
            {"name": "off", "kind": "noop", "interval": "1h", "disabled": True},
        ],
    )
    d = daemon_factory(config)
    up(base)
    wait_for(lambda: len(runs(d.db, "tick")) >= 3, 15, "3 runs")
    code, health = get_json(f"{base}/health")
    assert code == 200
    assert health["status"] == "ok"
    assert health["problems"] == []
    code, status = get_json(f"{base}/status")
    assert code == 200
    assert {"version", "node", "pid", "uptime", "rss", "running", "jobs"} <= set(status)
    assert status["pid"] == d.proc.pid
    assert status["node"] == "test-node"
    assert status["rss"] > 10 << 20
    jobs = {j["name"]: j for j in status["jobs"]}
    assert set(jobs) == {"tick", "login", "cmd", "off"}
    tick = jobs["tick"]
    for key in (
        "kind",
        "enabled",
        "interval",
        "timeperiod",
        "in_period",
        "last_attempt",
        "last_result",
        "last_error",
        "next_due",
    ):
        assert key in tick
    assert (tick["kind"], tick["enabled"], tick["interval"], tick["last_result"]) == (
        "noop",
        True,
        1.0,
        "succeeded",
    )
    assert jobs["off"]["enabled"] is False
    assert jobs["off"]["next_due"] is None
    assert jobs["login"]["settings"] == {"user": "monitor", "password": "***"}
    assert jobs["cmd"]["settings"]["env"] == "***"
    code, metrics_body = http(f"{base}/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics_body.decode())}
    runs_total = {
        s.labels["job"]: s.value
        for s in families["directord_runs"].samples
        if s.name == "directord_runs_total" and s.labels["state"] == "succeeded"
    }
    assert runs_total["tick"] >= 3
    for name in (
        "directord_run_duration_seconds",
        "directord_start_lateness_seconds",
        "directord_last_success_timestamp_seconds",
        "directord_running_jobs",
        "directord_jobs_pending",
    ):
        assert name in families, name
    d.signal(signal.SIGTERM)
    assert d.wait(15) == 0
    for text in (json.dumps(status), metrics_body.decode(), d.output()):
        assert SECRET not in text


def test_trigger_needs_the_token(tmp_path: Path, daemon_factory: StartDaemon) -> None:
    config, base = operated(
        tmp_path,
        [{"name": "later", "kind": "noop", "interval": "1h", "timeperiod": "never"}],
        timeperiods={"never": {"ranges": {"2001-01-01": "00:00-01:00"}}},
    )
    d = daemon_factory(config)
    up(base)
    url = f"{base}/api/jobs/later/run"
    assert http(url, "POST")[0] == 401
    assert http(url, "POST", {"Authorization": "Bearer wrong"})[0] == 403
    assert http(url, "POST", {"Authorization": f"Basic {TOKEN}"})[0] == 401
    assert http(f"{base}/api/jobs/nope/run", "POST", {"Authorization": f"Bearer {TOKEN}"})[0] == 404
    assert runs(d.db, "later") == []
    code, body = http(url, "POST", {"Authorization": f"Bearer {TOKEN}"})
    assert code == 202
    assert json.loads(body)["queued"] is True
    row = wait_for(lambda: runs(d.db, "later"), 10, "the triggered run")[0]
    assert row["trigger"] == "manual"
    assert TOKEN not in d.output()


def test_health_503_when_the_loop_was_wedged(tmp_path: Path, daemon_factory: StartDaemon) -> None:
    config, base = operated(
        tmp_path,
        [
            {
                "name": "wedge",
                "kind": "block",
                "interval": "1h",
                "settings": {"seconds": 3},
                "timeperiod": "never",
            }
        ],
        timeperiods={"never": {"ranges": {"2001-01-01": "00:00-01:00"}}},
    )
    d = daemon_factory(config)
    up(base)
    assert get_json(f"{base}/health")[0] == 200
    http(f"{base}/api/jobs/wedge/run", "POST", {"Authorization": f"Bearer {TOKEN}"})
    wait_for(lambda: runs(d.db, "wedge"), 10, "the wedge to start")
    # This request waits until the loop is free again, then tells what happened.
    code, health = get_json(f"{base}/health")
    assert code == 503, health
    assert any("event loop was blocked for" in p and "wedge" in p for p in health["problems"]), (
        health
    )
    assert "loop_stalled" in d.output()


def test_health_503_when_the_database_is_unreadable(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config, base = operated(tmp_path, [{"name": "a", "kind": "noop", "interval": "1h"}])
    d = daemon_factory(config)
    up(base)
    wait_for(lambda: runs(d.db, "a"), 10, "a run")
    assert get_json(f"{base}/health")[0] == 200
    d.db.rename(tmp_path / "moved.db")
    d.db.write_bytes(b"garbage, not a database" * 64)
    time.sleep(1.1)  # the store is pinged at most once a second
    code, health = get_json(f"{base}/health")
    assert code == 503
    assert any("database" in p for p in health["problems"]), health


def test_health_answers_fast_while_a_job_blocks_in_a_thread(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config, base = operated(
        tmp_path,
        [{"name": "slow", "kind": "thread-sleep", "interval": "1h", "settings": {"seconds": 5}}],
    )
    d = daemon_factory(config)
    up(base)
    wait_for(lambda: any(r["state"] == "running" for r in runs(d.db, "slow")), 10, "running")
    worst = 0.0
    for _ in range(20):
        started = time.monotonic()
        code, _ = http(f"{base}/health")
        worst = max(worst, time.monotonic() - started)
        assert code == 200
        time.sleep(0.1)
    assert worst < 0.2
    code, status = get_json(f"{base}/status")
    assert status["running"][0]["job"] == "slow"
    assert status["running"][0]["elapsed"] > 0


def _notify_socket(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    return sock


@pytest.mark.parametrize("abstract", [False, True])
def test_sd_notify(tmp_path: Path, daemon_factory: StartDaemon, abstract: bool) -> None:
    config, _ = operated(tmp_path, [{"name": "a", "kind": "noop", "interval": "1h"}])
    name = f"directord-test-{os.getpid()}-{time.monotonic_ns()}"
    address = "\0" + name if abstract else str(tmp_path / "notify.sock")
    sock = _notify_socket(address)
    messages: list[str] = []
    try:
        env = {"NOTIFY_SOCKET": "@" + name if abstract else address, "WATCHDOG_USEC": "1000000"}
        d = daemon_factory(config, env=env)

        def receive(until: float, done: Callable[[], bool] = lambda: False) -> None:
            while time.monotonic() < until and not done():
                with contextlib.suppress(TimeoutError):
                    messages.append(sock.recv(4096).decode())

        def watchdogs() -> list[str]:
            return [m for m in messages if m == "WATCHDOG=1"]

        # Wait for conditions, not for a time window: on a loaded machine the daemon may take
        # seconds to start, so counting messages in a fixed window was flaky.
        receive(time.monotonic() + 60, lambda: len(watchdogs()) >= 5)
        ready = [m for m in messages if "READY=1" in m]
        assert len(ready) == 1, (messages, d.output())
        assert "STATUS=idle" in ready[0] or "STATUS=running" in ready[0]
        assert len(watchdogs()) >= 5, (messages, d.output())
        assert any(m.startswith("STATUS=") for m in messages)
        d.signal(signal.SIGTERM)
        receive(time.monotonic() + 1)
        assert d.wait(10) == 0
        assert any("STOPPING=1" in m for m in messages)
    finally:
        sock.close()


def test_unit_file_verifies() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing (Debian package systemd)")
        pytest.skip("systemd-analyze not installed")
    unit = Path(__file__).parents[2] / "deploy" / "systemd" / "directord.service"
    text = unit.read_text()
    for key in (
        "Type=notify",
        "WatchdogSec=30",
        "NotifyAccess=main",
        "Restart=on-success",
        "StateDirectory=directord",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestartSec=",
        "TimeoutStopSec=45s",
    ):
        assert key in text, key
    # verify checks that ExecStart exists: point it at this installation's console script.
    exe = shutil.which("directord") or str(Path(os.sys.executable).parent / "directord")
    copy = Path(os.environ.get("TMPDIR", "/tmp")) / f"directord-{os.getpid()}.service"
    copy.write_text(text.replace("/usr/local/bin/directord", exe))
    try:
        result = subprocess.run(
            [tool, "verify", str(copy)], capture_output=True, text=True, check=False, timeout=60
        )
    finally:
        copy.unlink()
    assert result.returncode == 0, result.stderr


def test_aiomonitor_jobs_and_run(tmp_path: Path, daemon_factory: StartDaemon) -> None:
    port = free_port()
    while port + 2 > 65535:
        port = free_port()
    config, base = operated(
        tmp_path,
        [{"name": "nightly", "kind": "noop", "interval": "1h", "timeperiod": "never"}],
        monitor={"enabled": True, "port": port},
        timeperiods={"never": {"ranges": {"2001-01-01": "00:00-01:00"}}},
    )
    d = daemon_factory(config)
    up(base)
    output = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.settimeout(0.5)

        def read_for(seconds: float) -> bytes:
            data = b""
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                data += chunk
            return data

        # Answer the telnet negotiation as a terminal would: its type and its size.
        iac, sb, se, ttype, naws = 255, 250, 240, 24, 31
        conn.sendall(bytes([iac, sb, ttype, 0]) + b"xterm" + bytes([iac, se]))
        conn.sendall(bytes([iac, sb, naws, 0, 200, 0, 50, iac, se]))
        output += read_for(1.5)
        conn.sendall(b"jobs\r\n")
        output += read_for(2)
        conn.sendall(b"run nightly\r\n")
        output += read_for(2)
    text = output.decode("utf-8", "replace")
    assert "nightly" in text
    assert "last result" in text
    assert "queued a run of nightly" in text
    row = wait_for(lambda: runs(d.db, "nightly"), 10, "the run from the monitor")[0]
    assert row["trigger"] == "manual"


def test_health_check_command(tmp_path: Path, daemon_factory: StartDaemon) -> None:
    config, base = operated(
        tmp_path,
        [
            {"name": "good", "kind": "noop", "interval": "1h"},
            {"name": "bad", "kind": "fail", "interval": "1h"},
        ],
    )
    d = daemon_factory(config)
    up(base)
    wait_for(lambda: runs(d.db, "bad") and runs(d.db, "good"), 10, "both runs")
    result = cli(config, "health")
    assert result.returncode == 1, result.stdout
    assert result.stdout.startswith("WARNING - 2 jobs, 1 failing, 0 overdue | jobs=2 failing=1")
    assert "failing: bad" in result.stdout
    d.signal(signal.SIGTERM)
    d.wait(10)
    gone = cli(config, "health")
    assert gone.returncode == 3
    assert gone.stdout.startswith("UNKNOWN - cannot reach directord")
