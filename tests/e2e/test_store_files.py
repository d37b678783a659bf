"""The SQLite file under a real daemon: its WAL under readers and kill -9, a read-only database."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Daemon, cli, free_port, http, plugin_env, wait_for, write_config

pytestmark = pytest.mark.slow

StartDaemon = Callable[..., Daemon]
CYCLES = 20


def without_root_powers() -> list[str]:
    """A command prefix that makes file permissions bind (root would write anyway): root drops
    the capabilities that override them; anyone else needs nothing."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")  # util-linux, essential in Debian
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to test permissions as root")
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]


def run_once(config: Path) -> subprocess.CompletedProcess[str]:
    command = [*without_root_powers(), sys.executable, "-m", "directord"]
    return subprocess.run(
        [*command, "--config", str(config), "jobs", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env=plugin_env(),
        check=False,
    )


def test_a_read_only_database_is_a_clear_error(tmp_path: Path) -> None:
    """Issue 9.9: exit 2 naming the path and the fix, never a traceback."""
    config = write_config(tmp_path, {"jobs": [{"name": "a", "kind": "noop", "interval": "1h"}]})
    db = tmp_path / "directord.db"
    assert cli(config, "jobs", "run").returncode == 0
    db.chmod(0o444)
    try:
        result = run_once(config)
    finally:
        db.chmod(0o600)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"the database {db} cannot be written" in result.stderr
    assert "writable by the user running directord" in result.stderr

    tmp_path.chmod(0o555)  # the file is writable, but SQLite must create -wal and -shm beside it
    try:
        result = run_once(config)
    finally:
        tmp_path.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "its directory is read-only" in result.stderr
    assert str(tmp_path) in result.stderr


def test_a_database_directory_that_cannot_be_created(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    config = write_config(
        tmp_path,
        {
            "database": f"sqlite:///{locked / 'sub' / 'directord.db'}",
            "jobs": [{"name": "a", "kind": "noop", "interval": "1h"}],
        },
    )
    try:
        result = run_once(config)
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"cannot create the directory {locked / 'sub'}" in result.stderr


def deleted_wal(pid: int) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if "-wal" in target and target.endswith("(deleted)"):
            found.append(target)
    return found


def test_every_executed_run_has_its_row_under_health_readers_and_kill_9(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    """Issue 9.1: /health, a second reader and kill -9, 20 times: no run is lost, the daemon
    never writes to a deleted WAL."""
    port = free_port()
    ran = tmp_path / "ran.txt"
    config = write_config(
        tmp_path,
        {
            "http": {"listen": f"127.0.0.1:{port}", "stale_after": "5s"},
            "jobs": [
                {
                    "name": "tick",
                    "kind": "command",
                    "interval": "1s",
                    "settings": {"command": ["sh", "-c", f"echo ran >> {ran}"]},
                }
            ],
        },
    )
    db = tmp_path / "directord.db"
    stop = threading.Event()
    reads: list[int] = []
    health: list[int | None] = []

    def lines() -> int:
        return len(ran.read_text().splitlines()) if ran.exists() else 0

    def read_elsewhere() -> None:
        # /health polled, and a reader in another process (this one): open, read, close.
        while not stop.is_set():
            health.append(_health(port))
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                try:
                    reads.append(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
                finally:
                    conn.close()
            except sqlite3.Error:
                pass  # not created or migrated yet
            stop.wait(0.05)

    reader = threading.Thread(target=read_elsewhere, daemon=True)
    reader.start()
    try:
        for cycle in range(CYCLES):
            d = daemon_factory(config)
            before = lines()
            wait_for(lambda d=d: d.proc.poll() is None and _health(port) == 200, 60, "/health 200")
            wait_for(lambda before=before: lines() >= before + 2, 60, "two runs of this cycle")
            history = cli(config, "job", "history", "tick")
            assert history.returncode == 0, history.stderr
            assert _health(port) == 200
            wait_for(lambda before=before: lines() >= before + 3, 60, "a run after the reads")
            assert deleted_wal(d.proc.pid) == [], f"cycle {cycle}: {d.output()}"
            d.signal(signal.SIGKILL)
            d.wait(30)
    finally:
        stop.set()
        reader.join(10)
    assert reads, "the second reader never read"
    assert health.count(200) >= CYCLES, "/health was not polled while the daemon ran"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT count(*) FROM runs WHERE job = 'tick'").fetchone()[0]
        succeeded = conn.execute(
            "SELECT count(*) FROM runs WHERE job = 'tick' AND state = 'succeeded'"
        ).fetchone()[0]
    finally:
        conn.close()
    executed = lines()
    assert executed >= 3 * CYCLES
    # A run's row is written before its command starts: a row without a line is a run killed
    # before it ran, a line without a row is a lost run.
    assert rows >= executed, f"{executed} runs executed, {rows} recorded"
    assert succeeded >= executed - CYCLES  # at most the run in flight at each kill is succeeded


def _health(port: int) -> int | None:
    try:
        return http(f"http://127.0.0.1:{port}/health", timeout=5)[0]
    except OSError:
        return None
