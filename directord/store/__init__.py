"""Everything durable: job definitions, job state, runs. One interface, one module a database.

``base`` states the interface; ``manager`` implements it as named queries over a ``connector``;
``sqlite`` and ``memory`` are connectors (a PostgreSQL one slots in beside them).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from directord.store.base import (
    Claim,
    Deployment,
    Interrupted,
    JobRecord,
    JobState,
    ObjectChanges,
    Outcome,
    RowSetInfo,
    Run,
    RunState,
    Store,
    StoreError,
    StoreUnavailable,
    Trigger,
)
from directord.store.memory import MemoryStore
from directord.store.sqlite import SQLiteStore

MEMORY_URL = "memory://"


class HasDatabase(Protocol):
    """Whatever names the database (``config.Settings``)."""

    def database_url(self) -> str: ...


def open_store(
    url: str,
    *,
    password_file: Path | None = None,
    node: str | None = None,
    lease: float = 30.0,
    cluster_limit: int | None = None,
) -> Store:
    """The store for a ``database:`` URL (not yet connected: call ``await store.open()``).
    The keywords concern a shared (PostgreSQL) store: its password file, this daemon's node
    name, the run lease, and the cluster-wide concurrency limit (None: node scope)."""
    if url.startswith("sqlite:///"):
        return SQLiteStore.from_url(url)
    if url == MEMORY_URL:
        return MemoryStore()
    if url.startswith(("postgresql://", "postgres://")):
        from directord.store import postgres  # noqa: PLC0415 (asyncpg only when configured)

        return postgres.PostgresStore(
            url, password_file=password_file, node=node, lease=lease, cluster_limit=cluster_limit
        )
    raise StoreError(
        f"unsupported database URL {url!r} "
        "(use sqlite:///path/to/file.db or postgresql://user@host:5432/db)"
    )


@asynccontextmanager
async def open(settings: HasDatabase | str, *, readonly: bool = False) -> AsyncIterator[Store]:
    """Just the store, open (migrated) and closed on the way out: for commands that need no
    supervisor. ``readonly``: every write raises StoreError (for commands that only look)."""
    if isinstance(settings, str):
        db = open_store(settings)
    else:
        # A shared store's password file, node and lease, where the settings have them.
        options: dict[str, Any] = getattr(settings, "store_options", dict)()
        db = open_store(settings.database_url(), **options)
    await db.open(readonly=readonly)
    try:
        yield db
    finally:
        await db.close()


__all__ = [
    "MEMORY_URL",
    "Claim",
    "Deployment",
    "HasDatabase",
    "Interrupted",
    "JobRecord",
    "JobState",
    "MemoryStore",
    "ObjectChanges",
    "Outcome",
    "RowSetInfo",
    "Run",
    "RunState",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Trigger",
    "open",
    "open_store",
]
