"""The job-state rules: what a finished run makes of a job's state. Pure.

``next_state`` is the one definition. The supervisor applies it to its in-memory state; the
store records the same (its ``runs_finished`` trigger), which a contract test proves run for run
(tests/integration/test_jobstate_contract.py).
"""

from __future__ import annotations

from dataclasses import dataclass

SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class JobState:
    """A job's state as of its last finished run (one row of ``job_state``)."""

    job: str
    last_attempt: float | None = None
    last_finished: float | None = None
    last_success: float | None = None
    last_result: str | None = None
    last_error: str | None = None
    last_run_id: int | None = None
    failures: int = 0  # consecutive runs that did not succeed
    last_node: str | None = None  # the node that ran the last finished run
    # The scheduled_for of the run started at last_attempt (None: unknown, or a late finish of
    # an older run): every node counts the job's interval grid from it (no drift, one grid).
    last_scheduled: float | None = None


@dataclass(frozen=True)
class Finished:
    """What next_state needs of a finished run."""

    job: str
    run_id: int
    started: float
    finished: float
    state: str  # a store.RunState other than running
    summary: str
    node: str | None = None
    scheduled_for: float | None = None


def next_state(previous: JobState | None, run: Finished) -> JobState:
    """The job's state after ``run`` ended: a success resets the failure count and clears the
    error; anything else (failed, timed out, cancelled, interrupted) counts one more failure and
    keeps the last success. The last attempt never moves back (a late finish of an older run)."""
    ok = run.state == SUCCEEDED
    last_attempt = run.started
    if previous is not None and previous.last_attempt is not None:
        last_attempt = max(previous.last_attempt, run.started)
    latest = run.started >= last_attempt
    return JobState(
        job=run.job,
        last_attempt=last_attempt,
        last_finished=run.finished,
        last_success=run.finished if ok else (previous.last_success if previous else None),
        last_result=str(run.state),
        last_error=None if ok else run.summary,
        last_run_id=run.run_id,
        failures=0 if ok else (previous.failures if previous else 0) + 1,
        last_node=run.node,
        last_scheduled=run.scheduled_for if latest else None,
    )
