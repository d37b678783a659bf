"""The job hook: what a job kind is, what it gets (JobContext) and what it returns (JobResult).

A kind is a class registered under the entry-point group ``directord.jobs``::

    class Backup(Job):
        kind = "backup"
        description = "Copies the database somewhere safe"
        suggested_interval = 3600
        class Settings(pydantic.BaseModel):
            target: str
        async def run(self, ctx: JobContext) -> JobResult:
            ...
            return JobResult.ok("copied 3 files", files=3)

Blocking work goes to ``ctx.to_thread`` or a subprocess, so the event loop (and with it the
status endpoint and the other jobs) stays responsive.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import aiohttp
    from loguru import Logger

    from directord import process_groups
    from directord.config import Settings as DaemonSettings
    from directord.store import Store

T = TypeVar("T")


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobFailed(Exception):
    """Raise from ``run`` to fail the job with a one-line summary (and optional counters)."""

    def __init__(self, summary: str, **counters: Any) -> None:
        super().__init__(summary)
        self.summary = summary
        self.counters = counters


@dataclass(frozen=True)
class JobResult:
    succeeded: bool
    summary: str
    counters: dict[str, Any] = field(default_factory=dict)
    # Whether the run changed anything (rows imported, objects modified): chained jobs with
    # only_if_changed look at it. None: the kind cannot tell.
    changed: bool | None = None

    @classmethod
    def ok(cls, summary: str, *, changed: bool | None = None, **counters: Any) -> JobResult:
        return cls(True, summary, counters, changed)

    @classmethod
    def failed(cls, summary: str, **counters: Any) -> JobResult:
        return cls(False, summary, counters)


def _no_processes() -> process_groups.RunProcesses:
    # Lazy: psutil loads when a run is made, not when a view only builds the kinds' specs.
    from directord import process_groups  # noqa: PLC0415

    return process_groups.RunProcesses()


@dataclass
class JobContext:
    """What a running job may use. Jobs reach the world only through this.

    ``kind_settings`` is the job's ``settings:`` validated by its kind's Settings model;
    ``daemon_settings`` the whole daemon config. (``settings`` and ``config`` are their old,
    deprecated names and keep working.)"""

    name: str
    kind_settings: Any
    log: Logger
    store: Store
    daemon_settings: DaemonSettings
    run_id: int
    node: str
    deadline: float | None  # time.monotonic() value, None: no timeout
    _http_factory: Callable[[], aiohttp.ClientSession]
    # Facts the job wants kept with the run whatever its outcome (e.g. output of a child).
    details: dict[str, Any] = field(default_factory=dict)
    # The run's children: start one with ``processes.spawn_args(argv, env, cwd)`` and report
    # it with ``processes.spawned(pid)``; whatever of it is left when the run ends is ended.
    processes: process_groups.RunProcesses = field(default_factory=_no_processes)

    @property
    def settings(self) -> Any:
        """Deprecated name of ``kind_settings``."""
        return self.kind_settings

    @property
    def config(self) -> DaemonSettings:
        """Deprecated name of ``daemon_settings``."""
        return self.daemon_settings

    @property
    def http(self) -> aiohttp.ClientSession:
        """The daemon's shared aiohttp client session."""
        return self._http_factory()

    def remaining(self) -> float | None:
        """Seconds left before the timeout, or None without one."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    async def to_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking code in a worker thread; the loop stays free meanwhile."""
        # Lazy: anyio costs every CLI command that reads the config its import (25 ms).
        import anyio.to_thread  # noqa: PLC0415

        return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)


class Job(abc.ABC):
    """A job kind. One instance per run."""

    kind: ClassVar[str]
    description: ClassVar[str]
    Settings: ClassVar[type[BaseModel]] = NoSettings
    suggested_interval: ClassVar[float] = 3600.0
    # Settings fields whose values never appear in /status, logs or the web.
    secret_settings: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    async def run(self, ctx: JobContext) -> JobResult: ...

    @classmethod
    def check_config(cls, settings: Any, config: DaemonSettings) -> list[str]:
        """Problems of validated ``settings`` against the whole config (e.g. a name that must
        exist elsewhere), as ``field: message`` relative to the job's settings."""
        return []

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "kind": cls.kind,
            "description": cls.description,
            "suggested_interval": cls.suggested_interval,
            "settings": cls.Settings.model_json_schema(),
            "secret_settings": sorted(cls.secret_settings),
        }
