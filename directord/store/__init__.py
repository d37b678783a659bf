"""Everything durable: job definitions, job state, runs. One interface, one module a database."""

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
from directord.store.sqlite import SQLiteStore


def open_store(url: str) -> Store:
    """The store for a ``database:`` URL (not yet connected: call ``await store.open()``)."""
    if url.startswith("sqlite:///"):
        return SQLiteStore.from_url(url)
    if url.startswith(("postgresql://", "postgres://")):
        raise StoreError("PostgreSQL is not supported by this build yet; use sqlite:///path")
    raise StoreError(f"unsupported database URL {url!r} (use sqlite:///path/to/file.db)")


__all__ = [
    "Claim",
    "Deployment",
    "Interrupted",
    "JobRecord",
    "JobState",
    "ObjectChanges",
    "Outcome",
    "RowSetInfo",
    "Run",
    "RunState",
    "SQLiteStore",
    "Store",
    "StoreError",
    "Trigger",
    "open_store",
]
