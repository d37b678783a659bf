"""A real daemon on a real SQLite file that stops taking writes (issue 9.2 and 13.6): the file and
its directory made immutable, a second process holding the write lock past the busy timeout, a
full file system, another process taking the job's slot. The daemon never exits or drops a job,
/health says 503 with the reason meanwhile, and afterwards nothing is lost: every executed run
has its row, none twice, none left ``running`` after SIGTERM.

Why ``chattr +i``: the tests run as root, and root writes through file modes (and a running
daemon holds its descriptors open anyway, so a ``chmod`` would not stop it). The immutable
attribute binds root too, on descriptors already open, and ext4 (this machine's file system)
has it. The -wal is made immutable with the file (in WAL mode every commit goes to the -wal
first: an immutable main file alone stops nothing but checkpoints), the -shm is not: SQLite
maps it into memory, and a write to an immutable mapped page is SIGBUS, which no program
survives. A read-only bind mount in an unshared mount namespace cannot do it either: remounting
read-only fails with EBUSY while a file is open for writing on it. A full disk is a small tmpfs
that the test fills. In CI (CI=true) a mechanism that is missing fails the test instead of
skipping it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, cli, free_port, http, wait_for, write_config

pytestmark = pytest.mark.slow

StartDaemon = Callable[..., Daemon]
OUTAGE = 10.0  # seconds the database stays unwritable


def unavailable(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}: needed in CI")
    pytest.skip(what)


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[[list[Path], bool], None]]:
    """``set(paths, on)``: chattr +i / -i; every path is made mutable again at teardown (an
    immutable file would also keep pytest from ever removing the temporary directory)."""
    probe = tmp_path / "chattr-probe"
    probe.write_text("")
    tried = subprocess.run(
        ["chattr", "+i", str(probe)], capture_output=True, text=True, check=False
    )
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True, check=False)
    if tried.returncode != 0:
        unavailable(f"chattr +i does not work here: {tried.stderr.strip()}")
    touched: set[Path] = set()

    def set_immutable(paths: list[Path], on: bool) -> None:
        touched.update(paths)
        flag = "+i" if on else "-i"
        subprocess.run(["chattr", flag, *map(str, paths)], check=True)

    try:
        yield set_immutable
    finally:
        if touched:
            subprocess.run(["chattr", "-i", *map(str, touched)], check=False)


def setup(tmp_path: Path, data: Path, jobs: dict[str, str], **extra: Any) -> tuple[Path, int]:
    """A config whose database is ``data``/directord.db and whose jobs (name: shell command,
    every second) each append a line to out/NAME when they run (outside ``data``)."""
    data.mkdir(exist_ok=True)
    (tmp_path / "out").mkdir()
    port = free_port()
    config = write_config(
        tmp_path,
        {
            "database": f"sqlite:///{data / 'directord.db'}",
            "http": {"listen": f"127.0.0.1:{port}"},
            **extra,
            "jobs": [
                {
                    "name": name,
                    "kind": "command",
                    "interval": "1s",
                    "settings": {
                        "command": ["sh", "-c", f"{cmd}; echo ran >> {tmp_path / 'out' / name}"]
                    },
                }
                for name, cmd in jobs.items()
            ],
        },
    )
    return config, port


def started(
    daemon_factory: StartDaemon, config: Path, port: int, tmp_path: Path, jobs: dict[str, str]
) -> Daemon:
    """The daemon on ``setup``'s config once every job ran twice and a run of ``slow`` is in
    flight: the fault that follows meets that run's finish, one the database does not take."""
    d = daemon_factory(config)
    wait_for(lambda: all(lines(tmp_path, j) >= 2 for j in jobs), 60, "two runs of every job")
    wait_for(lambda: running_job(port, "slow"), 30, "a run of slow in flight")
    return d


def lines(tmp_path: Path, job: str) -> int:
    out = tmp_path / "out" / job
    return len(out.read_text().splitlines()) if out.exists() else 0


