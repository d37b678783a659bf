"""Import sources: where rows come from. csv (a file), json (a file or an http(s) URL), sql (a
query against SQLite or PostgreSQL). Each names a ``key_column``; its values must be present and
unique, or the import fails naming the rows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from directord import files
from directord.icinga import auth
from directord.icinga.errors import SourceError
from directord.icinga.modifiers import Modifier

if TYPE_CHECKING:
    import aiohttp

Row = dict[str, Any]


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key_column: str = Field(min_length=1)
    modifiers: list[Modifier] = Field(default_factory=list)
    description: str | None = None


class CsvSource(_Source):
    type: Literal["csv"]
    path: str
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    header_row: int = Field(1, ge=1, description="The line holding the column names")


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["basic", "bearer"]
    user: str | None = None
    password_file: str | None = None
    token_file: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Auth:
        if self.type == "basic" and (self.user is None or self.password_file is None):
            raise ValueError("basic auth needs 'user' and 'password_file'")
        if self.type == "bearer" and self.token_file is None:
            raise ValueError("bearer auth needs 'token_file'")
        return self


class JsonSource(_Source):
    type: Literal["json"]
    path: str | None = None
    url: str | None = None
    rows_at: str | None = Field(None, description="Where the row list is, e.g. 'data.items'")
    auth: Auth | None = None
    timeout: float = Field(60, gt=0)
    verify_tls: bool = True

    @model_validator(mode="after")
    def _one_place(self) -> JsonSource:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' and 'url'")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} is not http(s)")
        return self


class SqlSource(_Source):
    type: Literal["sql"]
    dsn: str = Field(description="sqlite:///path/to.db or postgresql://user@host:5432/db")
    query: str
    password_file: str | None = None

    @model_validator(mode="after")
    def _dialect(self) -> SqlSource:
        if not self.dsn.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(f"dsn {self.dsn!r}: use sqlite:///path or postgresql://...")
        return self


ImportSource = Annotated[CsvSource | JsonSource | SqlSource, Field(discriminator="type")]


def _secret(base_dir: Path, name: str, what: str) -> str:
    path = Path(name).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        return files.read_secret(path, what)
    except files.FileProblem as exc:
        raise SourceError(str(exc)) from None


def read_csv(source: CsvSource, base_dir: Path) -> list[Row]:
    """Blocking: call it in a worker thread."""
    path = Path(source.path).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        with path.open(newline="", encoding=source.encoding) as f:
            for _ in range(source.header_row - 1):
                f.readline()
            reader = csv.DictReader(f, delimiter=source.delimiter)
            rows = [dict(r) for r in reader]
            if reader.fieldnames is None:
                raise SourceError(f"{path}: no header row at line {source.header_row}")
            extra = [i for i, r in enumerate(rows) if None in r]
            if extra:
                line = extra[0] + source.header_row + 1
                raise SourceError(f"{path}: line {line} has more fields than the header")
            return rows
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"{path}: not readable as {source.encoding} CSV: {exc}") from None


def rows_from_json(document: Any, rows_at: str | None, where: str) -> list[Row]:
    node = document
    for step in (rows_at or "").split(".") if rows_at else []:
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            raise SourceError(f"{where}: rows_at {rows_at!r}: no {step!r} in the document")
    if not isinstance(node, list):
        raise SourceError(
            f"{where}: expected a list of rows at {rows_at or 'the top'}, "
            f"found {type(node).__name__}"
        )
    bad = [i for i, r in enumerate(node) if not isinstance(r, dict)]
    if bad:
        raise SourceError(f"{where}: row {bad[0]} is not an object")
    return node


async def fetch_json(
    source: JsonSource,
    base_dir: Path,
    http: Callable[[], aiohttp.ClientSession],
    to_thread: Callable[..., Any],
) -> list[Row]:
    if source.path is not None:
        path = Path(source.path).expanduser()
        path = path if path.is_absolute() else base_dir / path

        def load() -> Any:
            try:
                return json.loads(path.read_bytes())
            except OSError as exc:
                raise SourceError(f"cannot read {path}: {exc.strerror}") from None
            except ValueError as exc:
                raise SourceError(f"{path}: not JSON: {exc}") from None

        return rows_from_json(await to_thread(load), source.rows_at, str(path))
    # Lazy: the config models live here too, and loading a config needs no HTTP client.
    import aiohttp  # noqa: PLC0415

    assert source.url is not None
    headers = {"Accept": "application/json"}
    if source.auth is not None:
        if source.auth.type == "basic":
            password = _secret(base_dir, source.auth.password_file or "", "password")
            headers["Authorization"] = auth.basic(source.auth.user or "", password)
        else:
            token = _secret(base_dir, source.auth.token_file or "", "token")
            headers["Authorization"] = f"Bearer {token}"
    try:
        async with http().get(
            source.url,
            headers=headers,
            ssl=source.verify_tls,
            timeout=aiohttp.ClientTimeout(total=source.timeout),
        ) as response:
            if response.status != 200:
                raise SourceError(f"GET {source.url}: HTTP {response.status} {response.reason}")
            body = await response.read()
    except aiohttp.ClientError as exc:
        raise SourceError(f"GET {source.url}: {type(exc).__name__}: {exc}") from None
    except TimeoutError:
        raise SourceError(f"GET {source.url}: no answer within {source.timeout:g}s") from None
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise SourceError(f"GET {source.url}: not JSON: {exc}") from None
    return rows_from_json(document, source.rows_at, source.url)


async def fetch_sql(source: SqlSource, base_dir: Path) -> list[Row]:
    if source.dsn.startswith("sqlite:///"):
        # Lazy: the config models live here, and loading a config needs no database client.
        import aiosqlite  # noqa: PLC0415

        path = Path(source.dsn[len("sqlite:///") :]).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            raise SourceError(f"SQLite database {path} does not exist")
        try:
            async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True) as db:
                db.row_factory = aiosqlite.Row
                rows = await db.execute_fetchall(source.query)
                return [dict(r) for r in rows]
        except Exception as exc:  # sqlite3.Error and friends: report them all the same way
            raise SourceError(f"query on {path} failed: {exc}") from None
    # Deliberately lazy: asyncpg loads only for a PostgreSQL source, not at every start-up.
    import asyncpg  # noqa: PLC0415

    password = _secret(base_dir, source.password_file, "password") if source.password_file else None
    try:
        conn = await asyncpg.connect(source.dsn, password=password, timeout=30)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise SourceError(f"cannot connect to {_redact_dsn(source.dsn)}: {exc}") from None
    try:
        records = await conn.fetch(source.query)
    except asyncpg.PostgresError as exc:
        raise SourceError(f"query on {_redact_dsn(source.dsn)} failed: {exc}") from None
    finally:
        await conn.close()
    return [dict(r) for r in records]


def _redact_dsn(dsn: str) -> str:
    scheme, sep, rest = dsn.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{creds}{at}{host}"
