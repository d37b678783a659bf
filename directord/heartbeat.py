"""The heartbeat: while the supervisor serves, a timer every ``interval`` seconds that touches
neither the schedule nor the store. /health and the systemd watchdog live on it, and a beat that
fires late says the event loop was blocked (a stall), blamed on the runs active at the time.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from loguru import logger


@dataclass(frozen=True)
class Stall:
    """The event loop was blocked: a heartbeat fired ``lag`` seconds late."""

    lag: float
    monotonic: float
    jobs: tuple[str, ...]


class Heartbeat:
    """Beats every ``interval`` seconds (None: once, at start, then only on demand).
    ``running`` names the jobs running now, for blaming a stall."""

    def __init__(
        self, interval: float | None, running: Callable[[], Collection[str]] = tuple
    ) -> None:
        self.interval = interval
        self.running = running
        self.listeners: list[Callable[[], object]] = []
        self.last_tick: float | None = None
        self.last_stall: Stall | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._beating = False
        # (job, monotonic end) of recent runs: a stall is blamed on those that were running then.
        self._recent_ends: collections.deque[tuple[str, float]] = collections.deque(maxlen=64)

    def run_ended(self, job: str) -> None:
        self._recent_ends.append((job, time.monotonic()))

    def start(self) -> None:
        self._beating = True
        self.tick()

    def stop(self) -> None:
        self._beating = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def tick(self) -> None:
        now = time.monotonic()
        if self.last_tick is not None and self.interval:
            lag = now - self._due
            if lag >= self.interval:
                running = list(self.running())
                suspects = dict.fromkeys(
                    [job for job, ended in self._recent_ends if ended >= self._due] + running
                )
                self.last_stall = Stall(lag, now, tuple(suspects))
                logger.bind(action="loop_stalled").error(
                    "the event loop was blocked for {:.1f}s (running: {})",
                    lag,
                    ", ".join(running) or "no job",
                )
        self.last_tick = now
        for listener in self.listeners:
            try:
                listener()
            except Exception:
                logger.bind(action="listener_failed").exception("tick listener")
        if self.interval and self._beating:
            self._due = now + self.interval
            self._handle = asyncio.get_running_loop().call_later(self.interval, self.tick)
