"""``directord db backup`` and the ``backup`` kind copy the live database consistently."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import Daemon, cli, runs, wait_for, write_config

pytestmark = pytest.mark.slow


def assert_consistent(path: Path) -> int:
    """The copy is a whole database: it passes SQLite's check, and every job's state points at
    a finished run that the copy holds (the state and the run are written in one transaction).
    Returns its number of runs."""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_name(path.name + "-wal").exists()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        states = conn.execute("SELECT job, last_run_id, last_result FROM job_state").fetchall()
        for job, run_id, result in states:
            row = conn.execute("SELECT job, state FROM runs WHERE id = ?", (run_id,)).fetchone()
            assert row == (job, result), (job, run_id)
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
    finally:
        conn.close()


def test_backups_are_consistent_while_the_daemon_writes(
    tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    config = write_config(
        tmp_path,
        {
            "runner": {"concurrency": 3},
            "jobs": [
                {"name": "a", "kind": "noop", "interval": "0.2s"},
                {"name": "b", "kind": "noop", "interval": "0.2s"},
                {
                    "name": "backup",
                    "kind": "backup",
                    "interval": "1s",
                    # Relative to the config file, not to where the daemon was started.
                    "settings": {"path": "backups/directord-%Y%m%d-%H%M%S.db", "keep": 2},
                },
            ],
        },
    )
    d = daemon_factory(config)
    wait_for(lambda: len(runs(d.db, "a")) >= 5, 60, "runs to back up")
    counts = []
    for i in range(3):
        target = tmp_path / "manual" / f"copy-{i}.db"
        result = cli(config, "db", "backup", str(target))
        assert result.returncode == 0, result.stderr
        assert f"to {target} (" in result.stdout
        counts.append(assert_consistent(target))
    assert counts == sorted(counts)
    assert counts[0] >= 5
    made = wait_for(
        lambda: [r for r in runs(d.db, "backup") if r["state"] == "succeeded"][2:], 60, "backups"
    )
    assert "backed up directord.db to " in made[0]["summary"]
    copies = sorted((tmp_path / "backups").iterdir())
    assert 1 <= len(copies) <= 3  # keep: 2, plus at most the one being written
    for copy in copies:
        if not copy.name.startswith("."):
            assert_consistent(copy)
    assert d.proc.poll() is None


def test_db_backup_errors_name_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"jobs": []})
    missing = cli(config, "db", "backup", str(tmp_path / "x.db"))
    assert missing.returncode == 1
    assert f"directord: {tmp_path / 'directord.db'}: no such database file" in missing.stderr
    assert cli(config, "jobs", "run").returncode == 0  # creates the database
    itself = cli(config, "db", "backup", str(tmp_path / "directord.db"))
    assert itself.returncode == 1
    assert "is the database itself" in itself.stderr
    (tmp_path / "dir.db").mkdir()
    blocked = cli(config, "db", "backup", str(tmp_path / "dir.db" / "sub" / "x.db"))
    assert blocked.returncode == 0, blocked.stderr  # directories are made as needed
    assert "Traceback" not in missing.stderr + itself.stderr
