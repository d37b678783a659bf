"""The ``directord`` command line: argument parsing only, the work happens in the rooms it calls.

Exit codes: 0 success, 1 a job failed, 2 a usage or config error (with the reason on stderr).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import NoReturn, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import click

from directord import config as config_mod
from directord import timeperiods
from directord.timeperiods import report

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
        if self._settings is None:
            self._settings = config_mod.load(config_mod.find_config(self.config_path))
        return self._settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (default: $DIRECTORD_CONFIG, ./config.yaml, /etc/directord/config.yaml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every event to stderr (colour on a tty).")
@click.version_option(package_name="directord")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """directord: runs Icinga import, sync, config and housekeeping jobs on intervals."""
    ctx.obj = Context(config_path, verbose)


# -- config ------------------------------------------------------------------------------------


@main.group("config")
def config_group() -> None:
    """Validate the config file."""


@config_group.command("check")
@click.pass_obj
@handles_config_errors
def config_check(obj: Context) -> None:
    """Validate the config; list every error at once (exit 2), then warnings."""
    settings = obj.settings()
    today = datetime.now(UTC).date()
    for warning in config_mod.warnings(settings, today):
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{settings.source}: OK ({len(settings.jobs)} jobs, "
        f"{len(settings.timeperiods)} time periods)"
    )


# -- timeperiod --------------------------------------------------------------------------------


@main.group("timeperiod")
def timeperiod_group() -> None:
    """Inspect time periods."""


def _instant(text: str, tz: ZoneInfo, option: str) -> datetime:
    if text == "now":
        return datetime.now(tz)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            fail(f"{option}: {text!r} is not an ISO-8601 time (e.g. 2026-11-25T08:00+01:00)")
        parsed = datetime(day.year, day.month, day.day)
    if parsed.tzinfo is None:
        # A time without an offset means wall time in the period's own zone.
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def _inline_period(ranges: tuple[str, ...], tz: str) -> timeperiods.TimePeriod:
    parsed: dict[str, str] = {}
    for item in ranges:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--range {item!r}: expected KEY=VALUE, e.g. 'monday - friday=08:00-17:00'")
        parsed[key.strip()] = value.strip()
    return timeperiods.TimePeriod("inline", parsed, timezone=tz)


@timeperiod_group.command("show")
@click.argument("name", required=False)
@click.option(
    "--range",
    "ranges",
    multiple=True,
    metavar="KEY=VALUE",
    help="An inline range instead of a configured period (repeatable).",
)
@click.option("--tz", default="UTC", show_default=True, help="Time zone of inline ranges.")
@click.option("--from", "start", default="now", show_default=True, help="Window start (ISO).")
@click.option("--to", "end", default=None, help="Window end (ISO; default: 7 days after --from).")
@click.option("--at", "at", default=None, help="Also tell whether it is active then (ISO).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handles_config_errors
def timeperiod_show(
    obj: Context,
    name: str | None,
    ranges: tuple[str, ...],
    tz: str,
    start: str,
    end: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """Segments of a configured period NAME, or of inline --range definitions."""
    if name and ranges:
        fail("give a period NAME or --range definitions, not both")
    if ranges:
        period = _inline_period(ranges, tz)
    elif name:
        registry, errors = config_mod.build_timeperiods(obj.settings().timeperiods)
        if errors:
            raise config_mod.ConfigError(errors, obj.settings().source)
        if name not in registry:
            known = ", ".join(p.name for p in registry) or "none"
            fail(f"unknown time period {name!r} (known: {known})")
        period = registry.get(name)
    else:
        fail("give a period NAME or --range 'KEY=VALUE'")
    begin = _instant(start, period.tz, "--from")
    finish = _instant(end, period.tz, "--to") if end else begin + timedelta(days=7)
    if finish <= begin:
        fail("--to must be after --from")
    when = _instant(at, period.tz, "--at") if at else None
    doc = report.document(period, begin, finish, when)
    click.echo(json.dumps(doc, indent=2) if as_json else report.table(doc))
