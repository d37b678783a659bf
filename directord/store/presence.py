"""A daemon's presence on a shared (PostgreSQL) store, between its queries.

One task per daemon, every lease/3: the node's heartbeat row, the renewal of this process's run
leases, and the expiry of any node's leases that ran out (those runs become ``interrupted``, with
the dead node's name). Other nodes' finished runs arrive by LISTEN/NOTIFY; a full re-read of
the job states happens at most every lease/2 while no notification came (notifications sent
while this node was cut off are lost; the re-read after a reconnect catches up).

The node's name is held by a session advisory lock on a connection of its own: a second live
daemon with the same name is refused, naming the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import asyncpg
from loguru import logger

from directord import __version__
from directord.store import leases, pgsql
from directord.store.base import Interrupted, JobState, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from directord.store.postgres import PostgresStore

CHANNEL = "directord_job_state"
SWITCHES = "directord_job_switches"
_STATE_FIELDS = tuple(f.name for f in fields(JobState))
Listener = Callable[[dict[str, JobState]], None]


def checksum(definitions: dict[str, str]) -> str:
    """One checksum over every job's definition checksum."""
    text = json.dumps(definitions, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def definition_warnings(nodes: list[dict[str, Any]]) -> list[str]:
    """A warning per job whose definition differs between live nodes, naming the nodes."""
    live = [n for n in nodes if n["alive"] and n.get("jobs")]
    jobs = sorted({job for n in live for job in n["jobs"]})
    out = []
    for job in jobs:
        variants: dict[str | None, list[str]] = {}
        for n in live:
            variants.setdefault(n["jobs"].get(job), []).append(n["node"])
        if len(variants) > 1:
            parts = [
                ", ".join(names) + (" (missing)" if key is None else f" ({key[:8]})")
                for key, names in sorted(variants.items(), key=lambda kv: kv[1])
            ]
            out.append(
                f"job {job!r} has different definitions on the live nodes: " + "; ".join(parts)
            )
    return out


class Presence:
    """A node's presence on a shared store: ``start()`` holds the node's name and begins
    the heartbeat task (leases: ``leases``); ``stop()`` ends it and marks the node stopped."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.node: str | None = None
        self.owner = ""
        self.checksums: dict[str, str] = {}
        self.started = time.time()
        self.listeners: list[Listener] = []
        # Told of the runs whose lease this node expired (the daemon ends their process groups).
        self.on_interrupted: list[Callable[[list[Interrupted]], object]] = []
        self.warnings: list[str] = []
        self.last_nodes: list[dict[str, Any]] = []  # as of the last heartbeat, for /status
        self._lock_conn: asyncpg.Connection | None = None
        self._listen_conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last_read = 0.0  # monotonic: the last full re-read or notification
        self._reread = True
        self._lost: set[int] = set()
        self._batch: dict[str, JobState] = {}  # notified states not yet delivered
        # The job switches (``directord job disable``) as last read; None: read them again.
        # Valid only while this node listens: every change is notified (migration 0004).
        self.switches: dict[str, float] | None = None
        self.switches_version = 0

    @property
    def period(self) -> float:
        return self.store.lease / 3

    async def start(self, node: str, owner: str, checksums: dict[str, str]) -> None:
        self.node, self.owner, self.checksums = node, owner, checksums
        await self._lock_node()
        await self._heartbeat()
        await self._listen()
        self._task = asyncio.create_task(self._loop(), name="directord-presence")

    @property
    def joined(self) -> bool:
        """Started (the node's name is held), not yet stopped."""
        return self._task is not None

    async def update(self, checksums: dict[str, str]) -> None:
        """New definitions (a reload): the other nodes compare them from the next heartbeat."""
        self.checksums = checksums
        self._wake.set()

    async def _lock_node(self) -> None:
        assert self.node is not None
        key = pgsql.lock_key("directord.node:" + self.node)
        with self.store.connector.errors():
            conn = await self.store.connector.connect()
            try:
                sql, _ = pgsql.statement("node_lock")
                got = await conn.fetchval(sql, key)
                holder = None if got else await self._holder(conn)
            except BaseException:
                await conn.close()
                raise
        if not got:
            await conn.close()
            raise StoreError(
                f"another directord daemon ({holder}) already runs as node {self.node!r} on "
                f"{self.store.display_url}; give every daemon its own node: name"
            )
        self._lock_conn = conn

    async def _holder(self, conn: asyncpg.Connection) -> str:
        row = await conn.fetchrow("SELECT pid, host FROM nodes WHERE node = $1", self.node)
        return "unknown pid" if row is None else f"pid {row['pid']} on {row['host']}"

    async def _heartbeat(self) -> None:
        await self.store.connector.fetch_all(
            "heartbeat",
            {
                "node": self.node,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "owner": self.owner,
                "version": __version__,
                "started": self.started,
                "config_checksum": checksum(self.checksums),
                "jobs_checksums": json.dumps(self.checksums, sort_keys=True),
            },
        )

    async def _listen(self) -> None:
        self.switches = None
        with self.store.connector.errors():
            conn = await self.store.connector.connect()
            await conn.add_listener(CHANNEL, self._notified)
            await conn.add_listener(SWITCHES, self._switched)
        conn.add_termination_listener(self._lost_listener)
        self._listen_conn = conn
        self._reread = True  # what was sent while nobody listened

    def _lost_listener(self, _conn: object) -> None:
        self.switches = None  # no news of them while nobody listens
        self._wake.set()

    @property
    def listening(self) -> bool:
        return self._listen_conn is not None and not self._listen_conn.is_closed()

    def _switched(self, _conn: object, _pid: int, _channel: str, _payload: str) -> None:
        self.switches = None
        self.switches_version += 1

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        # Many finishes arrive at once under load: they reach the listeners as one batch, so
        # the supervisor looks at its schedule once for them, not once per notification.
        data = json.loads(payload)
        state = JobState(**{k: data.get(k) for k in _STATE_FIELDS})
        self._last_read = time.monotonic()
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush_batch)
        self._batch[state.job] = state

    def _flush_batch(self) -> None:
        batch, self._batch = self._batch, {}
        if batch:
            self.deliver(batch)

    def deliver(self, states: dict[str, JobState]) -> None:
        for listener in self.listeners:
            try:
                listener(states)
            except Exception:  # a broken listener must not stop the heartbeat
                logger.bind(action="listener_failed").exception("job state listener")

    def reconnected(self) -> None:
        """The database is back: renew, relisten and re-read now, not at the next period."""
        self._reread = True
        self._wake.set()

    async def _loop(self) -> None:
        delay, failures = self.period, 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                await self._tick()
                delay, failures = self.period, 0
            except StoreError:
                # Capped exponential backoff with jitter; the store logged the outage once.
                failures += 1
                delay = min(self.period, 0.2 * 2**failures) * random.uniform(0.5, 1.5)
            except Exception:
                logger.bind(action="presence_failed").exception("node heartbeat")
                delay = self.period

    async def _tick(self) -> None:
        store = self.store
        if self._lock_conn is None or self._lock_conn.is_closed():
            await self._relock()
        await self._heartbeat()
        if store.mine:
            await leases.renew(store, self.node, self._lost)
        expired = await leases.expire(store)
        if expired:
            for callback in self.on_interrupted:
                callback(expired)
        if self._listen_conn is None or self._listen_conn.is_closed():
            await self._listen()
        if self._reread or time.monotonic() - self._last_read >= store.lease / 2:
            states = await store.job_states()
            self._reread = False
            self._last_read = time.monotonic()
            self.deliver(states)
        nodes = await self.nodes()
        self.last_nodes = [{k: v for k, v in n.items() if k != "jobs"} for n in nodes]
        self._check_definitions(nodes)

    async def _relock(self) -> None:
        if self._lock_conn is not None:
            self._lock_conn.terminate()
            self._lock_conn = None
        try:
            await self._lock_node()
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            logger.bind(action="node_name_taken").error("{}", exc)

    def _check_definitions(self, nodes: list[dict[str, Any]]) -> None:
        warnings = definition_warnings(nodes)
        if warnings == self.warnings:
            return
        for text in set(warnings) - set(self.warnings):
            logger.bind(action="definitions_differ").warning("{}", text)
        self.warnings = warnings

    async def nodes(self) -> list[dict[str, Any]]:
        out = []
        for r in await self.store.connector.fetch_all("nodes"):
            out.append(
                {
                    "node": r["node"],
                    "alive": r["stopped"] is None and r["silent_for"] <= self.store.lease,
                    "this": r["node"] == self.node and r["owner"] == self.owner,
                    "pid": r["pid"],
                    "host": r["host"],
                    "version": r["version"],
                    "started": r["started"],
                    "last_seen": r["last_seen"],
                    "silent_for": round(float(r["silent_for"]), 3),
                    "stopped": r["stopped"],
                    "running": list(r["running"]),
                    "config_checksum": r["config_checksum"],
                    "jobs": json.loads(r["jobs_checksums"] or "{}"),
                }
            )
        return out

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._lock_conn is not None:
            conn, self._lock_conn = self._lock_conn, None
            sql, values = pgsql.args("node_stopped", {"node": self.node, "owner": self.owner})
            with contextlib.suppress(*pgsql.UNREACHABLE, asyncpg.PostgresError):
                await asyncio.wait_for(conn.execute(sql, *values), 2)
                await asyncio.wait_for(conn.close(), 2)
            conn.terminate()
        if self._listen_conn is not None:
            conn, self._listen_conn = self._listen_conn, None
            with contextlib.suppress(*pgsql.UNREACHABLE, asyncpg.PostgresError):
                await asyncio.wait_for(conn.close(), 2)
            conn.terminate()
