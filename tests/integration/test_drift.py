"""No drift in the supervisor on a real SQLite file and a fake clock: each wake-up comes late
(the clock moves in 0.3 s steps past the due instant), yet a 1 s job keeps its grid."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from directord.clock import ManualClock
from tests.helpers import Make
from tests.integration.test_supervisor import settled

pytestmark = pytest.mark.anyio


async def test_late_starts_do_not_add_up(tmp_path: Path, supervisor_factory: Make) -> None:
    clock = ManualClock()
    raw = {
        "database": "sqlite:///d.db",
        "node": "n",
        "jobs": [{"name": "tick", "kind": "noop", "interval": "1s"}],
    }
    sup = await supervisor_factory(raw, tmp_path, clock)
    t0 = clock()
    task = asyncio.create_task(sup.serve())
    await settled(sup)
    for _ in range(201):  # 60.3 s
        clock.advance(0.3)
        await settled(sup)
    sup.shutdown("test over")
    await asyncio.wait_for(task, 10)
    history = list(reversed(await sup.store.history("tick", limit=100)))
    # Counting from each start (up to 0.3 s late) would give about 50 runs.
    assert len(history) == 61
    assert [round(r.scheduled_for - t0, 6) for r in history] == [float(i) for i in range(61)]
    assert all(0 <= r.started - r.scheduled_for <= 0.3 + 1e-6 for r in history)