def rows(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY id")]
    finally:
        conn.close()


def health(port: int) -> tuple[int | None, list[str]]:
    try:
        code, body = http(f"http://127.0.0.1:{port}/health", timeout=5)
    except OSError:
        return None, []
    return code, json.loads(body).get("problems", [])


def status(port: int) -> dict[str, Any]:
    code, body = http(f"http://127.0.0.1:{port}/status", timeout=5)
    assert code == 200, body
    result: dict[str, Any] = json.loads(body)
    return result


def running_job(port: int, job: str) -> bool:
    return any(r["job"] == job and r["run_id"] is not None for r in status(port)["running"])


def running_id(port: int, job: str) -> int | None:
    return next((r["run_id"] for r in status(port)["running"] if r["job"] == job), None)


def failing_with(port: int, text: str) -> list[str] | None:
    code, problems = health(port)
    return problems if code == 503 and any(text in p for p in problems) else None


def nothing_lost(tmp_path: Path, db: Path, jobs: list[str]) -> list[dict[str, Any]]:
    """Every executed run has its row, finished; no run twice; none left running."""
    found = rows(db)
    assert [r for r in found if r["state"] == "running"] == []
    slots = Counter((r["job"], r["scheduled_for"]) for r in found)
    assert [s for s, n in slots.items() if n > 1] == []
    for job in jobs:
        mine = [r for r in found if r["job"] == job]
        # A row is written before its command starts, and every command here ends well within
        # shutdown_grace: as many rows as lines, each one succeeded.
        assert len(mine) == lines(tmp_path, job), (job, mine)
        assert {r["state"] for r in mine} == {"succeeded"}, (job, mine)
    return found


def stop(d: Daemon) -> None:
    d.signal(signal.SIGTERM)
    assert d.wait(60) == 0, d.output()


def test_an_unwritable_database_for_10s_loses_nothing(
    tmp_path: Path, daemon_factory: StartDaemon, immutable: Callable[[list[Path], bool], None]
) -> None:
    """Issue 13.6 on SQLite: the file (and its -wal) made unwritable and its directory
    read-only for 10 s: no exit, /health 503 meanwhile, recovery, nothing lost."""
    data = tmp_path / "data"
    jobs = {"a": "true", "b": "true", "slow": "sleep 2"}
    config, port = setup(tmp_path, data, jobs)
    db = data / "directord.db"
    d = started(daemon_factory, config, port, tmp_path, jobs)
    assert health(port)[0] == 200
    frozen = [Path(f"{db}-wal"), db, data]
    immutable(frozen, True)
    began = time.monotonic()
    wait_for(lambda: failing_with(port, "database not writable since"), 30, "503")
    # (/status is re-rendered at most once a second)
    wait_for(
        lambda: str(status(port)["store"]["problem"]).startswith("database not writable since"),
        30,
        "/status store.problem",
    )
    check = cli(None, "health", "--url", f"http://127.0.0.1:{port}")
    assert check.returncode == 2, check.stdout
    assert check.stdout.startswith("CRITICAL - database not writable since"), check.stdout
    while time.monotonic() - began < OUTAGE:
        assert d.proc.poll() is None, d.describe_exit()
        assert health(port)[0] == 503
        time.sleep(0.2)
    wait_for(lambda: "finish_kept" in d.output(), 30, "the finish of slow kept in memory")
    wait_for(lambda: status(port)["store"]["kept_finishes"] >= 1, 30, "/status kept_finishes")
    immutable(frozen, False)
    wait_for(lambda: health(port)[0] == 200, 60, "/health 200 after the outage")
    after = {j: lines(tmp_path, j) for j in jobs}
    wait_for(lambda: all(lines(tmp_path, j) >= after[j] + 2 for j in jobs), 60, "runs after")
    clear = {"problem": None, "down_since": None, "kept_finishes": 0}
    wait_for(lambda: status(port)["store"] == clear, 30, "/status store clear")
    stop(d)
    nothing_lost(tmp_path, db, list(jobs))
    log = d.output()
    assert log.count("database_down") == 1, log
    assert log.count("database_back") == 1, log
    assert "Traceback" not in log


def test_a_stop_during_an_outage_says_what_it_could_not_write(
    tmp_path: Path, daemon_factory: StartDaemon, immutable: Callable[[list[Path], bool], None]
) -> None:
    """SIGTERM while the database takes nothing: the kept finish is retried within
    shutdown_grace, then named loudly; the daemon still exits 0, and the next one records the
    run as interrupted."""
    data = tmp_path / "data"
    config, port = setup(tmp_path, data, {"slow": "sleep 1"}, runner={"shutdown_grace": "2s"})
    db = data / "directord.db"
    d = daemon_factory(config)
    wait_for(lambda: lines(tmp_path, "slow") >= 1, 60, "a run of slow")
    # One look at /status: a second one may already see the next run, not yet claimed (no id).
    run_id = wait_for(lambda: running_id(port, "slow"), 30, "a run of slow in flight")
    frozen = [Path(f"{db}-wal"), db, data]
    immutable(frozen, True)
    wait_for(lambda: "finish_kept" in d.output(), 30, "the finish of slow kept in memory")
    stop(d)
    log = d.output()
    assert f"run {run_id} of slow ended succeeded" in log, log
    assert "could NOT be written" in log
    immutable(frozen, False)
    assert [r["state"] for r in rows(db) if r["id"] == run_id] == ["running"]
    again = daemon_factory(config)
    wait_for(
        lambda: [r["state"] for r in rows(db) if r["id"] == run_id] == ["interrupted"],
        60,
        "the next daemon recording the run interrupted",
    )
    stop(again)


def test_a_write_lock_held_past_the_busy_timeout(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    """Issue 9.2: another process holds the write lock longer than the busy timeout (30 s):
    claims and finishes fail with "database is locked", the daemon retries, and when the lock
    goes nothing is lost."""
    data = tmp_path / "data"
    jobs = {"a": "true", "slow": "sleep 2"}
    config, port = setup(tmp_path, data, jobs)
    db = data / "directord.db"
    d = started(daemon_factory, config, port, tmp_path, jobs)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        wait_for(lambda: failing_with(port, "database is locked"), 120, "503: database is locked")
        assert d.proc.poll() is None, d.describe_exit()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()
    wait_for(lambda: health(port)[0] == 200, 120, "/health 200 after the lock")
    after = {j: lines(tmp_path, j) for j in jobs}
    wait_for(lambda: all(lines(tmp_path, j) >= after[j] + 2 for j in jobs), 60, "runs after")
    stop(d)
    nothing_lost(tmp_path, db, list(jobs))
    log = d.output()
    assert log.count("database_down") == 1, log
    assert log.count("database_back") == 1, log


@contextlib.contextmanager
def small_tmpfs(where: Path) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """A file that takes every free block of ``folder``'s file system."""
    filler = folder / "filler"
    with filler.open("wb") as f:
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
                f.flush()
    return filler


def test_a_full_disk(tmp_path: Path, daemon_factory: StartDaemon) -> None:
    """Issue 9.2: "database or disk is full" (a small tmpfs filled up): the daemon waits, says
    so on /health, and goes on once there is room, nothing lost."""
    with small_tmpfs(tmp_path / "data") as data:
        jobs = {"a": "true", "slow": "sleep 2"}
        config, port = setup(tmp_path, data, jobs)
        db = data / "directord.db"
        d = started(daemon_factory, config, port, tmp_path, jobs)
        filler = fill(data)
        wait_for(lambda: failing_with(port, "database or disk is full"), 60, "503: disk full")
        assert d.proc.poll() is None, d.describe_exit()
        filler.unlink()
        wait_for(lambda: health(port)[0] == 200, 60, "/health 200 with room again")
        after = {j: lines(tmp_path, j) for j in jobs}
        wait_for(lambda: all(lines(tmp_path, j) >= after[j] + 2 for j in jobs), 60, "runs after")
        stop(d)
        nothing_lost(tmp_path, db, list(jobs))


def test_a_slot_taken_by_another_process_is_tried_again(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    """Issue 9.2: `job run NAME` and `jobs run` in other processes take the job while the daemon
    waits for it; the daemon's refused claim does not drop the job from its schedule."""
    config, port = setup(tmp_path, tmp_path / "data", {"tick": "sleep 0.5"})
    db = tmp_path / "data" / "directord.db"
    d = daemon_factory(config)
    wait_for(lambda: lines(tmp_path, "tick") >= 1, 60, "a run of tick")

    def refused() -> bool:
        cli(config, "job", "run", "tick")
        cli(config, "jobs", "run")
        return "run_skipped" in d.output()

    wait_for(refused, 120, "a claim of the daemon refused")
    skipped_at = time.time()
    wait_for(
        lambda: (
            sum(
                r["trigger"] == "schedule"
                and r["started"] > skipped_at
                and str(r["owner"]).startswith(f"{d.proc.pid}:")
                for r in rows(db)
            )
            >= 3
        ),
        60,
        "three scheduled runs of the daemon after its refused claim",
    )
    assert health(port)[0] == 200
    stop(d)
    nothing_lost(tmp_path, db, ["tick"])
