"""GET /health, /status and /metrics."""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from directord import __version__, events, process, store
from directord import config as config_mod
from directord.web import keys

if TYPE_CHECKING:
    from directord.specs import JobSpec
    from directord.supervisor import Supervisor
    from directord.views import JobView

PING_TIMEOUT = 1.0
REDACTED = "***"


def iso(ts: float | None) -> str | None:
    return None if ts is None else _iso(ts)


@functools.lru_cache(maxsize=8192)
def _iso(ts: float) -> str:
    # Most instants are the same from one render of /status to the next (last attempts, due
    # times), and formatting one costs more than the rest of its job's part.
    return datetime.fromtimestamp(ts, UTC).isoformat()


def redact(settings: Any, secret: frozenset[str]) -> Any:
    """Settings as shown to people: secret fields (declared, or named like one) replaced."""
    if isinstance(settings, dict):
        out = {}
        for key, value in settings.items():
            if config_mod.is_secret_name(key, secret):
                out[key] = REDACTED
            else:
                out[key] = redact(value, frozenset())
        return out
    if isinstance(settings, list):
        return [redact(v, frozenset()) for v in settings]
    return settings


def job_settings(spec: JobSpec) -> Any:
    return redact(spec.config.settings, spec.kind.secret_settings)


@dataclass
class _Ping:
    checked: float = 0.0
    error: str | None = None
    task: asyncio.Task[None] | None = None


class Health:
    """Whether the daemon works: its heartbeat is fresh, the loop was not blocked lately, and
    the store answers. The store is pinged at most once a second, however often /health is hit.
    """

    def __init__(self, supervisor: Supervisor, stale_after: float) -> None:
        self.supervisor = supervisor
        self.stale_after = stale_after
        self._ping = _Ping()

    async def _check_store(self) -> None:
        try:
            await asyncio.wait_for(self.supervisor.store.ping(), PING_TIMEOUT)
            self._ping.error = None
        except TimeoutError:
            # Busy behind a write that waits for a lock (or a disk): a known outage says why.
            self._ping.error = (
                _down(self.supervisor.store)
                or f"the database did not answer within {PING_TIMEOUT:g}s"
            )
        except store.StoreError as exc:
            self._ping.error = str(exc)
        self._ping.checked = time.monotonic()

    async def problems(self) -> list[str]:
        sup = self.supervisor
        beat = sup.heartbeat
        now = time.monotonic()
        out = []
        if not sup.serving:
            out.append("the supervisor is not running")
        elif beat.last_tick is None or now - beat.last_tick > self.stale_after:
            age = "never" if beat.last_tick is None else f"{now - beat.last_tick:.1f}s ago"
            out.append(f"the supervisor last ticked {age} (stale after {self.stale_after:g}s)")
        stall = beat.last_stall
        if stall is not None and now - stall.monotonic < self.stale_after:
            during = f" while running {', '.join(stall.jobs)}" if stall.jobs else ""
            out.append(f"the event loop was blocked for {stall.lag:.1f}s{during}")
        if now - self._ping.checked >= 1.0:
            if self._ping.task is None or self._ping.task.done():
                self._ping.task = asyncio.ensure_future(self._check_store())
            await asyncio.shield(self._ping.task)
        if self._ping.error:
            out.append(self._ping.error)
        kept = len(sup.executor.writeback.kept)
        if kept:
            out.append(f"{kept} finished run(s) kept in memory until the database takes them")
        return out


def status_document(sup: Supervisor) -> dict[str, Any]:
    now = sup.clock()
    jobs = [_job(view, sup.specs[view.name]) for view in sup.job_views(now)]
    return {**_head(sup, now), "jobs": jobs, **_tail(sup)}


def _job(view: JobView, spec: JobSpec) -> dict[str, Any]:
    return {**view.as_json_with(iso), "settings": job_settings(spec)}


def _head(sup: Supervisor, now: float) -> dict[str, Any]:
    """The document's keys before ``jobs``."""
    running_runs = [
        {
            "job": r.job,
            "run_id": r.run_id,
            "started": iso(r.started),
            "elapsed": round(now - r.started, 3),
        }
        for r in sup.running.values()
    ]
    return {
        "version": __version__,
        "node": sup.node,
        "pid": os.getpid(),
        "started": iso(sup.started_at),
        "uptime": round(now - sup.started_at, 3),
        "rss": process.rss(),
        "concurrency": sup.daemon_settings.runner.concurrency,
        "running": running_runs,
    }


