"""The store interface: everything durable (job definitions, job state, runs) behind one API.

One implementation (``manager.QueryStore``) over one connector per database: sqlite.py (the
default), memory.py (for tests), a PostgreSQL one for several nodes.
A run is claimed by inserting its row (``UNIQUE(job, scheduled_for)``) before the job starts, so
the same interface serves one node or a cluster.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from directord import jobstate
from directord.store import icinga_data
from directord.store.outage import Outage

# A job's state is the job-state rules' (jobstate.py); the store records it.
JobState = jobstate.JobState
# The Icinga pipeline's records: defined with their part of the interface (icinga_data.py).
RowSetInfo = icinga_data.RowSetInfo
ObjectChanges = icinga_data.ObjectChanges
Deployment = icinga_data.Deployment


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
    catch_up = "catch_up"  # a calendar job's latest start missed while the daemon was down


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
    # The job's last attempt as the claimer knows it: a shared store refuses a scheduled claim
    # when the job was attempted after that (another node ran it; this view is stale). 0.0:
    # never attempted as far as the claimer knows; None: no view to check.
    last_attempt_seen: float | None = None


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
    owner: str | None = None  # the process running it, "pid:start time"
    process_group: str | None = None  # what its job spawned, "pgid:start time@host"

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
    node: str | None = None
    process_group: str | None = None  # what its job spawned: to be ended if it still runs
    owner: str | None = None  # the process that ran it: its children carry its mark


class StoreError(Exception):
    """The database could not be opened or answered with an error. Every store method raises it
    (not the driver's own exceptions) when the database fails."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now (an outage): retry later, nothing is wrong with
    the request itself."""


class Store(icinga_data.IcingaData):
    """Async access to the durable state. Implementations are used from one event loop.

    Times are epoch seconds as the caller gives them (the store never reads a clock). What each
    method promises is stated here and proven for every store by the contract suite
    (tests/integration/test_store.py)."""

    dialect: str
    """The folder under ``sql/`` of the store's queries and migrations ("memory": none)."""

    single_daemon: bool = True
    """Whether ``lock_daemon`` admits one daemon at a time (False: several nodes share it)."""
    # Why the last claim_run returned None: 'claimed' (that due run exists), 'running' (the job
    # runs somewhere), 'limit' (the cluster-wide concurrency limit is reached), 'stale' (the job
    # was attempted after the claimer's view of it).
    last_refusal: str | None = None

    @abc.abstractmethod
    async def open(self, readonly: bool = False) -> None:
        """Connect and apply pending migrations. ``readonly``: afterwards every method that
        writes raises StoreError (for commands that only look). Raises StoreError, with the path
        and what to do, when the database cannot be opened or written."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect and release the daemon lock; everything written so far stays. Closing a
        closed store does nothing; the store can be opened again."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The newest migration applied (``queries.latest_version(dialect)`` once open)."""

    @abc.abstractmethod
    def lock_daemon(self) -> None:
        """Make sure this is the only daemon scheduling on this store (raise StoreError if
        another one is). A store shared by several nodes coordinates by claims instead. Held
        until ``close``; taking it twice in one store does nothing."""

    @property
    def outage(self) -> Outage | None:
        """Since when and why the database cannot be written or reached (store/outage.py)."""
        return None

    async def join(self, node: str, owner: str, checksums: dict[str, str]) -> None:
        """Serve as the daemon ``node`` (``owner``: "pid:start time"; ``checksums``: of each
        job's definition). A store of one daemon locks; a shared one registers the node."""
        self.lock_daemon()

    def subscribe(self, callback: Callable[[dict[str, JobState]], None]) -> None:
        """Call ``callback`` with job states other processes recorded (a shared store only)."""
        return

    def cluster(self) -> dict[str, Any] | None:
        """The last known view of the nodes sharing this store, refreshed by this daemon's
        heartbeat (``nodes``, ``warnings``); None: the store is not shared."""
        return None

    async def nodes(self) -> list[dict[str, Any]]:
        """The daemons sharing this store, with liveness (empty: a store of one daemon)."""
        return []

    @abc.abstractmethod
    async def ping(self) -> None:
        """A trivial query; raises StoreError when the database does not answer, or when it is
        no longer the database that was opened (a file replaced or removed underneath). Cheap,
        and harmless to the database: it is called by /health at most once a second."""

    # -- job definitions -----------------------------------------------------------------------

    @abc.abstractmethod
    async def sync_config_jobs(
        self, jobs: list[tuple[str, str, dict[str, Any]]], now: float
    ) -> None:
        """Make the config-managed definitions exactly ``(name, kind, definition)``: new ones are
        inserted, changed ones get a new version, ones gone from the config are removed."""

    @abc.abstractmethod
    async def list_jobs(self) -> list[JobRecord]:
        """Every stored definition, by name."""

    @abc.abstractmethod
    async def set_job_disabled(self, job: str, disabled: bool, now: float) -> None:
        """Switch a job off (or on again) in the store, whatever its definition says."""

    @abc.abstractmethod
    async def disabled_jobs(self) -> dict[str, float]:
        """The jobs switched off in the store, with when that was done."""

    @abc.abstractmethod
    async def create_job(
        self, name: str, kind: str, definition: dict[str, Any], managed_by: str, now: float
    ) -> JobRecord | None:
        """Store a new definition at version 1 (``managed_by``: "store" for the web and API);
        None, writing nothing, when a job of that name exists (whoever manages it)."""

    @abc.abstractmethod
    async def update_job(
        self, name: str, kind: str, definition: dict[str, Any], version: int, now: float
    ) -> JobRecord | None:
        """Replace a store-managed definition whose version is still ``version`` and count
        the version up; None, changing nothing, when it is not store-managed, gone, or its
        version moved on (optimistic locking: the writer read a stale definition)."""

    @abc.abstractmethod
    async def delete_job(self, name: str, version: int | None = None) -> bool:
        """Remove a store-managed definition (at ``version``, if given); its runs and state
        stay. False when there is no such store-managed job (at that version)."""

    # -- state and runs ------------------------------------------------------------------------

    @abc.abstractmethod
    async def job_states(self) -> dict[str, JobState]:
        """Each job's state by name, as its finished (and interrupted) runs left it: a job that
        never finished a run has none."""

    @abc.abstractmethod
    async def claim_run(self, claim: Claim) -> int | None:
        """Insert the run row (state running) and return its id; None, writing nothing, if the
        job already has a running row or ``(job, scheduled_for)`` was claimed before."""

    @abc.abstractmethod
    async def finish_run(self, run_id: int, claim: Claim, outcome: Outcome) -> None:
        """Finish the run row and update the job's state, in one transaction: last attempt (the
        run's start), last finished, last result and error, last success, consecutive failures.
        A run that is no longer running (finished or interrupted) is left as it is."""

    @abc.abstractmethod
    async def interrupt_running(
        self, node: str | None, now: float, alive: Callable[[str | None], bool]
    ) -> list[Interrupted]:
        """Runs still 'running' (of ``node``, or all) whose owner is not ``alive`` become
        'interrupted' at ``now``, recorded in the job's state as a failed result: the process
        that ran them died. Returns those runs."""

    @abc.abstractmethod
    async def record_process_group(self, run_id: int, process_group: str) -> None:
        """Note on a running run the process group its job spawned (``"pgid:start time@host"``
        of the leader), so whoever records the run as interrupted can end what is left of it.
        A run that is no longer running is left as it is."""

    @abc.abstractmethod
    async def running_runs(self, node: str | None = None) -> list[Run]:
        """The runs still 'running' (of ``node``, or all), oldest first, with their owner and
        process group: whoever reads them may find an owner gone (views show those as
        interrupted before the next daemon records it)."""

    @abc.abstractmethod
    async def append_run_summary(self, run_id: int, text: str) -> None:
        """Add ``text`` to the summary of a run that stopped running (what was done about its
        processes after it was recorded as interrupted); a running run is left as it is."""

    def on_interrupted(self, callback: Callable[[list[Interrupted]], object]) -> None:
        """Call ``callback`` with runs the store recorded as interrupted on its own (a shared
        store: a lease ran out), with their process groups."""
        return

    @abc.abstractmethod
    async def history(self, job: str, limit: int = 20) -> list[Run]:
        """The job's newest ``limit`` runs, newest first (by start, then id)."""

    @abc.abstractmethod
    async def job_runs(
        self, job: str, *, limit: int = 20, before: int | None = None, state: str | None = None
    ) -> list[Run]:
        """A page of the job's runs, newest first by id: those with an id below ``before``
        (the last id of the previous page), only in ``state`` if given."""

    @abc.abstractmethod
    async def get_run(self, run_id: int) -> Run | None:
        """One run by id, None if there is none."""

    # -- housekeeping --------------------------------------------------------------------------

    @abc.abstractmethod
    async def purge_runs(self, before: float, keep_per_job: int) -> int:
        """Delete finished runs that ended before ``before`` or rank beyond ``keep_per_job``
        (newest first, a running run counts but is never deleted); returns how many went."""

    @abc.abstractmethod
    async def purge_imports(self, keep_row_sets: int) -> dict[str, int]:
        """Keep the newest ``keep_row_sets`` row sets of each source; drop rows none uses.
        Returns ``{"row_sets": removed, "rows": removed}``."""

    @abc.abstractmethod
    async def purge_rendered_configs(self, before: float) -> int:
        """Drop rendered configs created before ``before`` that were never deployed (nor
        attempted); returns how many went."""

    @abc.abstractmethod
    async def optimize(self) -> dict[str, Any]:
        """Let the database tidy itself up; returns what it did (at least ``vacuumed``)."""
