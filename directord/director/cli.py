"""The ``directord director`` commands (registered in directord/cli/__init__.py)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, NoReturn

import click


@click.group("director")
def group() -> None:
    """Icinga Director's jobs, run by directord (the director: block)."""


@group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--days",
    default=7,
    show_default=True,
    type=click.IntRange(1, 366),
    help="How far ahead to compare time periods.",
)
@click.pass_obj
def check(obj: Any, as_json: bool, days: int) -> None:
    """The jobs directord would run from Director, time periods Director's runner evaluates
    differently, and whether Director's own daemon still runs jobs. Exit 0, 1 (warnings),
    2 (cannot connect, schema too old, no director: block)."""
    # Lazy: directord/cli/__init__.py registers this group at import, and --help loads no
    # config code.
    import asyncio  # noqa: PLC0415

    from directord import config as config_mod  # noqa: PLC0415
    from directord.director import check as check_mod  # noqa: PLC0415
    from directord.director import db as db_mod  # noqa: PLC0415
    from directord.director import reader  # noqa: PLC0415

    try:
        settings: config_mod.Settings = obj.settings()
    except config_mod.ConfigError as exc:
        _fail(f"config error in {exc}" if exc.source else f"config error: {exc}")
    cfg = settings.director
    if cfg is None:
        _fail("no director: block in the config (dsn, password_file, ...)")
    try:
        report = asyncio.run(check_mod.run(cfg, settings.base_dir, time.time(), days))
    except (db_mod.DirectorDbError, reader.SchemaError) as exc:
        _fail(f"director: {exc}")
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        click.echo(check_mod.text(report))
    sys.exit(1 if report.warnings else 0)


def _fail(message: str) -> NoReturn:
    click.echo(f"directord: {message}", err=True)
    sys.exit(2)
