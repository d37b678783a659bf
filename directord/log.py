"""Logging set-up (loguru): one line per event with its action, job and run id.

Colours only when stderr is a terminal and --verbose is on; plain lines otherwise, so journald
stays clean. Every log call carries a stable ``action`` key (``run_started``) for grep.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from loguru import logger

from directord import redact

if TYPE_CHECKING:
    from loguru import Record

_COLOUR = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[action]}</cyan>{extra[_where]} {message}"
)
_PLAIN = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {extra[action]}{extra[_where]} {message}"


def _patch(record: Record) -> None:
    # Every record passes the redactor of the loaded config: no secret value, URL password or
    # credential query parameter reaches a log line, whoever logged it.
    redactor = redact.current()
    record["message"] = redactor.text(record["message"])
    extra = record["extra"]
    for key, value in extra.items():
        if isinstance(value, str):
            extra[key] = redactor.text(value)
    extra.setdefault("action", "-")
    where = []
    if "job" in extra:
        where.append(f"job={extra['job']}")
    if "run" in extra:
        where.append(f"run={extra['run']}")
    extra["_where"] = (" " + " ".join(where)) if where else ""


# Without --verbose a daemon still says when it started and stopped (and warnings, errors).
ALWAYS = frozenset({"daemon_started", "daemon_stopped"})
_WARNING = 30  # loguru's level number


def _quiet(record: Record) -> bool:
    return record["level"].no >= _WARNING or record["extra"].get("action") in ALWAYS


_info_kept = True  # until setup(verbose=False) says that no sink keeps a run's INFO lines


def info_kept() -> bool:
    """Whether a sink keeps INFO records other than ALWAYS's: a run's start and finish lines
    are built only then (loguru builds and redacts a record before a sink's filter drops it)."""
    return _info_kept


def setup(verbose: bool, *, stream: Any = None) -> None:
    """Log INFO and up with --verbose (every run), otherwise WARNING and up plus the daemon's
    start and stop lines, to stderr."""
    global _info_kept
    _info_kept = verbose
    stream = stream or sys.stderr
    logger.remove()
    colour = verbose and hasattr(stream, "isatty") and stream.isatty()
    logger.configure(patcher=_patch)
    logger.add(
        stream,
        level="INFO",
        filter=None if verbose else _quiet,
        format=_COLOUR if colour else _PLAIN,
        colorize=colour,
        backtrace=False,
        diagnose=False,  # never print local variables: they may hold secrets
    )
