"""One connection to Director's database, PostgreSQL (asyncpg) or MySQL/MariaDB (asyncmy).

Queries are written once with ``?`` placeholders; each driver gets its own style. Timestamps
cross this edge as epoch seconds: on PostgreSQL the columns are ``timestamp with time zone``, on
MySQL ``TIMESTAMP`` read and written with the session in UTC.
"""

from __future__ import annotations

import abc
import re
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from directord.director import config as director_config

CONNECT_TIMEOUT = 10.0


class DirectorDbError(Exception):
    """Director's database cannot be reached or answers with an error."""


class Database(abc.ABC):
    dialect: str

    @abc.abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; the number of rows it changed."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def timestamp(self, ts: float) -> datetime:
        """An epoch second as the driver wants it for a timestamp column."""

    @abc.abstractmethod
    def epoch(self, value: datetime | None) -> float | None:
        """A timestamp column's value as epoch seconds."""

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Postgres(Database):
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @staticmethod
    def _sql(sql: str) -> str:
        counter = iter(range(1, 1000))
        return re.sub(r"\?", lambda _: f"${next(counter)}", sql)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        try:
            return [dict(r) for r in await self._conn.fetch(self._sql(sql), *args)]
        except Exception as exc:
            raise DirectorDbError(f"{type(exc).__name__}: {exc}") from exc

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            status = await self._conn.execute(self._sql(sql), *args)
        except Exception as exc:
            raise DirectorDbError(f"{type(exc).__name__}: {exc}") from exc
        tail = str(status).rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def close(self) -> None:
        await self._conn.close()

    def timestamp(self, ts: float) -> datetime:
        return datetime.fromtimestamp(int(ts), UTC)

    def epoch(self, value: datetime | None) -> float | None:
        return None if value is None else value.timestamp()


class _MySQL(Database):
    dialect = "mysql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        try:
            async with self._conn.cursor() as cur:
                await cur.execute(self._sql(sql), args or None)
                names = [d[0] for d in cur.description or ()]
                return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
        except Exception as exc:
            raise DirectorDbError(f"{type(exc).__name__}: {exc}") from exc

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            async with self._conn.cursor() as cur:
                await cur.execute(self._sql(sql), args or None)
                return int(cur.rowcount)
        except Exception as exc:
            raise DirectorDbError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        await self._conn.ensure_closed()

    def timestamp(self, ts: float) -> datetime:
        # The session runs in UTC (connect), so a naive UTC value is that instant.
        return datetime.fromtimestamp(int(ts), UTC).replace(tzinfo=None)

    def epoch(self, value: datetime | None) -> float | None:
        return None if value is None else value.replace(tzinfo=UTC).timestamp()


def _password(cfg: director_config.DirectorConfig, base_dir: Path) -> str | None:
    if cfg.password_file is None:
        return None
    path = Path(cfg.password_file).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise DirectorDbError(
            f"director.password_file: cannot read {path}: {exc.strerror}"
        ) from exc


def where(cfg: director_config.DirectorConfig) -> str:
    """The DSN without its password, for messages."""
    url = urllib.parse.urlsplit(cfg.dsn)
    host = url.hostname or "localhost"
    user = f"{url.username}@" if url.username else ""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{user}{host}{port}{url.path}"


async def connect(cfg: director_config.DirectorConfig, base_dir: Path) -> Database:
    """Open a connection; DirectorDbError names the database and the reason."""
    url = urllib.parse.urlsplit(cfg.dsn)
    password = _password(cfg, base_dir) or (
        urllib.parse.unquote(url.password) if url.password else None
    )
    database = url.path.lstrip("/") or "director"
    try:
        if url.scheme in ("postgresql", "postgres"):
            # Lazy: only the client of the database in use loads (each costs start-up and RSS).
            import asyncpg  # noqa: PLC0415

            pg = await asyncpg.connect(
                host=url.hostname or "localhost",
                port=url.port or 5432,
                user=urllib.parse.unquote(url.username or "director"),
                password=password,
                database=database,
                timeout=CONNECT_TIMEOUT,
            )
            return _Postgres(pg)
        import asyncmy  # noqa: PLC0415 - lazy, as asyncpg above

        my = await asyncmy.connect(
            host=url.hostname or "localhost",
            port=url.port or 3306,
            user=urllib.parse.unquote(url.username or "director"),
            password=password or "",
            database=database,
            connect_timeout=int(CONNECT_TIMEOUT),
            autocommit=True,
            charset="utf8mb4",
            init_command="SET time_zone = '+00:00'",
        )
        return _MySQL(my)
    except DirectorDbError:
        raise
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        raise DirectorDbError(f"cannot connect to {where(cfg)}: {reason}") from exc