def _tail(sup: Supervisor) -> dict[str, Any]:
    """The document's keys after ``jobs``."""
    return {"store": _store(sup), **_cluster(sup)}


def _down(db: store.Store) -> str | None:
    """``database not writable since ...: <why>`` while the store is down."""
    outage = db.outage
    return None if outage is None or outage.since is None else outage.describe()


def _store(sup: Supervisor) -> dict[str, Any]:
    """Whether the database takes writes, and the finishes kept in memory until it does."""
    outage = sup.store.outage
    return {
        "problem": _down(sup.store),
        "down_since": iso(None if outage is None else outage.since),
        "kept_finishes": len(sup.executor.writeback.kept),
    }


def _cluster(sup: Supervisor) -> dict[str, Any]:
    """On a shared store: every node (alive or not, what it runs) and definition warnings."""
    view = sup.store.cluster()
    if view is None:
        return {}
    nodes = [
        {
            **n,
            "started": iso(n["started"]),
            "last_seen": iso(n["last_seen"]),
            "stopped": iso(n["stopped"]),
        }
        for n in view["nodes"]
    ]
    return {"nodes": nodes, "warnings": view["warnings"]}


class StatusCache:
    """The rendered /status, kept job by job. A run's start or finish re-renders that job's part
    only; every part is rendered anew once MAX_AGE has passed (what the clock alone changes: in
    period, overdue, elapsed), and at a reload. With a thousand jobs a whole render costs
    milliseconds of the loop that dispatches jobs, and busy pollers ask after every run."""

    MAX_AGE = 1.0

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.body: bytes | None = None
        self.rendered = 0.0
        self.whole = -math.inf  # when every job's part was last rendered
        self.parts: dict[str, str] = {}  # by job, in the order of the document
        self.dirty: set[str] | None = None  # the jobs to render again; None: all of them
        supervisor.events.subscribe(self._changed)

    def _changed(self, event: events.Event) -> None:
        self.body = None
        if not isinstance(event, events.RunEvent):
            self.dirty = None
        elif self.dirty is not None:
            self.dirty.add(event.job)

    def get(self) -> bytes:
        now = time.monotonic()
        if self.body is not None and now - self.rendered < self.MAX_AGE:
            return self.body
        sup = self.supervisor
        wall = sup.clock()
        specs = sup.specs
        if (
            self.dirty is None
            or now - self.whole >= self.MAX_AGE
            or len(specs) != len(self.parts)
            or any(name not in self.parts for name in specs)
        ):
            self.parts = {v.name: json.dumps(_job(v, specs[v.name])) for v in sup.job_views(wall)}
            self.whole = now
        else:
            for view in sup.job_views(wall, self.dirty):
                self.parts[view.name] = json.dumps(_job(view, specs[view.name]))
        self.dirty = set()
        head, tail = json.dumps(_head(sup, wall)), json.dumps(_tail(sup))
        jobs = ", ".join(self.parts.values())
        self.body = f'{head[:-1]}, "jobs": [{jobs}], {tail[1:]}'.encode()
        self.rendered = now
        return self.body


async def get_health(request: web.Request) -> web.Response:
    supervisor = request.app[keys.SUPERVISOR]
    problems = await request.app[keys.HEALTH].problems()
    body = {
        "status": "ok" if not problems else "failing",
        "problems": problems,
        "node": supervisor.node,
        "running": [r.job for r in supervisor.running.values()],
        "jobs": len(supervisor.specs),
    }
    return web.json_response(body, status=200 if not problems else 503)


async def get_status(request: web.Request) -> web.Response:
    return web.Response(body=request.app[keys.STATUS_CACHE].get(), content_type="application/json")


async def get_metrics(request: web.Request) -> web.Response:
    # prometheus_client loads at the first scrape (Metrics.render), not with the app.
    from prometheus_client import CONTENT_TYPE_LATEST  # noqa: PLC0415

    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def routes() -> list[web.RouteDef]:
    """The routes; they find the supervisor, Health, Metrics and StatusCache on the app."""
    return [
        web.get("/health", get_health),
        web.get("/status", get_status),
        web.get("/metrics", get_metrics),
    ]
