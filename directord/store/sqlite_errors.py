"""What a SQLite error means for the daemon: a transient outage (StoreUnavailable, retried,
shown by /health) or a plain StoreError; and the message that says how to fix a read-only file.
"""

from __future__ import annotations

import os
import sqlite3
from typing import NoReturn

from directord.store.base import StoreError, StoreUnavailable

# What the file's surroundings can cure by themselves or an operator can fix while the daemon
# waits (a lock held past the busy timeout, a full disk, an I/O error, a file made read-only):
# StoreUnavailable, retried. Anything else (a constraint, a bad statement) is a StoreError.
_TRANSIENT = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_FULL",
    "SQLITE_IOERR",
    "SQLITE_READONLY",
    "SQLITE_CANTOPEN",
    "SQLITE_PROTOCOL",
)


def error(exc: sqlite3.Error, path: str) -> NoReturn:
    text = str(exc)
    transient = str(getattr(exc, "sqlite_errorname", "")).startswith(_TRANSIENT)
    kind = StoreUnavailable if transient else StoreError
    if "readonly" in text or "read-only" in text:
        raise kind(read_only_message(path, text)) from exc
    raise kind(f"SQLite database {path}: {text}") from exc


def read_only_message(path: str, reason: str) -> str:
    folder = os.path.dirname(path) or "."
    return (
        f"the database {path} cannot be written ({reason}): directord writes the file and "
        f"creates {os.path.basename(path)}-wal and -shm beside it; make the file and {folder} "
        f"writable by the user running directord (uid {os.geteuid()}), or set database: to a "
        "writable place"
    )
