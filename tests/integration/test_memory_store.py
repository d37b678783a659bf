"""The in-memory store under the real supervisor: runs recorded, no file written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from directord import store

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_supervisor_runs_on_the_memory_store(
    tmp_path: Path, supervisor_factory: Callable[..., Any]
) -> None:
    jobs = [
        {"name": "ok", "kind": "noop", "interval": "1h"},
        {
            "name": "late",
            "kind": "sleep",
            "interval": "1h",
            "settings": {"seconds": 5},
            "timeout": "100ms",
        },
    ]
    raw = {"database": store.MEMORY_URL, "node": "n", "jobs": jobs}
    sup = await supervisor_factory(raw, tmp_path)
    assert isinstance(sup.store, store.MemoryStore)
    reports = await sup.run_pending_once()
    assert sorted((r.job, str(r.state)) for r in reports) == [
        ("late", "timed_out"),
        ("ok", "succeeded"),
    ]
    [run] = await sup.store.history("late")
    assert (str(run.state), run.summary) == ("timed_out", "timed out after 0.1s")
    states = await sup.store.job_states()
    assert (states["ok"].failures, states["late"].failures) == (0, 1)
    assert {j.name for j in await sup.store.list_jobs()} == {"ok", "late"}
    assert list(tmp_path.iterdir()) == []
