"""What a store needs from a database: run a named query, in or out of a transaction.

As procrastinate's connector: the store (``manager.QueryStore``) knows what every query means;
a connector knows only how to run one on its database (``sqlite.SQLiteConnector``, the
in-memory ``memory.MemoryConnector``, a PostgreSQL one). Queries are asked for by name
(``queries.names()``), with named parameters of portable types: str, int, float, None (JSON as
text, booleans as 0/1). Rows come back as mappings from column name to value.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from directord.store.outage import Outage

Params = Mapping[str, Any]
NO_PARAMS: Params = {}


class Row(Protocol):
    """A result row: its columns by name (sqlite3.Row, asyncpg.Record and dict all are)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Queries(abc.ABC):
    """Named queries on one connection."""

    @abc.abstractmethod
    async def execute(self, query: str, params: Params = NO_PARAMS) -> None:
        """Run a statement that returns nothing."""

    @abc.abstractmethod
    async def fetch_one(self, query: str, params: Params = NO_PARAMS) -> Row | None:
        """The first row of a query, or None."""

    @abc.abstractmethod
    async def fetch_all(self, query: str, params: Params = NO_PARAMS) -> list[Row]:
        """Every row of a query."""


class Transaction(Queries):
    """Named queries inside one transaction: all of them happen, or none (on an exception)."""

    @abc.abstractmethod
    async def execute_many(
        self, query: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Run a statement once per row; a row holds the parameters named in ``columns``, in
        that order (tuples, not a dict a row: these are the bulk writes)."""

    @abc.abstractmethod
    async def count(self, query: str, params: Params = NO_PARAMS) -> int:
        """Run a statement; how many rows it changed."""

    @abc.abstractmethod
    async def run_script(self, script: str) -> None:
        """Run a migration script (several statements in the dialect's own syntax)."""


class Connector(Queries):
    """One database: its connection, its transactions, and what only that database does."""

    dialect: str
    """The folder under ``sql/`` with this database's queries and migrations."""

    outage: Outage | None = None
    """Since when and why the database cannot be written (None: this one never goes away)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect (creating the database where that is the database's way)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect; what was committed stays. Closing a closed connector does nothing."""

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A transaction that commits when the block ends and rolls back on an exception.
        Statements of other coroutines wait until it ends."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise ``base.StoreError`` when the database does not answer or is no longer the one
        that was opened."""

    @abc.abstractmethod
    def lock_daemon(self) -> None:
        """See ``base.Store.lock_daemon``."""

    @abc.abstractmethod
    async def optimize(self) -> dict[str, Any]:
        """See ``base.Store.optimize``."""

    def note_writes(self, count: int = 1) -> None:
        """``count`` rows were written (a hint: SQLite checkpoints its WAL after enough)."""

    async def read_only(self) -> None:
        """From now on refuse to write (for commands that only look)."""
