"""Everything durable: job definitions, job state, runs. One interface, one module a database.

``base`` states the interface; ``manager`` implements it as named queries over a ``connector``;
``sqlite`` and ``memory`` are connectors (a PostgreSQL one slots in beside them).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

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
    Trigger,
)
from directord.store.memory import MemoryStore
from directord.store.sqlite import SQLiteStore

MEMORY_URL = "memory://"


class HasDatabase(Protocol):
    """Whatever names the database (``config.Settings``)."""

    def database_url(self) -> str: ...


def open_store(url: str) -> Store:
    """The store for a ``database:`` URL (not yet connected: call ``await store.open()``).
    ``memory://`` is an empty in-memory store, for tests: nothing is kept."""
    if url.startswith("sqlite:///"):
        return SQLiteStore.from_url(url)
    if url == MEMORY_URL:
        return MemoryStore()
    if url.startswith(("postgresql://", "postgres://")):
        raise StoreError("PostgreSQL is not supported by this build yet; use sqlite:///path")
    raise StoreError(f"unsupported database URL {url!r} (use sqlite:///path/to/file.db)")


@asynccontextmanager
async def open(settings: HasDatabase | str, *, readonly: bool = False) -> AsyncIterator[Store]:
    """Just the store, open (migrated) and closed on the way out: for commands that need no
    supervisor. ``readonly``: every write raises StoreError (for commands that only look)."""
    url = settings if isinstance(settings, str) else settings.database_url()
    db = open_store(url)
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
    "Trigger",
    "open",
    "open_store",
]
