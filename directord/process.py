"""This process: its identity as a run's owner, its memory, and the memory rule.

The web and the store's interruption check import from here (not from the supervisor).
"""

from __future__ import annotations

import os
import resource

import psutil
from loguru import logger

_PROCESS: psutil.Process | None = None
MIB = 1 << 20


def process_owner() -> str:
    """This process as a run's owner: pid and start time, so a reused pid is not mistaken."""
    proc = psutil.Process(os.getpid())
    return f"{proc.pid}:{proc.create_time():.3f}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that owns a run still exists (the same one, not a reused pid)."""
    if not owner:
        return False
    pid, _, created = owner.partition(":")
    try:
        proc = psutil.Process(int(pid))
        return f"{proc.create_time():.3f}" == created and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):
        return False


def peak_rss() -> int:
    """The highest RSS this process has had, in bytes (a cheap syscall)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss() -> int:
    """The current RSS in bytes (reads /proc)."""
    global _PROCESS
    if _PROCESS is None or _PROCESS.pid != os.getpid():
        _PROCESS = psutil.Process(os.getpid())
    return int(_PROCESS.memory_info().rss)


class MemoryRule:
    """``runner.memory_growth_limit``: the daemon exits (0) for a fresh start once its RSS grew
    more than the limit since start-up. ``check()`` returns the reason to retire, or None."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.baseline: int | None = None

    def mark_baseline(self) -> None:
        """RSS after start-up: growth is measured from here."""
        self.baseline = rss()

    def check(self) -> str | None:
        if self.baseline is None or not self.limit:
            return None
        # The peak RSS is never below the current RSS: read /proc only when the peak says the
        # limit may have been crossed.
        if peak_rss() - self.baseline <= self.limit:
            return None
        now_rss = rss()
        growth = now_rss - self.baseline
        if growth <= self.limit:
            return None
        logger.bind(action="memory_limit", rss=now_rss, baseline=self.baseline).warning(
            "RSS {:.0f} MiB grew {:.0f} MiB since start-up ({:.0f} MiB), more than the "
            "memory_growth_limit of {:.0f} MiB: exiting (0) for a fresh start",
            now_rss / MIB,
            growth / MIB,
            self.baseline / MIB,
            self.limit / MIB,
        )
        return f"memory grew by {growth / MIB:.0f} MiB (limit {self.limit / MIB:.0f} MiB)"
