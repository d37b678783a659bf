"""Reading the small files the config points at (the config itself, token and password files):
never more than a limit, never blocking (a FIFO or a device would hang start-up and ignore
SIGTERM), and a warning when a secret is readable by others. A leaf: no directord imports."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from loguru import logger

SECRET_LIMIT = 64 << 10  # a password or token; more is a mistake (the wrong file)
CONFIG_LIMIT = 4 << 20


class FileProblem(Exception):
    """The file cannot be used; the message says why, naming the path."""


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. The open does not block (no
    waiting on a FIFO's writer); anything but a regular file is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise FileProblem(f"cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(f"cannot read {path}: not a regular file")
        if info.st_size > limit:
            raise FileProblem(f"cannot read {path}: larger than {limit} bytes")
        chunks = []
        size = 0
        while size <= limit:
            try:
                chunk = os.read(fd, limit + 1 - size)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:
                    continue
                raise FileProblem(f"cannot read {path}: {exc.strerror}") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileProblem(f"cannot read {path}: larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def others_can_read(path: Path) -> bool:
    """Whether users other than the owner and group may read the file."""
    try:
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def read_secret(path: Path, what: str) -> str:
    """A password or token file's content, stripped. Empty, too large, not UTF-8, or not a
    regular file: FileProblem. Readable by others: a warning (it still works)."""
    data = read_limited(path, SECRET_LIMIT)
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise FileProblem(f"the {what} file {path} is not UTF-8 text") from None
    if not text:
        raise FileProblem(f"the {what} file {path} is empty")
    if others_can_read(path) and path not in _warned:
        _warned.add(path)  # once per process: files are read again at every run that needs them
        logger.bind(action="secret_file_readable", path=str(path)).warning(
            f"the {what} file {path} is readable by every user: chmod o-r {path}"
        )
    return text


_warned: set[Path] = set()
