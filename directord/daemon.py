"""One daemon process: store, supervisor and signals on one event loop.

SIGTERM/SIGINT: stop taking new work, give running jobs ``runner.shutdown_grace``, cancel the
rest, exit 0. SIGHUP: reload the config (jobs, time periods) without touching a running job.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from loguru import logger

from directord import config as config_mod
from directord import store, systemd, tables
from directord.jobs import registry
from directord.supervisor import Supervisor
from directord.web import app as web_app

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
    db = store.open_store(settings.database_url())
    await db.open()
    try:
        supervisor = Supervisor(settings, db, kinds)
        try:
            await supervisor.start(readonly=readonly)
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

    async def main() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        async with opened(settings, readonly) as supervisor:
            return await coro_fn(supervisor)

    return asyncio.run(main())


def read_token(settings: config_mod.Settings) -> str | None:
    """The API's bearer token from http.token_file (None: the API is off)."""
    if settings.http.token_file is None:
        return None
    path = settings.resolve_path(settings.http.token_file)
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise config_mod.ConfigError(
            [f"http.token_file: cannot read {path}: {exc.strerror}"], settings.source
        ) from None
    if not token:
        raise config_mod.ConfigError([f"http.token_file: {path} is empty"], settings.source)
    return token


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


async def serve_forever(supervisor: Supervisor, config_path: Path) -> int:
    """The daemon: HTTP, optional aiomonitor, sd_notify and the supervisor on one loop, until a
    signal or the memory rule stops it. Exits 0 then."""
    settings = supervisor.settings
    supervisor.store.lock_daemon()
    token = read_token(settings)
    notifier = systemd.Notifier()
    # The heartbeat keeps /health fresh and feeds the systemd watchdog: half of either period.
    intervals = [settings.http.stale_after / 2]
    if notifier.watchdog_interval:
        intervals.append(notifier.watchdog_interval)
        supervisor.tick_listeners.append(notifier.watchdog)
    supervisor.tick_interval = min(intervals)

    def on_event(event: str, data: dict[str, object]) -> None:
        if event == "stopping":
            notifier.stopping(f"stopping: {data['reason']}")
        elif event in ("run_started", "run_finished"):
            notifier.status(status_line(supervisor))

    supervisor.listeners.append(on_event)
    runner = await web_app.start(web_app.create_app(supervisor, token), settings.http)
    monitor = None
    if settings.monitor.enabled:
        # Deliberately lazy: aiomonitor (and its web UI) loads only when enabled.
        from directord import monitor as monitor_mod  # noqa: PLC0415

        monitor = monitor_mod.start(supervisor, settings.monitor)
    try:
        return await _serve(supervisor, config_path, notifier)
    finally:
        await runner.cleanup()
        if monitor is not None:
            monitor.close()
        notifier.close()


async def _serve(supervisor: Supervisor, config_path: Path, notifier: systemd.Notifier) -> int:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, supervisor.shutdown, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, supervisor.shutdown, "SIGINT")
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            settings = config_mod.load(config_path, kinds=supervisor.kinds)
            await supervisor.apply_reload(settings)
        except config_mod.ConfigError as exc:
            logger.bind(action="reload_failed").error(
                "config reload failed, keeping the running config: {}", exc
            )

    def on_hup() -> None:
        task = asyncio.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hup)
    supervisor.mark_baseline()
    logger.bind(action="daemon_started").info(
        "directord on {} with {} jobs, concurrency {}, http {}, baseline RSS {:.0f} MiB",
        supervisor.node,
        len(supervisor.specs),
        supervisor.settings.runner.concurrency,
        supervisor.settings.http.listen,
        (supervisor.baseline_rss or 0) / (1 << 20),
    )
    # The store is open and the HTTP server listens: systemd may consider us started.
    notifier.ready(status_line(supervisor))
    try:
        reason = await supervisor.serve()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    logger.bind(action="daemon_stopped").info("stopped: {}", reason)
    return 0
