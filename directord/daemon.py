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
from directord import store
from directord.jobs import registry
from directord.supervisor import Supervisor

T = TypeVar("T")


@asynccontextmanager
async def opened(settings: config_mod.Settings) -> AsyncIterator[Supervisor]:
    """A started supervisor on an open store; both closed on the way out."""
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
            await supervisor.start()
            yield supervisor
        finally:
            await supervisor.close()
    finally:
        await db.close()


def run(coro_fn: Callable[[Supervisor], Awaitable[T]], settings: config_mod.Settings) -> T:
    """Run ``coro_fn(supervisor)`` on a fresh loop; SIGTERM cancels it like SIGINT does."""

    async def main() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        async with opened(settings) as supervisor:
            return await coro_fn(supervisor)

    return asyncio.run(main())


async def serve_forever(supervisor: Supervisor, config_path: Path) -> int:
    """The daemon: runs until a signal or the memory rule stops it. Always exits 0 then."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, supervisor.shutdown, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, supervisor.shutdown, "SIGINT")
    reloads: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        try:
            settings = config_mod.load(config_path)
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
        "directord on {} with {} jobs, concurrency {}, baseline RSS {:.0f} MiB",
        supervisor.node,
        len(supervisor.specs),
        supervisor.settings.runner.concurrency,
        (supervisor.baseline_rss or 0) / (1 << 20),
    )
    try:
        reason = await supervisor.serve()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    logger.bind(action="daemon_stopped").info("stopped: {}", reason)
    return 0
