"""A run's processes on real processes: found by group, session or marks, never by a reused pid
or another host's group; ended TERM first, KILL after the grace; PR_SET_PDEATHSIG is set; a run
whose process is gone shows as interrupted and is recorded by the next claim of its job."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from directord import interrupted, process, process_groups, store
from directord.process_groups import Group, Marks
from directord.store import Claim, RunState, Trigger
from tests.helpers import Make, pid_alive, wait_for

pytestmark = pytest.mark.anyio

MARKS = Marks(4242, "1:1.000")


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts (each its own session), all killed after it."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for p in started:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def start(started: list[subprocess.Popen[bytes]], script: str, marks: Marks | None) -> int:
    env = {**os.environ, **(marks.env() if marks else {})}
    p = subprocess.Popen(["sh", "-c", script], env=env, start_new_session=True)
    started.append(p)
    return p.pid


def pids_in(path: Path, count: int) -> list[int]:
    def written() -> str | None:
        text = path.read_text() if path.exists() else ""
        return text if len(text.split()) >= count else None

    text = wait_for(written, 10, str(path))
    return [int(p) for p in text.split()]


def test_a_group_is_written_and_read_back() -> None:
    group = Group(12, 1700000000.25, "web1")
    assert str(group) == "12:1700000000.250@web1"
    assert Group.parse(str(group)) == group
    for bad in (None, "", "x:1@h", "12:y@h", "12"):
        assert Group.parse(bad) is None
    assert Group.of(os.getpid()) is not None
    assert MARKS.carried_by(b"A=1\0DIRECTORD_RUN_ID=4242\0DIRECTORD_RUN_OWNER=1:1.000\0")
    assert not MARKS.carried_by(b"DIRECTORD_RUN_ID=42420\0DIRECTORD_RUN_OWNER=1:1.000\0")


def test_members_of_the_group_and_marked_escapees_are_found(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    pids = tmp_path / "pids"
    leader = start(
        spawn, f"sleep 30 & echo $! >> {pids}; setsid sleep 30 & echo $! >> {pids}; wait", MARKS
    )
    member, escapee = pids_in(pids, 2)
    group = Group.of(leader)
    assert group is not None
    # A stranger (unmarked, its own group) is never taken for the run's.
    stranger = start(spawn, "sleep 30", None)
    assert {p.pid for p in process_groups.find([group], MARKS)} == {leader, member, escapee}
    assert {p.pid for p in process_groups.find([group], None)} == {leader, member}
    assert {p.pid for p in process_groups.find([], MARKS)} == {leader, member, escapee}
    assert stranger not in {p.pid for p in process_groups.find([group], MARKS)}


def test_a_reused_pid_or_another_hosts_group_is_left_alone(
    spawn: list[subprocess.Popen[bytes]],
) -> None:
    leader = start(spawn, "exec sleep 30", None)
    group = Group.of(leader)
    assert group is not None
    # The same pid, but started at another time: another process now has that pid.
    reused = Group(leader, group.created - 100)
    assert process_groups.find([reused], None) == []
    assert process_groups.find([Group(leader, group.created, "elsewhere")], None) == []
    assert [p.pid for p in process_groups.find([group], None)] == [leader]


def test_end_terms_then_kills_after_the_grace(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    pids = tmp_path / "pids"
    polite = start(spawn, "exec sleep 30", MARKS)
    # An ignored signal stays ignored across exec.
    stubborn = start(spawn, f"trap '' TERM; echo $$ >> {pids}; exec sleep 30", MARKS)
    pids_in(pids, 1)
    found = process_groups.find([], MARKS)
    assert {polite, stubborn} <= {p.pid for p in found}
    assert process_groups.end(found, grace=0.5) == len(found)
    for p in spawn:
        p.wait(10)
    assert spawn[0].returncode == -signal.SIGTERM
    assert spawn[1].returncode == -signal.SIGKILL
    assert process_groups.find([], MARKS) == []


async def test_a_child_has_pr_set_pdeathsig_and_the_marks() -> None:
    probe = (
        "import ctypes, os, signal; v = ctypes.c_int(); "
        "ctypes.CDLL(None).prctl(2, ctypes.byref(v)); "
        "print(v.value == signal.SIGTERM, os.environ['DIRECTORD_RUN_ID'])"
    )
    argv, options = process_groups.spawn_args(
        [sys.executable, "-c", probe], dict(os.environ), MARKS
    )
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, **options)
    out, _ = await proc.communicate()
    assert out.decode().split() == ["True", "4242"]
    assert proc.returncode == 0


async def test_leftovers_are_ended_and_counted(tmp_path: Path) -> None:
    processes = process_groups.RunProcesses(MARKS)
    assert await processes.end_leftovers() == 0  # nothing spawned: nothing looked for
    pids = tmp_path / "pids"
    argv, options = processes.spawn_args(
        ["sh", "-c", f"setsid sleep 30 & echo $! > {pids}"], dict(os.environ)
    )
    proc = await asyncio.create_subprocess_exec(*argv, **options)
    processes.spawned(proc.pid)
    await proc.wait()
    [escapee] = pids_in(pids, 1)
    assert await processes.end_leftovers(grace=1) == 1
    assert processes.killed == 1
    assert not pid_alive(escapee)
    assert process_groups.leftovers_text(1) == "1 leftover process killed"
    assert process_groups.leftovers_text(2) == "2 leftover processes killed"


def claim(job: str, owner: str, at: float = 100.0) -> Claim:
    return Claim(job, "noop", "n", Trigger.schedule, at, at + 1, owner=owner)


async def test_a_dead_owners_run_is_shown_interrupted_until_recorded() -> None:
    db = store.MemoryStore()
    await db.open()
    dead = await db.claim_run(claim("a", "1:1.000"))
    mine = await db.claim_run(claim("b", process.process_owner()))
    assert dead is not None
    assert mine is not None
    runs = {r.id: r for r in interrupted.shown_runs(await db.running_runs(), db)}
    assert (runs[dead].state, runs[dead].summary) == (RunState.interrupted, interrupted.SUMMARY)
    assert runs[mine].state is RunState.running
    states, live = await interrupted.job_states(db, 500.0)
    assert (states["a"].last_result, states["a"].failures) == ("interrupted", 1)
    assert "b" not in states
    assert {k: v.run_id for k, v in live.items()} == {"b": mine}
    # Derived only: the store still says running.
    assert [r.state for r in await db.running_runs()] == [RunState.running, RunState.running]
    # A shared store is judged by its leases, not by a pid of this host.
    db.single_daemon = False
    assert interrupted.shown_runs(await db.running_runs(), db)[0].state is RunState.running
    await db.close()


async def test_a_claim_blocked_by_a_dead_run_records_it_and_runs(
    tmp_path: Path, supervisor_factory: Make
) -> None:
    raw = {
        "database": "sqlite:///d.db",
        "node": "n",
        "jobs": [{"name": "a", "kind": "noop", "interval": "1h"}],
    }
    sup = await supervisor_factory(raw, tmp_path)
    # A `job run a` killed with -9 beside the daemon left its row running.
    dead = await sup.store.claim_run(claim("a", "1:1.000", at=50.0))
    assert dead is not None
    report = await sup.run_now("a")
    assert report is not None
    assert report.state is RunState.succeeded
    old = await sup.store.get_run(dead)
    assert old is not None
    assert old.state is RunState.interrupted
