"""The store interface's part for the Icinga pipeline: row sets of imports, the desired objects
and the activity of syncs, rendered configs and deployments (``base.Store`` includes it)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any


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


class IcingaData(abc.ABC):
    """What the import, sync and config kinds keep. Times are epoch seconds as given."""

    # -- imports and objects -------------------------------------------------------------------

    @abc.abstractmethod
    async def latest_row_set(self, source: str) -> RowSetInfo | None:
        """The newest row set saved for ``source``, None if there is none."""

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
    async def activity(self, rule: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` activity entries (of ``rule``, or all), newest first: id,
        created, rule, run_id, the created/modified/deleted counts and the change set."""

    # -- rendered configs and deployments -------------------------------------------------------

    @abc.abstractmethod
    async def save_rendered_config(
        self, checksum: str, files_json: str, object_count: int, created: float
    ) -> None:
        """Keep a rendered config (once per checksum: a second save changes nothing)."""

    @abc.abstractmethod
    async def start_deployment(
        self, checksum: str, package: str, started: float, run_id: int | None
    ) -> int:
        """Record a deployment attempt that has not finished (ok None); returns its id."""

    @abc.abstractmethod
    async def finish_deployment(
        self,
        deployment: int,
        checksum: str,
        stage: str | None,
        finished: float,
        ok: bool,
        error: str | None,
    ) -> None:
        """Record how a deployment ended; a successful one also marks its rendered config as
        deployed (the first time only), which keeps it from ``purge_rendered_configs``."""

    @abc.abstractmethod
    async def last_deployment(self, package: str, ok: bool | None = None) -> Deployment | None:
        """The newest deployment of ``package`` (only successful or failed ones with ``ok``)."""

    @abc.abstractmethod
    async def deployments(self, limit: int = 20) -> list[Deployment]:
        """The newest ``limit`` deployments, newest first."""
