"""One set of job-state rules: what each store (SQLite, memory) records in job_state after each
finished run (SQLite: its runs_finished trigger; memory: next_state itself) is what
jobstate.next_state computes, run for run, for any sequence of outcomes: successes, failures,
timeouts, cancellations and interruptions, in or out of order."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from directord import jobstate, store

OUTCOMES = st.lists(
    st.tuples(
        st.sampled_from(
            [s for s in store.RunState if s is not store.RunState.running],
        ),
        st.floats(0, 1e6, allow_nan=False),  # started (not always after the previous one)
        st.floats(0, 1e3, allow_nan=False),  # duration
        st.text(max_size=20),  # summary
    ),
    min_size=1,
    max_size=8,
)


async def _check(
    outcomes: list[tuple[store.RunState, float, float, str]], path: Path | None
) -> None:
    db = store.MemoryStore() if path is None else store.open_store(f"sqlite:///{path}")
    await db.open()
    try:
        expected: jobstate.JobState | None = None
        for i, (state, started, took, summary) in enumerate(outcomes):
            claim = store.Claim("j", "noop", "n", store.Trigger.schedule, float(i), started)
            run_id = await db.claim_run(claim)
            assert run_id is not None
            if state is store.RunState.interrupted:
                # The way a run really becomes interrupted: its owner is gone.
                await db.interrupt_running(None, started + took, lambda owner: False)
            else:
                await db.finish_run(run_id, claim, store.Outcome(state, started + took, summary))
            run = await db.get_run(run_id)
            assert run is not None
            assert run.finished is not None
            finished = jobstate.Finished(
                "j",
                run_id,
                run.started,
                run.finished,
                str(run.state),
                run.summary or "",
                run.node,
                run.scheduled_for,
            )
            expected = jobstate.next_state(expected, finished)
            assert (await db.job_states())["j"] == expected
    finally:
        await db.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcomes=OUTCOMES)
def test_the_store_records_what_next_state_computes(
    kind: str, outcomes: list[tuple[store.RunState, float, float, str]]
) -> None:
    if kind == "memory":
        asyncio.run(_check(outcomes, None))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_check(outcomes, Path(tmp) / "state.db"))


def test_next_state_rules() -> None:
    ok = jobstate.Finished("j", 1, 100.0, 110.0, "succeeded", "fine")
    bad = jobstate.Finished("j", 2, 200.0, 201.0, "failed", "boom")
    first = jobstate.next_state(None, ok)
    assert (first.failures, first.last_success, first.last_error) == (0, 110.0, None)
    failed = jobstate.next_state(first, bad)
    assert (failed.failures, failed.last_success, failed.last_error) == (1, 110.0, "boom")
    again = jobstate.next_state(failed, jobstate.Finished("j", 3, 50.0, 60.0, "timed_out", "t"))
    assert (again.failures, again.last_attempt, again.last_result) == (2, 200.0, "timed_out")
    assert jobstate.next_state(again, ok).failures == 0
