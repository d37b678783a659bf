"""The SQLite store's file: as directord creates it (private directories and file), what may
have become of it underneath the open connection, and the daemon's lock file beside it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from typing import IO

from directord.store.base import StoreError
from directord.store.sqlite_errors import read_only_message

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


def prepare_file(path_text: str) -> None:
    """The directory and an empty 0600 file when directord creates them, and a clear
    error when either cannot be written."""
    path = Path(path_text)
    try:
        make_parents(path.parent)
    except OSError as exc:
        raise StoreError(
            f"cannot create the directory {exc.filename or path.parent} of the database "
            f"{path_text}: {exc.strerror}; create it writable by the user running directord "
            f"(uid {os.geteuid()}), or set database: to a writable place"
        ) from exc
    try:
        create_private(path_text)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise StoreError(read_only_message(path_text, exc.strerror or str(exc))) from exc
        raise StoreError(f"cannot create the database {path_text}: {exc.strerror}") from exc
    if not os.access(path_text, os.W_OK):
        raise StoreError(read_only_message(path_text, "the file is read-only"))
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(read_only_message(path_text, "its directory is read-only"))


def lock_daemon(path: str) -> IO[str]:
    """Take the flock on ``<path>.daemon.lock`` and write this process's pid in it; the lock
    lasts until the returned file is closed. StoreError naming the holder when it is taken."""
    try:
        fd = os.open(path + ".daemon.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create {path}.daemon.lock: {exc.strerror}") from exc
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StoreError(
            f"another directord daemon (pid {holder}) already runs on {path}; "
            "one daemon per SQLite database"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


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
