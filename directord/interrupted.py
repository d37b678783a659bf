"""Runs whose process is gone, shown as what they are: interrupted, before anyone records it.

A run's row says ``running`` until a daemon records it as interrupted (at its start, or when a
claim of that job finds it in the way). Views (``job history``, ``jobs list``, the web and its
API) derive that earlier, at read time, from the row's ``owner`` (``pid:start time``): a process
of this host that no longer exists (``process.owner_alive``). The row is left as it is; the
next writer records it. A store shared by several hosts (``single_daemon`` False) is judged by
its leases instead (a process on another host cannot be looked at), so nothing is derived there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from directord import jobstate, store

SUMMARY = "interrupted: its process is gone (crash or kill -9); recorded so by the next daemon"

Alive = Callable[[str | None], bool]


def _owner_alive(owner: str | None) -> bool:
    # Lazy: psutil costs a CLI view ~35 ms, and only a running run needs it.
    from directord import process  # noqa: PLC0415

    return process.owner_alive(owner)


def is_dead(run: store.Run, alive: Alive | None = None) -> bool:
    """Whether ``run`` is recorded as running but its owner is gone (``alive``: by default
    ``process.owner_alive``)."""
    return run.state is store.RunState.running and not (alive or _owner_alive)(run.owner)


def shown(run: store.Run, db: store.Store, alive: Alive | None = None) -> store.Run:
    """``run`` as views show it: interrupted if its owner is gone (see the module's doc)."""
    if not db.single_daemon or not is_dead(run, alive):
        return run
    return dataclasses.replace(run, state=store.RunState.interrupted, summary=SUMMARY)


def shown_runs(
    runs: list[store.Run], db: store.Store, alive: Alive | None = None
) -> list[store.Run]:
    return [shown(r, db, alive) for r in runs]


@dataclasses.dataclass(frozen=True)
class Live:
    """A run in progress in another process, for ``views.job_views``."""

    run_id: int
    started: float


async def job_states(
    db: store.Store, now: float, alive: Alive | None = None
) -> tuple[dict[str, store.JobState], dict[str, Live]]:
    """Each job's state as it will be once the dead runs are recorded (by the same job-state
    rules), and the runs in progress whose owner lives (another process runs them)."""
    states = await db.job_states()
    live: dict[str, Live] = {}
    if not db.single_daemon:
        return states, live
    for run in await db.running_runs():
        if (alive or _owner_alive)(run.owner):
            live[run.job] = Live(run.id, run.started)
            continue
        ended = jobstate.Finished(run.job, run.id, run.started, now, "interrupted", SUMMARY)
        states[run.job] = jobstate.next_state(states.get(run.job), ended)
    return states, live
