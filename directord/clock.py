"""The supervisor's clocks: wall time (due times are epoch seconds) and a monotonic timer (what
the supervisor sleeps on, so a wall-clock step cannot stretch a sleep).

``SystemClock`` is the real one. ``ManualClock`` is moved by hand: tests drive the schedule with
it (no real sleeps), and ``step_wall`` moves the wall clock alone, as an NTP step or an operator
with ``date -s`` does.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Wall time by calling it, ``monotonic()`` for elapsed time, ``call_later`` for timers."""

    def __call__(self) -> float: ...

    def monotonic(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer: ...


class SystemClock:
    """time.time, time.monotonic and the running loop's timers (which are monotonic)."""

    def __call__(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)


class WallClock(SystemClock):
    """A wall-time function given by the caller (``Supervisor(clock=fn)``), real timers."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self._wall = wall

    def __call__(self) -> float:
        return self._wall()


class _ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when told: ``advance`` moves both clocks and fires the timers
    that fall due; ``step_wall`` moves the wall clock alone."""

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 1000.0) -> None:
        self.wall = wall
        self.mono = monotonic
        self._timers: list[tuple[float, int, _ManualTimer, Callable[[], object]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        timer = _ManualTimer()
        heapq.heappush(
            self._timers, (self.mono + max(0.0, delay), next(self._seq), timer, callback)
        )
        return timer

    def pending(self) -> list[float]:
        """Monotonic instants of the timers not yet fired nor cancelled."""
        return sorted(at for at, _, t, _ in self._timers if not t.cancelled)

    def advance(self, seconds: float) -> None:
        """Move both clocks forward, firing each timer due on the way at its own instant."""
        end = self.mono + seconds
        while self._timers and self._timers[0][0] <= end:
            at, _, timer, callback = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.wall += at - self.mono
            self.mono = at
            callback()
        self.wall += end - self.mono
        self.mono = end

    def step_wall(self, seconds: float) -> None:
        """The wall clock jumps by ``seconds`` (negative: back); elapsed time does not."""
        self.wall += seconds


class WallWatch:
    """Notices wall-clock steps: between two looks, the wall clock should have moved as far as
    the monotonic one. ``step(wall, mono)`` says by how much it did not (negative: it went
    back), or 0.0 within ``tolerance`` (NTP slewing, rounding)."""

    def __init__(self, tolerance: float = 2.0) -> None:
        self.tolerance = tolerance
        self._last: tuple[float, float] | None = None

    def step(self, wall: float, mono: float) -> float:
        last, self._last = self._last, (wall, mono)
        if last is None:
            return 0.0
        skew = (wall - last[0]) - (mono - last[1])
        return skew if abs(skew) > self.tolerance else 0.0
