"""What every command shares: failing with an exit code, config errors as messages, the
config loaded once per command, the store errors caught, a store opened for commands that look.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar

import click

if TYPE_CHECKING:
    from directord import config as config_mod
    from directord import store

P = ParamSpec("P")
R = TypeVar("R")

EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"directord: {message}", err=True)
    sys.exit(code)


def handles_config_errors(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
        from directord import config as config_mod  # noqa: PLC0415
        from directord import timeperiods  # noqa: PLC0415

        try:
            return fn(*args, **kwargs)
        except config_mod.ConfigError as exc:
            fail(f"config error in {exc}" if exc.source else f"config error: {exc}")
        except timeperiods.TimePeriodError as exc:
            fail(str(exc))

    return wrapper


class Context:
    def __init__(self, config_path: str | None, verbose: bool) -> None:
        self.config_path = config_path
        self.verbose = verbose
        self._settings: config_mod.Settings | None = None

    def settings(self) -> config_mod.Settings:
        # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
        from directord import config as config_mod  # noqa: PLC0415
        from directord.jobs import registry  # noqa: PLC0415

        if self._settings is None:
            path = config_mod.find_config(self.config_path)
            self._settings = config_mod.load(path, kinds=registry.discover())
        return self._settings


def guard(fn: Callable[[], R]) -> R:
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import store  # noqa: PLC0415

    try:
        return fn()
    except store.StoreError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", EXIT_FAILED)
    except Exception as exc:
        # The web server's errors come only from commands that loaded it (the daemon's), and
        # it is loaded inside ``fn``: look it up now, not before.
        web_app = sys.modules.get("directord.web.app")
        if web_app is not None and isinstance(exc, web_app.HttpError):
            fail(str(exc))
        raise


def with_store(settings: config_mod.Settings, fn: Callable[[store.Store], Awaitable[R]]) -> R:
    """``fn(store)`` on the config's store, without a supervisor: for commands that look."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    import asyncio  # noqa: PLC0415

    from directord import store  # noqa: PLC0415

    async def main() -> R:
        async with store.open(settings, readonly=True) as db:
            return await fn(db)

    return guard(lambda: asyncio.run(main()))


def unknown_job(settings: config_mod.Settings, name: str) -> NoReturn:
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import config as config_mod  # noqa: PLC0415

    fail(config_mod.unknown("job", name, (j.name for j in settings.jobs)))


def elsewhere(run: store.Run | None) -> str:
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import store, tables  # noqa: PLC0415

    if run is None or run.state is not store.RunState.running:
        return "it was claimed by another process"
    return f"it is running in another process (run {run.id}, since {tables.when(run.started)})"
