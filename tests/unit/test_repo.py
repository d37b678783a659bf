"""The repository itself: no merge left half done (a conflict marker once reached main in a doc)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def test_no_conflict_markers() -> None:
    found = []
    for folder in ("directord", "tests", "bench", "docs", "deploy", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".md", ".sql", ".html", ".yaml", ""}:
                text = path.read_text(errors="replace")
                found += [
                    f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
                    for m in MARKER.finditer(text)
                ]
    for name in ("README.md", "config.example.yaml", "pyproject.toml"):
        text = (ROOT / name).read_text()
        found += [f"{name}:{text[: m.start()].count(chr(10)) + 1}" for m in MARKER.finditer(text)]
    assert not found, found
