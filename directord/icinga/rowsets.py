"""Imported rows made canonical: modified, keyed, checksummed. Pure (CPU only).

A row's checksum is the SHA-256 of its canonical JSON (sorted keys, no spaces); a row set's is the
SHA-256 over its (key, row checksum) pairs in key order. The same rows give the same row set
checksum, whatever order the source delivered them in.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from directord.icinga.errors import SourceError
from directord.icinga.modifiers import ModifierError, compile_all
from directord.icinga.sources import Row, _Source

MAX_NAMED = 5


@dataclass(frozen=True)
class PreparedRows:
    checksum: str
    rows: list[tuple[str, str, str]]  # (key, row checksum, canonical JSON), sorted by key
    columns: list[str]

    def __len__(self) -> int:
        return len(self.rows)


def canonical(row: Row) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _key_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _listed(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:MAX_NAMED])
    return shown + (f" and {len(numbers) - MAX_NAMED} more" if len(numbers) > MAX_NAMED else "")


def prepare(rows: list[Row], source: _Source, name: str) -> PreparedRows:
    apply = compile_all(source.modifiers)
    key_column = source.key_column
    missing: list[int] = []
    keyed: list[tuple[str, Row, int]] = []
    for number, row in enumerate(rows, 1):
        try:
            apply(row)
        except ModifierError as exc:
            raise SourceError(f"source {name!r}, row {number}: {exc}") from None
        key = row.get(key_column)
        if key is None or key == "":
            missing.append(number)
            continue
        keyed.append((_key_text(key), row, number))
    if missing:
        raise SourceError(
            f"source {name!r}: key column {key_column!r} is empty or missing in row(s) "
            f"{_listed(missing)}"
        )
    counts = Counter(k for k, _, _ in keyed)
    duplicates = {k for k, n in counts.items() if n > 1}
    if duplicates:
        first = sorted(duplicates)[:MAX_NAMED]
        described = "; ".join(
            f"{k!r} in rows {_listed([n for kk, _, n in keyed if kk == k])}" for k in first
        )
        more = (
            f" (and {len(duplicates) - MAX_NAMED} more keys)" if len(duplicates) > MAX_NAMED else ""
        )
        raise SourceError(f"source {name!r}: duplicate keys in {key_column!r}: {described}{more}")
    keyed.sort(key=lambda item: item[0])
    out = []
    digest = hashlib.sha256()
    columns: dict[str, None] = {}
    for key, row, _ in keyed:
        data = canonical(row)
        row_sum = hashlib.sha256(data.encode()).hexdigest()
        out.append((key, row_sum, data))
        digest.update(f"{key}\0{row_sum}\n".encode())
        columns.update(dict.fromkeys(row))
    return PreparedRows(digest.hexdigest(), out, list(columns))
