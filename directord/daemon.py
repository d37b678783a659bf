"""One daemon process: store, supervisor and signals on one event loop.

SIGTERM/SIGINT: stop taking new work, give running jobs ``runner.shutdown_grace``, cancel the
rest, exit 0; a second one cancels the running jobs at once. During start-up (store, HTTP bind)
either ends start-up cleanly with exit 0 (startup.py covers the imports before that). SIGHUP:
reload the config (jobs, time periods) without touching a running job; a reload that would remove
every job is refused unless the file says ``jobs: []``.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import yaml
from loguru import logger

from directord import catalog, events, files, startup, store, systemd, tables
from directord import config as config_mod
from directord.jobs import registry
from directord.supervisor import Supervisor, definition

T = TypeVar("T")


@asynccontextmanager
async def opened(
    settings: config_mod.Settings, readonly: bool = False
) -> AsyncIterator[Supervisor]:
    """A started supervisor on an open store; both closed on the way out. ``readonly``: for
    commands that only look (no interrupted runs recorded, no definitions stored)."""
    kinds = registry.discover()
    for broken in kinds.broken:
        logger.bind(action="kind_broken").error(
            "job kind {!r} ({}) cannot be used: {}", broken.name, broken.target, broken.error
        )
    db = store.open_store(settings.database_url(), **settings.store_options())
    await db.open()
    try:
        # config.yaml's jobs and the ones made in the web or the API, as one validated set.
        jobs = catalog.Catalog(settings, kinds, db)
        merged = await jobs.load()
        for problem in jobs.problems:
            logger.bind(action="store_job_invalid").error("{}", problem)
        supervisor = Supervisor(merged, db, kinds, catalog=jobs)
        try:
            await supervisor.load_state(readonly=readonly)
            yield supervisor
        finally:
            await supervisor.close()
    finally:
        await db.close()


def run(
    coro_fn: Callable[[Supervisor], Awaitable[T]],
    settings: config_mod.Settings,
    readonly: bool = False,
) -> T:
    """Run ``coro_fn(supervisor)`` on a fresh loop; SIGTERM cancels it like SIGINT does."""

    signalled: list[int] = []

    async def main() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def cancel() -> None:
            signalled.append(signal.SIGTERM)
            if task is not None:
                task.cancel()

        loop.add_signal_handler(signal.SIGTERM, cancel)
        async with opened(settings, readonly) as supervisor:
            return await coro_fn(supervisor)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if signalled:  # like Ctrl-C: the CLI says "interrupted", no traceback
            raise KeyboardInterrupt from None
        raise


def read_token(settings: config_mod.Settings) -> str | None:
    """The API's bearer token from http.token_file (None: the API is off)."""
    if settings.http.token_file is None:
        return None
    path = settings.resolve_path(settings.http.token_file)
    try:
        return files.read_secret(path, "token")
    except files.FileProblem as exc:
        raise config_mod.ConfigError([f"http.token_file: {exc}"], settings.source) from None


