"""A run's finish, written behind the run and kept until the store takes it.

The finish is written in the background, so that the next run's claim queues right behind it.
When the database cannot take it (StoreUnavailable: SQLite locked, full, read-only or failing;
PostgreSQL unreachable), the finish is kept in memory and written again with capped exponential
backoff and jitter, oldest first, and before any new claim: the job's row never stays
``running`` while its process lives. Only a stop that runs out of time leaves one behind, and
says so loudly; the next daemon on the database records it as interrupted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from loguru import logger

from directord import store

RETRY_FIRST = 0.25  # seconds before the first retry
RETRY_CAP = 5.0  # seconds between retries at most, so that a recovery is seen within it


def backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row (at least one): capped exponential,
    with jitter so that several waiters do not retry in step."""
    delay: float = min(RETRY_CAP, RETRY_FIRST * 2.0 ** max(0, failures - 1))
    return delay * random.uniform(0.5, 1.5)


@dataclass
class Finish:
    run_id: int
    claim: store.Claim
    outcome: store.Outcome
    kept_since: float | None = None  # monotonic: when its first write failed


class WriteBack:
    """The finishes of one executor on one store, written and, when need be, kept."""

    def __init__(self, db: store.Store) -> None:
        self.store = db
        self.kept: list[Finish] = []  # oldest first
        self._writes: set[asyncio.Future[None]] = set()
        self._lock = asyncio.Lock()  # one writer of kept finishes at a time
        self._retry: asyncio.Task[None] | None = None

    @property
    def unwritten(self) -> int:
        """Finishes not written yet (in flight or kept)."""
        return len(self._writes) + len(self.kept)

    def record(self, run_id: int, claim: store.Claim, outcome: store.Outcome) -> None:
        self.behind(self._first_write(Finish(run_id, claim, outcome)))

    def behind(self, write: Coroutine[Any, Any, None]) -> None:
        """Run ``write`` in the background; ``flush`` waits for it."""
        task = asyncio.ensure_future(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _first_write(self, item: Finish) -> None:
        try:
            await self.store.finish_run(item.run_id, item.claim, item.outcome)
        except store.StoreUnavailable as exc:
            self._keep(item, exc)
        except store.StoreError as exc:
            _lost(item, str(exc))

    def _keep(self, item: Finish, exc: store.StoreError) -> None:
        item.kept_since = time.monotonic()
        self.kept.append(item)
        logger.bind(action="finish_kept", job=item.claim.job, run=item.run_id).warning(
            "run {} ({}) is kept in memory until the database takes it: {}",
            item.run_id,
            item.outcome.state,
            exc,
        )
        if self._retry is None or self._retry.done():
            self._retry = asyncio.create_task(self._retry_loop(), name="directord-writeback")

    async def write_kept(self) -> None:
        """Write every kept finish now, oldest first; raises StoreUnavailable while the
        database still refuses (a claim calls this first: no new row before the old ones)."""
        async with self._lock:
            written = 0
            while self.kept:
                item = self.kept[0]
                try:
                    await self.store.finish_run(item.run_id, item.claim, item.outcome)
                except store.StoreUnavailable:
                    raise
                except store.StoreError as exc:
                    _lost(item, str(exc))
                self.kept.pop(0)
                written += 1
            if written:
                logger.bind(action="finishes_written").info(
                    "{} kept finish(es) written to the database", written
                )

    async def _retry_loop(self) -> None:
        failures = 0
        while self.kept:
            failures += 1
            await asyncio.sleep(backoff(failures))
            try:
                await self.write_kept()
            except store.StoreUnavailable:
                continue

    async def flush(self, deadline: float | None = None) -> list[Finish]:
        """Wait until every finish is written. With a ``deadline`` (monotonic), stop trying
        then: what is still unwritten is logged loudly, dropped and returned."""
        while self._writes:
            await asyncio.gather(*self._writes)
        failures = 0
        while self.kept:
            try:
                await self.write_kept()
            except store.StoreUnavailable as exc:
                failures += 1
                delay = backoff(failures)
                if deadline is not None and time.monotonic() + delay > deadline:
                    return self._give_up(str(exc))
                await asyncio.sleep(delay)
        if self._retry is not None:
            self._retry.cancel()  # nothing left to retry (it may be asleep)
        return []

    def _give_up(self, reason: str) -> list[Finish]:
        lost, self.kept = self.kept, []
        if self._retry is not None:
            self._retry.cancel()
        for item in lost:
            _lost(item, reason)
        return lost


def _lost(item: Finish, reason: str) -> None:
    logger.bind(action="finish_lost", job=item.claim.job, run=item.run_id).error(
        "run {} of {} ended {} ({}) but this could NOT be written: {}; its row stays "
        "'running' until a daemon on this database records it as interrupted (at its start, "
        "or when the run's lease expires)",
        item.run_id,
        item.claim.job,
        item.outcome.state,
        item.outcome.summary,
        reason,
    )
