"""Helpers shared by the test modules: free ports, configs, the CLI and the daemon as
subprocesses, reading the SQLite file, waiting for a condition. Fixtures live in conftest.py."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from directord.supervisor import RunReport, Supervisor

PLUGINS = Path(__file__).parent / "plugins"

# A factory fixture's callable (``make(...)``, ``pipeline(...)``).
Make = Callable[..., Any]


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


def healthy(base: str) -> bool:
    """Whether the daemon at ``base`` answers /health with 200 (not up yet: False)."""
    try:
        return http(f"{base}/health", timeout=2)[0] == 200
    except OSError:
        return False


def plugin_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGINS), env.get("PYTHONPATH", "")) if p)
    env.pop("DIRECTORD_CONFIG", None)
    env.update(extra)
    return env


def write_config(tmp_path: Path, data: dict[str, Any], name: str = "config.yaml") -> Path:
    """A config file in ``tmp_path``; its HTTP server listens on a free port unless ``data``
    says otherwise, so a test never collides with a daemon on the default port 8040."""
    http_section = {"listen": f"127.0.0.1:{free_port()}", **data.get("http", {})}
    data = {"database": "sqlite:///directord.db", "node": "test-node", **data, "http": http_section}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


class FakeClock:
    """A wall clock that stands still until a test moves ``now``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def supervisor_on(
    raw: dict[str, Any], tmp_path: Path, clock: Callable[[], float]
) -> AsyncIterator[Supervisor]:
    """A started Supervisor for the config ``raw`` on its store under ``tmp_path``."""
    from directord import config as config_mod  # noqa: PLC0415
    from directord import store  # noqa: PLC0415
    from directord.jobs import registry  # noqa: PLC0415
    from directord.supervisor import Supervisor  # noqa: PLC0415

    kinds = registry.discover()
    settings = config_mod.parse(raw, base_dir=tmp_path, kinds=kinds)
    db = store.open_store(settings.database_url())
    await db.open()
    sup = Supervisor(settings, db, kinds, clock=clock)
    try:
        await sup.start()
        yield sup
    finally:
        await sup.close()
        await db.close()


async def run(sup: Supervisor, job: str) -> RunReport:
    """Run ``job`` now on an in-process supervisor; it must have been claimed."""
    report = await sup.run_now(job)
    assert report is not None
    return report


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


# How many times longer than a test's own deadline a wait may take (DIRECTORD_TEST_SLACK).
WAIT_SLACK = float(os.environ.get("DIRECTORD_TEST_SLACK", "3"))


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it is truthy (and return it). A daemon of this test that exits
    without being told to ends the wait at once, its exit code and output in the message.

    ``timeout`` is stretched by ``WAIT_SLACK``: it only bounds how long a failing test takes, so
    a loaded 2-core CI machine must never be what makes a test fail."""
    timeout *= WAIT_SLACK
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for d in Daemon.live:
            if d.exited_early():
                raise AssertionError(f"waiting for {what}: {d.describe_exit()}")
        if time.monotonic() >= deadline:
            exited = [d.describe_exit() for d in Daemon.live if d.proc.poll() is not None]
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}" + "".join(f"\n{e}" for e in exited)
            )
        time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (PID 1 here may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Daemon:
    """``directord jobs run --forever`` as a subprocess, stopped in a finally."""

    # The daemons of the running test (daemon_factory empties it): wait_for watches them.
    live: list[Daemon] = []  # noqa: RUF012

    def __init__(
        self,
        config: Path,
        *extra: str,
        env: dict[str, str] | None = None,
        verbose: bool = True,
    ) -> None:
        self.config = config
        self.log = config.parent / "daemon.log"
        self._log_file = self.log.open("w")
        self.told_to_stop = False
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "directord",
                "--config",
                str(config),
                *(["--verbose"] if verbose else []),
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
        Daemon.live.append(self)

    @property
    def db(self) -> Path:
        return self.config.parent / "directord.db"

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text()

    def exited_early(self) -> bool:
        """It exited although the test sent no signal (a start-up error, a crash)."""
        return not self.told_to_stop and self.proc.poll() is not None

    def describe_exit(self) -> str:
        tail = self.output()[-4000:]
        return (
            f"the daemon (pid {self.proc.pid}) exited with code {self.proc.returncode}; "
            f"its output:\n{tail}"
        )

    def signal(self, sig: int) -> None:
        self.told_to_stop = True
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        # Waiting for the exit means the test expects one (max_lifetime, the memory rule).
        self.told_to_stop = True
        return self.proc.wait(timeout)

    def stop(self) -> None:
        self.told_to_stop = True
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
        with contextlib.suppress(ValueError):
            Daemon.live.remove(self)