def definition_checksums(supervisor: Supervisor) -> dict[str, str]:
    """A checksum of each job's definition: nodes compare theirs (a shared store warns)."""
    out = {}
    for name, spec in supervisor.specs.items():
        text = json.dumps([spec.config.kind, definition(spec.config)], sort_keys=True)
        out[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return out


def status_line(supervisor: Supervisor) -> str:
    """What systemctl status shows: the running job, else the next due one."""
    now = supervisor.clock()
    if supervisor.running:
        return "running " + ", ".join(
            f"{r.job} ({now - r.started:.0f}s)" for r in supervisor.running.values()
        )
    nxt = supervisor.next_due()
    if nxt is None:
        return f"idle, {len(supervisor.specs)} jobs, nothing scheduled"
    return f"idle, {len(supervisor.specs)} jobs, next: {nxt[1]} at {tables.when(nxt[0])}"


class Signals:
    """SIGTERM/SIGINT on the daemon's loop, from its first moment. Before the supervisor serves,
    a stop signal is noted and start-up ends at its next step (exit 0); while it serves, the first
    asks for a graceful stop and the second cancels the running jobs without waiting."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.supervisor: Supervisor | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in startup.STOP_SIGNALS:
            loop.add_signal_handler(sig, self.on_signal, sig.name)
        # Until the reload handler is in place a SIGHUP must not kill the daemon (its default).
        loop.add_signal_handler(signal.SIGHUP, lambda: None)
        for name in startup.received:  # arrived while the CLI was still loading
            self.on_signal(name)

    def remove(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (*startup.STOP_SIGNALS, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    @property
    def stop_requested(self) -> bool:
        return bool(self.received)

    def on_signal(self, name: str) -> None:
        self.received.append(name)
        sup = self.supervisor
        if sup is None or not sup.serving:
            if len(self.received) == 1:
                logger.bind(action="startup_stopped").info(
                    "{} during start-up: stopping before serving", name
                )
            return
        if len(self.received) == 1:
            sup.shutdown(name)
            return
        running = list(sup.running.values())
        logger.bind(action="shutdown_now").warning(
            "second signal ({}): cancelling {} running job(s) without waiting", name, len(running)
        )
        sup.shutdown(name)
        for active in running:
            active.task.cancel()


def serve(settings: config_mod.Settings, config_path: Path) -> int:
    """``jobs run --forever``: the daemon on a fresh loop until a signal stops it (exit 0)."""
    startup.defer()
    signals = Signals()

    async def main() -> int:
        signals.install(asyncio.get_running_loop())
        try:
            if signals.stop_requested:
                return 0
            async with opened(settings) as supervisor:
                signals.supervisor = supervisor
                return await serve_forever(supervisor, config_path, signals)
        finally:
            signals.remove(asyncio.get_running_loop())

    code = asyncio.run(main())
    if signals.stop_requested and not (signals.supervisor and signals.supervisor.exit_reason):
        logger.bind(action="daemon_stopped").info(
            "stopped during start-up by {}, before serving", signals.received[0]
        )
    return code


async def serve_forever(
    supervisor: Supervisor, config_path: Path, signals: Signals | None = None
) -> int:
    """The daemon: HTTP, optional aiomonitor, sd_notify and the supervisor on one loop, until a
    signal or the memory rule stops it. Exits 0 then."""
    if signals is None:  # called on a loop of someone else's (daemon.run): signals from now
        signals = Signals()
        signals.supervisor = supervisor
        signals.install(asyncio.get_running_loop())
    settings = supervisor.settings
    # One daemon per SQLite file; on PostgreSQL one live daemon per node name, and this node's
    # heartbeat, leases and the news of other nodes' runs (observe).
    await supervisor.store.join(supervisor.node, supervisor.owner, definition_checksums(supervisor))
    supervisor.store.subscribe(supervisor.observe)
    token = read_token(settings)
    notifier = systemd.Notifier()
    # The heartbeat keeps /health fresh and feeds the systemd watchdog: half of either period.
    intervals = [settings.http.stale_after / 2]
    if notifier.watchdog_interval:
        intervals.append(notifier.watchdog_interval)
        supervisor.heartbeat.listeners.append(notifier.watchdog)

    def on_event(event: events.Event) -> None:
        if isinstance(event, events.Stopping):
            notifier.stopping(f"stopping: {event.reason}")
        else:
            notifier.status(status_line(supervisor))

    if notifier.enabled:  # (a status line per run start and finish is for systemd only)
        types = {events.Stopping, events.RunStarted, events.RunFinished}
        supervisor.events.subscribe(on_event, types)
    if signals.stop_requested:
        return 0
    # Lazy: the web server (aiohttp) is the daemon's, no one-shot command loads it.
    from directord.web import app as web_app  # noqa: PLC0415
    from directord.web import frontend  # noqa: PLC0415

    runner = await web_app.start(
        web_app.create_app(supervisor, token), settings.http, frontend.tls_context(settings)
    )
    monitor = None
    try:
        if signals.stop_requested:
            return 0
        if settings.monitor.enabled:
            # Deliberately lazy: aiomonitor (and its web UI) loads only when enabled.
            from directord import monitor as monitor_mod  # noqa: PLC0415

            monitor = monitor_mod.start(supervisor, settings.monitor)
        # What start-up made (modules, config models, the app) lives as long as the process:
        # out of the collector's generations, its scans stay small (issue 14.2).
        gc.freeze()
        return await _serve(supervisor, config_path, notifier, signals, min(intervals))
    finally:
        await runner.cleanup()
        if monitor is not None:
            monitor.close()
        notifier.close()


def reload_problem(settings: config_mod.Settings, supervisor: Supervisor, path: Path) -> str | None:
    """Why a reloaded config must not be applied, or None. A file that lost its jobs (emptied by
    an editor, a half-written deploy) would silently stop everything: only an explicit
    ``jobs: []`` may remove every job."""
    if settings.jobs or not supervisor.specs:
        return None
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        raw = None
    if isinstance(raw, dict) and raw.get("jobs") == []:
        return None
    return (
        f"it has no jobs and would remove all {len(supervisor.specs)}; "
        "write 'jobs: []' to really remove every job"
    )


async def _serve(
    supervisor: Supervisor,
    config_path: Path,
    notifier: systemd.Notifier,
    signals: Signals,
    heartbeat_interval: float,
) -> int:
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()
    # Director's jobs (director: block) join the config.yaml jobs, refreshed while running.
    director = None
    if supervisor.settings.director:
        # Lazy: Director's database clients (asyncpg, asyncmy) load only for a director: block.
        from directord.director import refresh as director_refresh  # noqa: PLC0415

        director = director_refresh.start(supervisor)

    async def apply(settings: config_mod.Settings) -> None:
        await supervisor.apply_reload(settings)
        # The other nodes compare this node's definitions as they are now.
        checksums = definition_checksums(supervisor)
        await supervisor.store.join(supervisor.node, supervisor.owner, checksums)

    async def reload() -> None:
        try:
            settings = config_mod.load(config_path, kinds=supervisor.kinds)
            if supervisor.catalog is not None:
                settings = await supervisor.catalog.reload_config(settings)
            if director is not None:
                settings = director[0].merge(settings)
            problem = reload_problem(settings, supervisor, config_path)
            if problem is not None:
                logger.bind(action="reload_refused").error(
                    "config reload refused, keeping the running config: {} {}",
                    config_path,
                    problem,
                )
                return
            removed = sorted(set(supervisor.specs) - {j.name for j in settings.jobs})
            if removed:
                logger.bind(action="reload_removes").warning(
                    "reload removes {} job(s): {}", len(removed), ", ".join(removed)
                )
            await apply(settings)
        except config_mod.ConfigError as exc:
            logger.bind(action="reload_failed").error(
                "config reload failed, keeping the running config: {}", exc
            )

    def on_hup() -> None:
        task = asyncio.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    async def apply_catalog(merged: config_mod.Settings) -> None:
        """A job made, changed or deleted in the web or the API: into the schedule at once."""
        await apply(director[0].merge(merged) if director else merged)

    if supervisor.catalog is not None:
        supervisor.catalog.on_change(apply_catalog)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    supervisor.memory.mark_baseline()
    logger.bind(action="daemon_started").info(
        "directord on {} with {} jobs, concurrency {}, http {}, baseline RSS {:.0f} MiB",
        supervisor.node,
        len(supervisor.specs),
        supervisor.settings.runner.concurrency,
        supervisor.settings.http.listen,
        (supervisor.memory.baseline or 0) / (1 << 20),
    )
    # The store is open and the HTTP server listens: systemd may consider us started.
    notifier.ready(status_line(supervisor))
    try:
        reason = await supervisor.serve(heartbeat_interval)
    finally:
        if director is not None:
            await director_refresh.stop(director[1])  # imported with director above
    logger.bind(action="daemon_stopped").info("stopped: {}", reason)
    return 0
