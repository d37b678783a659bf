"""Named SQL statements: ``-- name: x`` headers in sql/<dialect>/queries.sql (see STYLE.md)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.M)


@cache
def load(dialect: str) -> dict[str, str]:
    text = resources.files("directord.store").joinpath("sql", dialect, "queries.sql").read_text()
    parts = _HEADER.split(text)
    # parts: [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def migrations(dialect: str) -> list[tuple[int, str]]:
    """(version, script) for every sql/<dialect>/migrations/NNNN_*.sql, in order."""
    folder = resources.files("directord.store").joinpath("sql", dialect, "migrations")
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(out)
