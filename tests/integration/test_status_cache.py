"""The /status cache on a real supervisor and SQLite file with a fake clock: a run re-renders
its own job's part only, the document is the one status_document builds, and what only the
clock changes is rendered anew once MAX_AGE has passed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from directord.web import status
from tests.helpers import FakeClock, supervisor_on

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Three jobs, not in name order: the document lists them by name.
JOBS = [{"name": name, "kind": "noop", "interval": "1h"} for name in ("c", "a", "b")]


def without_rss(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "rss"}


async def test_a_run_renders_its_own_part_and_the_clock_all_of_them(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    async with supervisor_on({"database": "sqlite:///d.db", "jobs": JOBS}, tmp_path, clock) as sup:
        cache = status.StatusCache(sup)
        first = json.loads(cache.get())
        assert without_rss(first) == without_rss(status.status_document(sup))
        assert [j["name"] for j in first["jobs"]] == ["a", "b", "c"]
        parts = dict(cache.parts)

        clock.now = T0 + 5
        await sup.run_now("b")
        after = json.loads(cache.get())  # dropped by the run's events, within MAX_AGE
        assert without_rss(after) == without_rss(status.status_document(sup)) | {
            "uptime": after["uptime"]
        }
        assert [j["name"] for j in after["jobs"]] == ["a", "b", "c"]
        assert after["jobs"][1]["last_attempt"] is not None
        assert cache.parts["a"] is parts["a"]
        assert cache.parts["c"] is parts["c"]
        assert cache.parts["b"] != parts["b"]

        # Only the clock moves: two hours on, a and c (never run, due at T0) are overdue, b (run
        # at T0 + 5) not yet; seen once MAX_AGE has passed.
        clock.now = T0 + 2 * 3600
        assert cache.get() == cache.body  # still within MAX_AGE: the same answer
        cache.rendered -= cache.MAX_AGE
        cache.whole -= cache.MAX_AGE
        late = json.loads(cache.get())
        assert without_rss(late) == without_rss(status.status_document(sup))
        assert [j["overdue"] for j in late["jobs"]] == [True, False, True]
