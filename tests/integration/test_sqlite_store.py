"""What only the SQLite store does: the file, its modes, its WAL, its path, its lock file."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from directord import store
from directord.store import Claim, Outcome, RunState, Trigger, queries, sqlite
from directord.store import migrations as store_migrations

pytestmark = pytest.mark.anyio


def claim(at: float = 100.0) -> Claim:
    return Claim("a", "noop", "n1", Trigger.schedule, at, at + 1)


@contextlib.asynccontextmanager
async def opened(path: Path) -> AsyncIterator[store.Store]:
    """A store on ``path`` through the oldest API (so these tests also run on old code)."""
    db = store.open_store(f"sqlite:///{path}")
    await db.open()
    try:
        yield db
    finally:
        await db.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def deleted_descriptors(name: str) -> list[str]:
    """This process's descriptors on files named ``name*`` that were deleted."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if os.path.basename(target).startswith(name) and target.endswith("(deleted)"):
            out.append(target)
    return out


async def test_sqlite_has_migrations(tmp_path: Path) -> None:
    async with store.open(f"sqlite:///{tmp_path / 'd.db'}") as db:
        assert queries.latest_version("sqlite") >= 2
        assert await db.schema_version() == queries.latest_version("sqlite")


async def test_unreadable_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.db"
    path.write_bytes(b"this is not sqlite" * 100)
    s = store.open_store(f"sqlite:///{path}")
    with pytest.raises(store.StoreError, match="cannot open SQLite database"):
        await s.open()
    with pytest.raises(store.StoreError, match="unsupported database URL"):
        store.open_store("mysql://x")


async def test_committed_rows_survive_without_close(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    s = store.open_store(f"sqlite:///{path}")
    await s.open()
    run_id = await s.claim_run(claim())
    # Read through a second, independent connection while the first is still open (WAL).
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone() == (
            "running",
        )
    finally:
        conn.close()
        await s.close()


async def test_ping_keeps_the_wal_of_the_open_connection(tmp_path: Path) -> None:
    """Issue 9.1: a ping must not open (and close) the database file: that drops this
    process's POSIX locks, and the next reader elsewhere deletes the -wal and -shm in use."""
    path = tmp_path / "d.db"
    async with opened(path) as db:
        run_id = await db.claim_run(claim())
        await db.ping()
        # Another process reads and closes: it must see that a connection is still open.
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; "
                "sqlite3.connect(sys.argv[1]).execute('select count(*) from runs').fetchall()",
                str(path),
            ],
            check=True,
            timeout=60,
        )
        assert deleted_descriptors("d.db") == []
        assert (tmp_path / "d.db-wal").exists()
        assert run_id is not None
        await db.finish_run(run_id, claim(), Outcome(RunState.succeeded, 200.0, "ok"))
        # What was written after the other reader closed is in the file others read.
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            assert conn.execute("SELECT state FROM runs").fetchall() == [("succeeded",)]
        finally:
            conn.close()


async def test_ping_notices_a_replaced_or_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    async with opened(path) as db:
        await db.ping()
        header = path.read_bytes()[:16]
        with path.open("r+b") as f:  # in place: same inode, no longer a database
            f.write(b"garbage garbage!")
        with pytest.raises(store.StoreError, match="no longer an SQLite database"):
            await db.ping()
        with path.open("r+b") as f:
            f.write(header)
        await db.ping()
        path.rename(tmp_path / "moved.db")
        with pytest.raises(store.StoreError, match="cannot be read"):
            await db.ping()
        path.write_bytes(b"")
        with pytest.raises(store.StoreError, match="replaced or removed"):
            await db.ping()


async def test_a_new_database_is_private(tmp_path: Path) -> None:
    """Issue 9.6: the file (and its -wal, -shm, lock file) 0600, a directory it creates 0700."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "new" / "deeper" / "d.db"
        async with opened(path) as db:
            db.lock_daemon()
            await db.claim_run(claim())
            assert mode(path) == 0o600
            assert mode(path.parent) == 0o700
            assert mode(path.parent.parent) == 0o700
            for suffix in ("-wal", "-shm", ".daemon.lock"):
                assert mode(Path(f"{path}{suffix}")) == 0o600, suffix
    finally:
        os.umask(old)


async def test_an_existing_database_keeps_its_modes(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    path = folder / "d.db"
    sqlite3.connect(path).close()
    path.chmod(0o640)
    async with opened(path):
        pass
    assert (mode(path), mode(folder)) == (0o640, 0o750)


async def test_a_symlinked_path_is_the_same_database(tmp_path: Path) -> None:
    """Issue 9.5: the daemon lock is taken on the real path, whatever path reaches it."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    async with opened(real / "d.db") as first:
        first.lock_daemon()
        async with opened(tmp_path / "link" / "d.db") as second:
            with pytest.raises(store.StoreError, match="another directord daemon"):
                second.lock_daemon()
        (tmp_path / "file-link.db").symlink_to(real / "d.db")
        async with opened(tmp_path / "file-link.db") as third:
            with pytest.raises(store.StoreError, match="another directord daemon"):
                third.lock_daemon()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file-link.db", "link", "real"]


async def test_store_open_gives_just_a_store(tmp_path: Path) -> None:
    class Settings:
        def database_url(self) -> str:
            return f"sqlite:///{tmp_path / 'd.db'}"

    async with store.open(Settings()) as db:
        assert await db.claim_run(claim()) is not None
    async with store.open(Settings(), readonly=True) as db:
        assert len(await db.history("a")) == 1
        with pytest.raises(store.StoreError, match="cannot be written"):
            await db.claim_run(claim(500.0))
    async with store.open(store.MEMORY_URL) as db:
        assert await db.history("a") == []


async def test_bulk_writes_bind_columns_in_any_order(tmp_path: Path) -> None:
    connector = sqlite.SQLiteConnector(tmp_path / "d.db")
    await connector.open()
    try:
        await store_migrations.migrate(connector)
        async with connector.transaction() as tx:
            await tx.execute_many(
                "insert_object",
                ("now", "rule", "properties", "name", "type"),
                [(5.0, "r", "{}", "h1", "Host"), (6.0, None, "{}", "z", "Zone")],
            )
        rows = [dict(r) for r in await connector.fetch_all("all_objects")]
        assert rows == [
            {"type": "Host", "name": "h1", "properties": "{}", "rule": "r"},
            {"type": "Zone", "name": "z", "properties": "{}", "rule": None},
        ]
    finally:
        await connector.close()


@pytest.mark.slow
async def test_a_reader_opening_a_new_database_does_not_fail_the_daemons_open(
    tmp_path: Path,
) -> None:
    """A probe (`job history`, a monitoring check, the tests' own reader) that opens a new file
    read-only while the daemon switches it to WAL: SQLite may then answer "database is locked"
    without calling the busy handler, and the daemon's start failed (seen in CI, about 2 opens
    in 100). The open waits for the lock instead."""
    failures: list[str] = []
    for i in range(150):
        path = tmp_path / f"d{i}.db"
        stop = threading.Event()

        def probe(path: Path = path, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                if not path.exists():
                    continue
                with contextlib.suppress(sqlite3.Error):
                    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
                    with contextlib.suppress(sqlite3.OperationalError):
                        conn.execute("SELECT * FROM runs").fetchall()
                    conn.close()

        probes = [threading.Thread(target=probe) for _ in range(2)]
        for t in probes:
            t.start()
        try:
            async with opened(path):
                pass
        except store.StoreError as exc:
            failures.append(str(exc))
        finally:
            stop.set()
            for t in probes:
                t.join()
    assert failures == []
