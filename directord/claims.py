"""What this node knows of the claims it lost on a shared store, and when to try again.

A claim refused because another node ran the job waits (parked) for news of that run; one refused
for a full cluster, or because the store is away, waits for a free slot. News comes from the
store (NOTIFY, or a re-read: ``observe``); without news the job is looked at again after
``recheck`` at the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from loguru import logger

from directord import store, writeback

if TYPE_CHECKING:
    from directord.clock import Clock
    from directord.jobtable import JobTable
    from directord.runs import ActiveRun


@dataclass(eq=False)
class Claims:
    """The refused claims of one supervisor. ``recheck()``: how long a refused claim waits at
    most (it follows reloads); ``wake()``: tell the loop to look again."""

    db: store.Store
    jobs: JobTable
    running: dict[str, ActiveRun]
    clock: Clock
    recheck: Callable[[], float]
    wake: Callable[[], None]
    parked: dict[str, str] = field(default_factory=dict)  # job -> why its claim was refused
    blocked_until: float = 0.0  # no claim before then: the cluster is full or the store away
    failures: int = 0
    _rereads: set[asyncio.Future[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.db.outage is not None:  # the store is back: blocked claims are tried at once
            self.db.outage.on_back.append(lambda: self.observe({}))

    def blocked(self, now: float) -> bool:
        """No claim may be tried now."""
        return bool(self.blocked_until) and self.blocked_until > now

    def claimed(self) -> None:
        """The store answered a claim: the backoff starts afresh."""
        self.failures = 0

    def refused(self, name: str, why: str | None, seen: float | None) -> None:
        now = self.clock()
        timing = self.jobs.queue.timing(name, now)
        if why in ("claimed", "stale") and (timing.last_attempt or 0.0) != (seen or 0.0):
            self.jobs.queue.reschedule(name, now)  # news of the run that beat it came meanwhile
            return
        if why == "limit":
            self.blocked_until = now + self.recheck()
        self.parked[name] = why or "refused"
        # A store of one daemon says nothing of why and sends no news: another process (``job
        # run``, ``jobs run``) ran that slot or runs the job; what it recorded tells when the
        # job is due, and it is looked at again soon.
        alone = why is None and self.db.single_daemon
        recheck = min(self.recheck(), writeback.RETRY_CAP) if alone else self.recheck()
        self.jobs.queue.postpone(name, max(now + recheck, self.blocked_until))
        if why == "stale" or alone:
            task = asyncio.ensure_future(self._reread())
            self._rereads.add(task)
            task.add_done_callback(self._rereads.discard)

    def store_unavailable(self, name: str, exc: store.StoreError) -> None:
        """Stop claiming for a while (capped exponential backoff with jitter) and try the job
        again then: that claim is the probe; observe() resumes at once when the store says it
        is back. The store logs an outage once (StoreUnavailable); anything else is said here."""
        self.failures += 1
        self.blocked_until = self.clock() + writeback.backoff(self.failures)
        if self.failures == 1 and not isinstance(exc, store.StoreUnavailable):
            logger.bind(action="claims_paused", job=name).error("no claims for now: {}", exc)
        self.parked[name] = "unavailable"
        self.jobs.queue.postpone(name, self.blocked_until)

    async def _reread(self) -> None:
        with contextlib.suppress(store.StoreError):
            self.observe(await self.db.job_states())

    def observe(self, states: dict[str, store.JobState]) -> None:
        """Job states recorded by other nodes (NOTIFY, or the store's re-read): this node's view
        of their last attempts is fresh without polling. A job refused for a full cluster (or
        an unreachable store) is looked at again; one that ran elsewhere waits for its own news
        (or ``recheck``)."""
        now = self.clock()
        self.blocked_until = 0.0
        self.failures = 0
        queue = self.jobs.queue
        for name, state in states.items():
            active = self.running.get(name)
            if name not in self.jobs.specs or name not in queue.timings:
                continue
            if active is not None and active.run_id is not None:
                continue  # it runs here: this node knows best
            timing = queue.timings[name]
            if (state.last_attempt or 0.0) < (timing.last_attempt or 0.0):
                continue  # older than what this node did itself
            self.jobs.states[name] = state
            queue.timings[name] = replace(
                timing,
                last_attempt=state.last_attempt,
                # The other node's due time, not this node's older one: one grid for all.
                last_scheduled=state.last_scheduled,
                last_finished=state.last_finished,
                failures=state.failures,
            )
            self.parked.pop(name, None)
            if active is None:  # (a claim in flight sees the news when it is refused)
                queue.reschedule(name, now)
        for name, why in list(self.parked.items()):
            if why in ("limit", "unavailable") and name not in self.running:
                del self.parked[name]
                queue.reschedule(name, now)
        self.wake()
