"""The ``backup`` kind and ``directord db backup PATH``: a consistent copy of the SQLite database.

A live database in WAL mode is three files (``-wal``, ``-shm``); copying the main file with ``cp``
while the daemon writes gives a copy without the latest transactions or a torn one. SQLite's
``VACUUM INTO`` writes a compact, consistent snapshot (one read transaction) from a connection of
its own, while the daemon goes on writing. The copy is written beside the target and renamed
over it, so a target is always a whole database; it is checked with ``PRAGMA quick_check``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from directord.jobs.base import Job, JobContext, JobFailed, JobResult

SQLITE_PREFIX = "sqlite:///"


class BackupError(Exception):
    """The backup could not be made; the message names the file and the reason."""


@dataclass(frozen=True)
class BackupInfo:
    source: Path
    target: Path
    size: int


class BackupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Relative to the config file. strftime codes are filled in with the UTC time of the run
    # (``backup/directord-%Y%m%d.db``), so each day may keep its own copy.
    path: str = Field(min_length=1)
    # With strftime codes: how many copies matching the pattern to keep (0: all).
    keep: int = Field(default=7, ge=0)


def database_path(url: str) -> Path:
    """The SQLite file of a ``database:`` URL; other databases have their own dump tools."""
    if not url.startswith(SQLITE_PREFIX) or url == SQLITE_PREFIX + ":memory:":
        raise BackupError(
            f"only a SQLite database file can be backed up this way, not {url!r} "
            "(use the database's own dump tool, e.g. pg_dump)"
        )
    return Path(url[len(SQLITE_PREFIX) :])


def backup(source: Path, target: Path) -> BackupInfo:
    """Write a consistent copy of the database ``source`` to ``target`` (replaced atomically).
    Blocking: call it in a thread from async code."""
    if not source.is_file():
        raise BackupError(f"{source}: no such database file")
    if target.resolve() == source.resolve():
        raise BackupError(f"{target}: is the database itself")
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupError(f"{target.parent}: cannot create: {exc.strerror}") from None
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        # The database holds job settings and run output: the copy is for its owner only.
        # VACUUM INTO accepts an empty file, so it is created with that mode first.
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        _vacuum_into(source, partial)
        _verify(partial)
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"backing up {source} to {target}: {exc}") from None
    except OSError as exc:
        raise BackupError(f"{target}: {exc.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupInfo(source, target, target.stat().st_size)


def _vacuum_into(source: Path, target: Path) -> None:
    # A connection of its own (never a plain open() of the file: closing that would drop the
    # daemon's POSIX locks). Read-only: a backup never changes the database.
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()


def _verify(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()
    finally:
        conn.close()
    if result is None or result[0] != "ok":
        raise BackupError(f"{path}: the copy failed its check: {result}")


def expand(pattern: Path, now: datetime) -> Path:
    """``pattern`` with its strftime codes filled in (a path without codes stays as it is)."""
    return Path(now.strftime(str(pattern)))


def prune(pattern: Path, keep: int, now: datetime) -> list[Path]:
    """Remove all but the newest ``keep`` copies whose names the pattern made; returns them."""
    if keep == 0 or "%" not in pattern.name:
        return []
    directory = pattern.parent
    if "%" in str(directory):
        return []  # codes in the directory: copies are spread out, leave them
    made = expand(pattern, now).name
    candidates = []
    for p in directory.iterdir():
        with contextlib.suppress(ValueError):
            datetime.strptime(p.name, pattern.name)
            candidates.append(p)
    candidates.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = [p for p in candidates[keep:] if p.name != made]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n //= 1024
    return f"{n} GiB"


class Backup(Job):
    kind = "backup"
    description = "Copy the SQLite database consistently (VACUUM INTO) while the daemon runs"
    Settings = BackupSettings
    suggested_interval = 86400.0

    async def run(self, ctx: JobContext) -> JobResult:
        settings: BackupSettings = ctx.settings
        now = datetime.now(UTC)
        pattern = ctx.config.resolve_path(settings.path)
        target = expand(pattern, now)
        try:
            source = database_path(ctx.config.database_url())
            info = await ctx.to_thread(backup, source, target)
            removed = await ctx.to_thread(prune, pattern, settings.keep, now)
        except BackupError as exc:
            raise JobFailed(str(exc)) from None
        ctx.details["backup"] = {"target": str(info.target), "size": info.size}
        pruned = f"; removed {len(removed)} older" if removed else ""
        counters: dict[str, Any] = {"bytes": info.size, "removed": len(removed)}
        return JobResult.ok(
            f"backed up {source.name} to {info.target} ({_size(info.size)}){pruned}",
            changed=True,
            **counters,
        )
