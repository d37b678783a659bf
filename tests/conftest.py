"""Shared helpers: the test plugin on PYTHONPATH, daemon subprocesses, reading the SQLite file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from directord import config as config_mod
from directord import store
from directord.jobs import registry
from directord.supervisor import Supervisor

PLUGINS = Path(__file__).parent / "plugins"
# In-process tests discover the test plugin's entry points the same way subprocesses do.
if str(PLUGINS) not in sys.path:
    sys.path.append(str(PLUGINS))


@contextlib.asynccontextmanager
async def supervised(raw: dict[str, Any], base_dir: Path) -> AsyncIterator[Supervisor]:
    """A started supervisor on a real SQLite file, from a raw config; closed on the way out."""
    settings = config_mod.parse(raw, base_dir=base_dir, kinds=registry.discover())
    db = store.open_store(settings.database_url())
    await db.open()
    sup = Supervisor(settings, db, registry.discover())
    try:
        await sup.start()
        yield sup
    finally:
        sup.shutdown("test over")
        await sup.close()
        await db.close()


@pytest.fixture
async def supervisor_factory() -> AsyncIterator[Callable[..., Any]]:
    """``await make(raw, base_dir)``: as many supervisors as a test wants, all closed after it."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(raw: dict[str, Any], base_dir: Path) -> Supervisor:
            return await stack.enter_async_context(supervised(raw, base_dir))

        yield make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def plugin_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGINS), env.get("PYTHONPATH", "")) if p)
    env.pop("DIRECTORD_CONFIG", None)
    env.update(extra)
    return env


def write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    data = {"database": "sqlite:///directord.db", "node": "test-node", **data}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cli(config: Path | None, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "directord"]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=plugin_env(),
        check=False,
    )


def runs(db: Path, job: str | None = None) -> list[dict[str, Any]]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        sql = "SELECT * FROM runs"
        params: tuple[str, ...] = ()
        if job is not None:
            sql += " WHERE job = ?"
            params = (job,)
        return [dict(r) for r in conn.execute(sql + " ORDER BY id", params)]
    except sqlite3.OperationalError:
        return []  # not migrated yet
    finally:
        conn.close()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (PID 1 here may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Daemon:
    """``directord jobs run --forever`` as a subprocess, stopped in a finally."""

    def __init__(self, config: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log = config.parent / "daemon.log"
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "directord",
                "--config",
                str(config),
                "--verbose",
                *extra,
                "jobs",
                "run",
                "--forever",
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=plugin_env(**(env or {})),
            start_new_session=True,
        )

    @property
    def db(self) -> Path:
        return self.config.parent / "directord.db"

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        # Whatever it started in its session (children of a killed daemon) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log_file.close()


@pytest.fixture
def daemon_factory() -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, *extra: str, env: dict[str, str] | None = None) -> Daemon:
        d = Daemon(config, *extra, env=env)
        started.append(d)
        return d

    try:
        yield start
    finally:
        for d in started:
            d.stop()
