"""Since when a database cannot be written (or reached), and why: one record for every store.

A connector calls ``down`` on every failure that a retry may cure and ``up`` on every write that
succeeded; the log says once that the database is gone and once that it is back, however many
retries fail in between. /health shows ``describe()`` while it is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from loguru import logger


class Outage:
    """``what`` names the trouble in messages: "unreachable" (a server), "not writable" (a
    file). ``display``: the database as it may be shown (a URL without its password)."""

    def __init__(self, display: str, what: str) -> None:
        self.display = display
        self.what = what
        self.since: float | None = None  # wall clock of the first failure of this outage
        self._noted: float | None = None  # monotonic, the same moment
        self.reason = ""
        self.on_back: list[Callable[[], None]] = []

    def down(self, reason: str) -> None:
        if self.since is None:
            self.since = time.time()
            self._noted = time.monotonic()
            self.reason = reason
            logger.bind(action="database_down").error(
                "the database {} is {}: {}", self.display, self.what, reason
            )

    def up(self) -> None:
        if self.since is not None:
            logger.bind(action="database_back").warning(
                "the database {} is back after {:.1f}s", self.display, time.time() - self.since
            )
            self.since = self._noted = None
            for callback in self.on_back:
                callback()

    def noted_before(self, moment: float) -> bool:
        """Whether the outage (if any) was noted before ``moment`` (monotonic): only what was
        tried after that can tell that it is over."""
        return self._noted is not None and self._noted < moment

    def describe(self) -> str:
        """``database not writable since 2026-12-02 06:20:24: disk I/O error``."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since or time.time()))
        return f"database {self.what} since {since}: {self.reason}"
