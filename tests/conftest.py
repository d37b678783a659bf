"""Shared fixtures; the helpers they use live in tests/helpers.py (re-exported here for the
modules that import them from conftest)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from directord import config as config_mod
from directord import store
from directord.jobs import registry
from directord.supervisor import Supervisor
from tests.helpers import (
    PLUGINS,
    Daemon,
    Make,
    cli,
    free_port,
    http,
    pid_alive,
    plugin_env,
    run,
    runs,
    wait_for,
    write_config,
    write_csv,
)

__all__ = [
    "Daemon",
    "Make",
    "cli",
    "free_port",
    "http",
    "pid_alive",
    "plugin_env",
    "run",
    "runs",
    "wait_for",
    "write_config",
    "write_csv",
]
# In-process tests discover the test plugin's entry points the same way subprocesses do.
if str(PLUGINS) not in sys.path:
    sys.path.append(str(PLUGINS))


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``pytest.mark.anyio``) run on asyncio, the daemon's loop."""
    return "asyncio"


@contextlib.asynccontextmanager
async def supervised(
    raw: dict[str, Any], base_dir: Path, clock: Any = None
) -> AsyncIterator[Supervisor]:
    """A started supervisor on a real SQLite file, from a raw config; closed on the way out.
    ``clock``: a directord.clock.ManualClock to drive its schedule (default: the real one)."""
    settings = config_mod.parse(raw, base_dir=base_dir, kinds=registry.discover())
    db = store.open_store(settings.database_url())
    await db.open()
    sup = Supervisor(settings, db, registry.discover(), **({"clock": clock} if clock else {}))
    try:
        await sup.start()
        yield sup
    finally:
        sup.shutdown("test over")
        await sup.close()
        await db.close()


@pytest.fixture
async def supervisor_factory() -> AsyncIterator[Callable[..., Any]]:
    """``await make(raw, base_dir)``: as many supervisors as a test wants, all closed after it."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(raw: dict[str, Any], base_dir: Path, clock: Any = None) -> Supervisor:
            return await stack.enter_async_context(supervised(raw, base_dir, clock))

        yield make


@pytest.fixture
def daemon_factory() -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(
        config: Path, *extra: str, env: dict[str, str] | None = None, verbose: bool = True
    ) -> Daemon:
        d = Daemon(config, *extra, env=env, verbose=verbose)
        started.append(d)
        return d

    try:
        yield start
    finally:
        for d in started:
            d.stop()
