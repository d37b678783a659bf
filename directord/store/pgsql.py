"""asyncpg and the named statements: ``:name`` parameters numbered, outage errors classified.
Shared by the PostgreSQL store (postgres.py) and a daemon's presence on it (presence.py)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

import asyncpg

from directord.store import queries
from directord.store.connector import Params

DIALECT = "postgresql"
# The statements every dialect has (queries.sql), and those only a shared store has.
STATEMENTS = {
    **queries.load(DIALECT),
    **queries.parse(
        resources.files("directord.store").joinpath("sql", DIALECT, "cluster.sql").read_text(),
        f"sql/{DIALECT}/cluster.sql",
    ),
}
# Advisory lock keys (64-bit): one for migrations (also in queries.sql), one serializing claims.
MIGRATE_KEY = 0x64697265_00000001
CLAIM_KEY = 0x64697265_00000002
# What an outage raises (the server down, restarting, or the network gone), as opposed to an
# error in a statement.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


@cache
def statement(name: str) -> tuple[str, tuple[str, ...]]:
    """A named statement with ``$n`` placeholders, and the parameter names in that order."""
    sql, names = queries.numbered(STATEMENTS[name])
    return sql, tuple(names)


def args(name: str, params: Params) -> tuple[str, list[Any]]:
    sql, names = statement(name)
    return sql, [params[n] for n in names]


def lock_key(text: str) -> int:
    """A stable signed 64-bit advisory lock key for a name."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def affected(status: str) -> int:
    """Rows affected, from a command tag like ``DELETE 3``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
