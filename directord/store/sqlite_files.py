"""The SQLite store's file: as directord creates it (private directories and file), and what
may have become of it underneath the open connection."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_HEADER = b"SQLite format 3\x00"


def make_parents(folder: Path) -> None:
    """Create the database's missing directories 0700: they hold job output and secrets."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):
            created.mkdir(mode=0o700)


def create_private(path: str) -> None:
    """Create an empty database file 0600 (SQLite would make it 0644, and its -wal and -shm
    take the file's mode). Closing this descriptor is safe: nobody holds a lock on a new file."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def file_problem(path: str, identity: tuple[int, int]) -> str | None:
    """What is wrong with the file at the path, judged without opening it (see sqlite.py's
    docstring): its identity by ``os.stat``, its header through a descriptor SQLite holds."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if (st.st_dev, st.st_ino) != identity:
        return "was replaced or removed since it was opened"
    header = _read_header(identity)
    if header is not None and header != _HEADER:
        return "is no longer an SQLite database"
    return None


def _read_header(identity: tuple[int, int]) -> bytes | None:
    """The file's first 16 bytes by pread on a descriptor this process already has open on
    it (Linux's /proc/self/fd), so that nothing is opened or closed; None if none is found."""
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            with contextlib.suppress(OSError):
                if (os.fstat(fd).st_dev, os.fstat(fd).st_ino) != identity:
                    continue
                header = os.pread(fd, 16, 0)
                # The descriptor may have been closed and its number reused meanwhile.
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) == identity:
                    return header
    return None
