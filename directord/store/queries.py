"""Named SQL statements and migration scripts, one folder a dialect (see STYLE.md).

``sql/<dialect>/queries.sql`` holds statements under ``-- name: x`` headers; Python asks for them
by name. Every dialect answers to the same set of names (``NAMES``): a query is ported, never
added to one dialect only. Parameters are named (``:job``), so a driver with numbered
placeholders converts them once (``numbered``).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.M)
# ``:name`` but not the ``::`` of a PostgreSQL cast, and not inside a string literal.
_PARAM = re.compile(r"'(?:[^']|'')*'|(?<!:):([A-Za-z_]\w*)")
_REFERENCE = "sqlite"  # the dialect whose names every other one must match


class QueryFileError(Exception):
    """A queries.sql that cannot be used (text before the first name, a name twice, no body)."""


def parse(text: str, source: str = "queries.sql") -> dict[str, str]:
    """``{name: statement}`` from ``-- name: x`` sections; comments above the first name are a
    preamble and ignored."""
    parts = _HEADER.split(text)
    preamble, sections = parts[0], parts[1:]
    if any(line.strip() and not line.lstrip().startswith("--") for line in preamble.splitlines()):
        raise QueryFileError(f"{source}: SQL before the first '-- name:' header")
    out: dict[str, str] = {}
    for name, body in zip(sections[0::2], sections[1::2], strict=True):
        if name in out:
            raise QueryFileError(f"{source}: query {name!r} is defined twice")
        statement = body.strip()
        if not any(
            line.strip() and not line.lstrip().startswith("--") for line in statement.splitlines()
        ):
            raise QueryFileError(f"{source}: query {name!r} has no statement")
        out[name] = statement
    return out


def dialects() -> list[str]:
    """Every dialect that ships a queries.sql."""
    folder = resources.files("directord.store").joinpath("sql")
    return sorted(e.name for e in folder.iterdir() if e.joinpath("queries.sql").is_file())


@cache
def load(dialect: str) -> dict[str, str]:
    """The named statements of ``dialect``; its names must be exactly ``NAMES``."""
    source = f"sql/{dialect}/queries.sql"
    text = resources.files("directord.store").joinpath("sql", dialect, "queries.sql").read_text()
    found = parse(text, source)
    if dialect != _REFERENCE:
        expected = names()
        missing, extra = sorted(expected - found.keys()), sorted(found.keys() - expected)
        if missing or extra:
            raise QueryFileError(f"{source}: missing queries {missing}, unknown queries {extra}")
    return found


@cache
def names() -> frozenset[str]:
    """The query names every store answers to."""
    return frozenset(load(_REFERENCE))


def numbered(statement: str, mark: str = "$") -> tuple[str, list[str]]:
    """``:name`` placeholders as ``$1, $2, ...`` (asyncpg's style; SQLite's with ``mark="?"``)
    and the names in that order; a name used twice keeps one number."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)  # a string literal, left as it is
        if name not in order:
            order.append(name)
        return f"{mark}{order.index(name) + 1}"

    return _PARAM.sub(number, statement), order


@cache
def migrations(dialect: str) -> list[tuple[int, str]]:
    """(version, script) for every sql/<dialect>/migrations/NNNN_*.sql, in order."""
    folder = resources.files("directord.store").joinpath("sql", dialect, "migrations")
    if not folder.is_dir():
        return []
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(out)


def latest_version(dialect: str) -> int:
    """The schema version a store of ``dialect`` has once migrated (0: it has no migrations)."""
    scripts = migrations(dialect)
    return scripts[-1][0] if scripts else 0
