"""An in-memory store: every named query as a Python method on plain dicts, no file, no thread.

For unit tests of what sits on a store (the run executor, the due queue): each call completes
within the event loop, so a test on a fake clock never waits for I/O. As procrastinate's
``InMemoryConnector``, it answers the same query names as the SQL dialects, under the same
``manager.QueryStore``, and the store contract suite proves it behaves as they do. Nothing
survives the process.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from directord.store import connector, manager, memory_queries, queries
from directord.store.base import StoreError
from directord.store.connector import NO_PARAMS, Params, Row

# Statements that change something: refused once the store is read-only.
_WRITES = queries.names() - memory_queries.READS


@dataclass
class MemoryDatabase:
    """What a database file would hold: share one between stores to "reopen" it."""

    tables: memory_queries.Tables = field(default_factory=memory_queries.Tables)
    daemon: object | None = None  # the connector holding the daemon lock


class _MemoryTransaction(connector.Transaction):
    def __init__(self, owner: MemoryConnector) -> None:
        self.owner = owner

    async def execute(self, query: str, params: Params = NO_PARAMS) -> None:
        self.owner.call(query, params)

    async def count(self, query: str, params: Params = NO_PARAMS) -> int:
        result = self.owner.call(query, params)
        return result if isinstance(result, int) else 0

    async def execute_many(
        self, query: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        for row in rows:
            self.owner.call(query, dict(zip(columns, row, strict=True)))

    async def fetch_one(self, query: str, params: Params = NO_PARAMS) -> Row | None:
        rows = self.owner.rows(query, params)
        return rows[0] if rows else None

    async def fetch_all(self, query: str, params: Params = NO_PARAMS) -> list[Row]:
        return self.owner.rows(query, params)

    async def run_script(self, script: str) -> None:
        raise StoreError("the in-memory store has no migration scripts")


class MemoryConnector(connector.Connector):
    """Named queries answered by ``memory_queries.Tables`` of one ``MemoryDatabase``."""

    dialect = "memory"

    def __init__(self, database: MemoryDatabase | None = None) -> None:
        self.database = database if database is not None else MemoryDatabase()
        self._open = False
        self._readonly = False
        self._in_transaction = False

    def call(self, query: str, params: Params) -> Any:
        if not self._open:
            raise StoreError("the store is not open")
        if self._readonly and query in _WRITES:
            raise StoreError(f"the store was opened read-only (refused: {query})")
        if query not in queries.names():
            raise StoreError(f"the in-memory store has no query {query!r}")
        method: Callable[..., Any] = getattr(self.database.tables, query)
        return method(**params)

    def rows(self, query: str, params: Params) -> list[Row]:
        result = self.call(query, params)
        if result is None:
            return []
        return [dict(r) for r in (result if isinstance(result, list) else [result])]

    async def open(self) -> None:
        self._open = True
        self._readonly = False

    async def close(self) -> None:
        if self.database.daemon is self:
            self.database.daemon = None
        self._open = False

    async def read_only(self) -> None:
        self._readonly = True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[connector.Transaction]:
        if not self._open:
            raise StoreError("the store is not open")
        # Calls never yield to the loop, so only the body's own awaits could interleave with
        # other coroutines; like SQLite's one connection, transactions do not nest.
        if self._in_transaction:
            raise StoreError("a transaction is already in progress")
        snapshot = copy.deepcopy(self.database.tables)
        self._in_transaction = True
        try:
            yield _MemoryTransaction(self)
        except BaseException:
            self.database.tables = snapshot
            raise
        finally:
            self._in_transaction = False

    async def execute(self, query: str, params: Params = NO_PARAMS) -> None:
        self.call(query, params)

    async def fetch_one(self, query: str, params: Params = NO_PARAMS) -> Row | None:
        rows = self.rows(query, params)
        return rows[0] if rows else None

    async def fetch_all(self, query: str, params: Params = NO_PARAMS) -> list[Row]:
        return self.rows(query, params)

    async def ping(self) -> None:
        self.call("ping", NO_PARAMS)

    def lock_daemon(self) -> None:
        holder = self.database.daemon
        if holder is not None and holder is not self:
            raise StoreError("another directord daemon already runs on this in-memory database")
        self.database.daemon = self

    async def optimize(self) -> dict[str, Any]:
        self.call("ping", NO_PARAMS)
        return {"checkpoint_busy": None, "free_pages": 0, "vacuumed": False}


class MemoryStore(manager.QueryStore):
    """The store in memory (``database: memory://``; for tests: nothing is kept)."""

    connector: MemoryConnector

    def __init__(self, database: MemoryDatabase | None = None) -> None:
        super().__init__(MemoryConnector(database))

    @property
    def database(self) -> MemoryDatabase:
        return self.connector.database
