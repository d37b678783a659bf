"""Calendar jobs through the supervisor on a real SQLite file with a fake clock: the catch-up run
after downtime is one run recorded with trigger catch_up; views show the real next start and
judge overdue by the schedule."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from directord import tables
from directord.supervisor import Supervisor
from directord.web import status
from tests.helpers import FakeClock, supervisor_on

pytestmark = pytest.mark.anyio

NIGHT = datetime(2027, 1, 11, 2, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


RAW: dict[str, Any] = {
    "database": "sqlite:///d.db",
    "node": "n",
    "jobs": [
        {"name": "nightly", "kind": "noop", "at": "02:00"},
        {"name": "hourly", "kind": "noop", "interval": "1h"},
    ],
}


def supervisor(
    tmp_path: Path, clock: FakeClock
) -> contextlib.AbstractAsyncContextManager[Supervisor]:
    return supervisor_on(RAW, tmp_path, clock)


async def test_catch_up_after_three_days_is_one_run_with_trigger_catch_up(tmp_path: Path) -> None:
    clock = FakeClock(NIGHT - 3 * 86400 + 0.5)
    async with supervisor(tmp_path, clock) as sup:
        # It never ran: it waits for 02:00 (the interval job starts at once).
        assert [r.job for r in await sup.run_pending_once()] == ["hourly"]
        await sup.run_now("nightly")  # a run three nights ago
    clock.now = NIGHT + 1800  # back after three days, half an hour after tonight's 02:00
    async with supervisor(tmp_path, clock) as sup:
        reports = await sup.run_pending_once()
        assert sorted(r.job for r in reports) == ["hourly", "nightly"]
        history = await sup.store.history("nightly")
        assert [(r.trigger, r.scheduled_for) for r in history] == [
            ("catch_up", NIGHT),
            ("manual", NIGHT - 3 * 86400 + 0.5),
        ]
        clock.now += 5
        assert await sup.run_pending_once() == []  # never a burst
        view = {v.name: v for v in sup.job_views(clock.now)}["nightly"]
        assert view.next_due == NIGHT + 86400
        assert view.schedule == "at 02:00 (UTC)"


async def test_no_catch_up_when_the_daemon_comes_back_too_late(tmp_path: Path) -> None:
    clock = FakeClock(NIGHT - 3 * 86400 + 0.5)
    async with supervisor(tmp_path, clock) as sup:
        await sup.run_now("nightly")
    clock.now = NIGHT + 2 * 3600  # later than the 1 h default
    async with supervisor(tmp_path, clock) as sup:
        assert [r.job for r in await sup.run_pending_once()] == ["hourly"]
        assert len(await sup.store.history("nightly")) == 1


async def test_views_show_the_schedule_and_overdue_follows_it(tmp_path: Path) -> None:
    clock = FakeClock(NIGHT - 600)
    async with supervisor(tmp_path, clock) as sup:
        views = {v.name: v for v in sup.job_views(clock.now)}
        assert views["nightly"].next_due == NIGHT
        assert views["nightly"].overdue_after == NIGHT + 86400  # the second start it owes
        assert views["hourly"].overdue_after == views["hourly"].next_due + 3600
        table = tables.jobs(list(views.values()))
        assert "at 02:00 (UTC)" in table
        assert "every 1h" in table
        doc = status.status_document(sup)
        nightly = next(j for j in doc["jobs"] if j["name"] == "nightly")
        assert nightly["overdue"] is False
        # Not started hours after its time (the daemon is stuck): not overdue while only one
        # start is owed; overdue once the next night's has passed too.
        clock.now = NIGHT + 5 * 3600
        nightly = next(j for j in status.status_document(sup)["jobs"] if j["name"] == "nightly")
        assert nightly["overdue"] is False
        clock.now = NIGHT + 86400 + 1
        nightly = next(j for j in status.status_document(sup)["jobs"] if j["name"] == "nightly")
        assert nightly["next_due"] == "2027-01-12T02:00:00+00:00"
        assert nightly["overdue"] is True
