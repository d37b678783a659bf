"""What the supervisor tells its listeners: small frozen event classes, subscribed to by type.

Listeners (the metrics, the /status cache, sd_notify) run on the daemon's loop, synchronously, in
the order they subscribed. A listener that raises is logged and skipped: it never breaks a run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import ClassVar

from loguru import logger


@dataclass(frozen=True)
class RunEvent:
    """What every event of a run says: the job, the run's id, the job's kind."""

    name: ClassVar[str]  # each event's own: run_started, run_finished
    job: str
    run_id: int
    kind: str


@dataclass(frozen=True)
class RunStarted(RunEvent):
    """A run was claimed and its job is about to be called."""

    name: ClassVar[str] = "run_started"
    lateness: float  # seconds between the due time and the start


@dataclass(frozen=True)
class RunFinished(RunEvent):
    """A run ended (its finish may still be on its way to the store)."""

    name: ClassVar[str] = "run_finished"
    state: str
    duration: float
    finished: float


@dataclass(frozen=True)
class Reloaded:
    """A new config was swapped in; ``changes`` says what differs, one line each."""

    name: ClassVar[str] = "reloaded"
    changes: tuple[str, ...]


@dataclass(frozen=True)
class Stopping:
    """The supervisor stopped taking new work (shutdown or retirement)."""

    name: ClassVar[str] = "stopping"
    reason: str


Event = RunStarted | RunFinished | Reloaded | Stopping
Listener = Callable[[Event], object]


class Events:
    """Subscriptions by event type: ``subscribe(callback, {RunFinished})``; no types: all."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[Listener, frozenset[type[Event]] | None]] = []

    def subscribe(
        self, listener: Listener, types: Collection[type[Event]] | None = None
    ) -> Listener:
        self._subscribers.append((listener, None if types is None else frozenset(types)))
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        self._subscribers = [(f, t) for f, t in self._subscribers if f is not listener]

    def emit(self, event: Event) -> None:
        for listener, types in self._subscribers:
            if types is not None and type(event) not in types:
                continue
            try:
                listener(event)
            except Exception:  # a broken listener must not break runs
                logger.bind(action="listener_failed").exception("listener for {}", event.name)
