"""The store interface: everything durable (job definitions, job state, runs) behind one API.

One implementation per database: sqlite.py (the default), a PostgreSQL one for several nodes.
A run is claimed by inserting its row (``UNIQUE(job, scheduled_for)``) before the job starts, so
the same interface serves one node or a cluster.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class RunState(enum.StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    timed_out = "timed_out"
    cancelled = "cancelled"
    interrupted = "interrupted"

    @property
    def ok(self) -> bool:
        return self is RunState.succeeded


class Trigger(enum.StrEnum):
    schedule = "schedule"
    manual = "manual"
    retry = "retry"
    chain = "chain"


@dataclass(frozen=True)
class JobRecord:
    name: str
    kind: str
    definition: dict[str, Any]
    managed_by: str
    version: int
    created: float
    updated: float


@dataclass(frozen=True)
class JobState:
    job: str
    last_attempt: float | None = None
    last_finished: float | None = None
    last_success: float | None = None
    last_result: str | None = None
    last_error: str | None = None
    last_run_id: int | None = None
    failures: int = 0


@dataclass(frozen=True)
class Claim:
    """What the supervisor asks for when it starts a run."""

    job: str
    kind: str
    node: str
    trigger: Trigger
    scheduled_for: float
    started: float
    lease_until: float | None = None
    attempt: int = 1
    job_version: int | None = None
    owner: str | None = None  # the process running it, "pid:start time"


@dataclass(frozen=True)
class Outcome:
    state: RunState
    finished: float
    summary: str
    counters: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    changed: bool | None = None


@dataclass(frozen=True)
class Run:
    id: int
    job: str
    kind: str
    node: str
    trigger: str
    attempt: int
    job_version: int | None
    scheduled_for: float
    started: float
    finished: float | None
    state: RunState
    summary: str | None
    counters: dict[str, Any]
    details: dict[str, Any]
    changed: bool | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "kind": self.kind,
            "node": self.node,
            "trigger": self.trigger,
            "attempt": self.attempt,
            "job_version": self.job_version,
            "scheduled_for": self.scheduled_for,
            "started": self.started,
            "finished": self.finished,
            "duration": None if self.finished is None else self.finished - self.started,
            "state": str(self.state),
            "summary": self.summary,
            "counters": self.counters,
            "details": self.details,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class Interrupted:
    run_id: int
    job: str
    started: float


@dataclass(frozen=True)
class RowSetInfo:
    id: int
    source: str
    checksum: str
    row_count: int
    columns: list[str]
    created: float
    run_id: int | None


@dataclass(frozen=True)
class ObjectChanges:
    """What one sync writes, in one transaction: objects and the activity entry recording it."""

    rule: str
    run_id: int | None
    created: float
    creates: list[tuple[str, str, str]]  # (type, name, properties JSON)
    updates: list[tuple[str, str, str]]
    deletes: list[tuple[str, str]]
    changes: list[dict[str, Any]]  # the change set, for the activity log


@dataclass(frozen=True)
class Deployment:
    id: int
    checksum: str
    package: str
    stage: str | None
    started: float
    finished: float | None
    ok: bool | None
    error: str | None
    run_id: int | None


class StoreError(Exception):
    """The database could not be opened or answered with an error."""


class Store(abc.ABC):
    """Async access to the durable state. Implementations are used from one event loop."""

    dialect: str

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and apply pending migrations."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    @abc.abstractmethod
    def lock_daemon(self) -> None:
        """Make sure this is the only daemon scheduling on this store (raise StoreError if
        another one is). A store shared by several nodes coordinates by claims instead."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """A trivial query; raises StoreError when the database does not answer."""

    # -- job definitions -----------------------------------------------------------------------

    @abc.abstractmethod
    async def sync_config_jobs(
        self, jobs: list[tuple[str, str, dict[str, Any]]], now: float
    ) -> None:
        """Make the config-managed definitions exactly ``(name, kind, definition)``: new ones are
        inserted, changed ones get a new version, ones gone from the config are removed."""

    @abc.abstractmethod
    async def list_jobs(self) -> list[JobRecord]: ...

    # -- state and runs ------------------------------------------------------------------------

    @abc.abstractmethod
    async def job_states(self) -> dict[str, JobState]: ...

    @abc.abstractmethod
    async def claim_run(self, claim: Claim) -> int | None:
        """Insert the run row (state running) and note the attempt; None if already claimed."""

    @abc.abstractmethod
    async def finish_run(self, run_id: int, claim: Claim, outcome: Outcome) -> None:
        """Finish the run row and update the job's state, in one transaction."""

    @abc.abstractmethod
    async def interrupt_running(
        self, node: str | None, now: float, alive: Callable[[str | None], bool]
    ) -> list[Interrupted]:
        """Runs still 'running' (of ``node``, or all) whose owner is not ``alive`` become
        'interrupted': the process that ran them died."""

    @abc.abstractmethod
    async def history(self, job: str, limit: int = 20) -> list[Run]: ...

    @abc.abstractmethod
    async def get_run(self, run_id: int) -> Run | None: ...

    # -- imports and objects -------------------------------------------------------------------

    @abc.abstractmethod
    async def latest_row_set(self, source: str) -> RowSetInfo | None: ...

    @abc.abstractmethod
    async def save_row_set(
        self,
        source: str,
        checksum: str,
        rows: list[tuple[str, str, str]],
        columns: list[str],
        created: float,
        run_id: int | None,
    ) -> int:
        """Store a row set: rows ``(key, row checksum, canonical JSON)``; a row already stored
        (same checksum) is shared, not stored again. Returns the row set's id."""

    @abc.abstractmethod
    async def row_set_data(self, row_set: int) -> list[tuple[str, str]]:
        """(key, canonical JSON) of every row of a row set, by key."""

    @abc.abstractmethod
    async def objects(
        self, object_type: str | None = None
    ) -> list[tuple[str, str, str, str | None]]:
        """(type, name, properties JSON, creating rule), by type and name."""

    @abc.abstractmethod
    async def apply_object_changes(self, changes: ObjectChanges) -> int:
        """Write a sync's objects and its activity entry atomically; returns the entry's id."""

    @abc.abstractmethod
    async def activity(self, rule: str | None = None, limit: int = 20) -> list[dict[str, Any]]: ...

    # -- rendered configs and deployments -------------------------------------------------------

    @abc.abstractmethod
    async def save_rendered_config(
        self, checksum: str, files_json: str, object_count: int, created: float
    ) -> None:
        """Keep a rendered config (once per checksum)."""

    @abc.abstractmethod
    async def start_deployment(
        self, checksum: str, package: str, started: float, run_id: int | None
    ) -> int: ...

    @abc.abstractmethod
    async def finish_deployment(
        self,
        deployment: int,
        checksum: str,
        stage: str | None,
        finished: float,
        ok: bool,
        error: str | None,
    ) -> None: ...

    @abc.abstractmethod
    async def last_deployment(self, package: str, ok: bool | None = None) -> Deployment | None:
        """The newest deployment of ``package`` (only successful or failed ones with ``ok``)."""

    @abc.abstractmethod
    async def deployments(self, limit: int = 20) -> list[Deployment]: ...

    # -- housekeeping --------------------------------------------------------------------------

    @abc.abstractmethod
    async def purge_runs(self, before: float, keep_per_job: int) -> int:
        """Delete finished runs that ended before ``before`` or rank beyond ``keep_per_job``."""

    @abc.abstractmethod
    async def purge_imports(self, keep_row_sets: int) -> dict[str, int]:
        """Keep the newest ``keep_row_sets`` row sets of each source; drop rows none uses."""

    @abc.abstractmethod
    async def purge_rendered_configs(self, before: float) -> int:
        """Drop rendered configs created before ``before`` that were never deployed."""

    @abc.abstractmethod
    async def optimize(self) -> dict[str, Any]:
        """Let the database tidy itself up; returns what it did."""
