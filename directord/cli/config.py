"""``directord config check`` and ``directord timeperiod show``: what the config says."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from directord.cli.common import (
    Context,
    fail,
    handles_config_errors,
)

if TYPE_CHECKING:
    from directord import timeperiods

# Instants timeperiod show can compute with: the period code looks a few days back and up to
# five years ahead, so the window stays clear of datetime's years 1 and 9999.
EARLIEST, LATEST = datetime(2, 1, 1, tzinfo=UTC), datetime(9990, 12, 31, tzinfo=UTC)


# -- config ------------------------------------------------------------------------------------


@click.group("config")
def config_group() -> None:
    """Validate the config file."""


@config_group.command("check")
@click.option(
    "--icinga-compat",
    is_flag=True,
    help="Also warn where Icinga 2 would evaluate a directord-only time period differently.",
)
@click.pass_obj
@handles_config_errors
def config_check(obj: Context, icinga_compat: bool) -> None:
    """Validate the config; list every error at once (exit 2), then warnings."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import config as config_mod  # noqa: PLC0415
    from directord.jobs import registry  # noqa: PLC0415
    from directord.specs import build_specs  # noqa: PLC0415

    settings = obj.settings()
    build_specs(settings, registry.discover())
    today = datetime.now(UTC).date()
    for warning in config_mod.warnings(settings, today, icinga_compat=icinga_compat):
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{settings.source}: OK ({len(settings.jobs)} jobs, "
        f"{len(settings.timeperiods)} time periods)"
    )


# -- timeperiod --------------------------------------------------------------------------------


@click.group("timeperiod")
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
    try:
        in_range = EARLIEST <= parsed <= LATEST
    except OverflowError:  # the offset pushes it past datetime's own range
        in_range = False
    if not in_range:
        fail(
            f"{option}: {text!r} is out of range "
            f"(from {EARLIEST.date().isoformat()} to {LATEST.date().isoformat()})"
        )
    return parsed


def _inline_period(ranges: tuple[str, ...], tz: str) -> timeperiods.TimePeriod:
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import timeperiods  # noqa: PLC0415

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
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import config as config_mod  # noqa: PLC0415
    from directord.timeperiods import report  # noqa: PLC0415

    if name and ranges:
        fail("give a period NAME or --range definitions, not both")
    if ranges:
        period = _inline_period(ranges, tz)
    elif name:
        periods, errors = config_mod.build_timeperiods(obj.settings().timeperiods)
        if errors:
            raise config_mod.ConfigError(errors, obj.settings().source)
        if name not in periods:
            fail(config_mod.unknown("time period", name, (p.name for p in periods)))
        period = periods.get(name)
    else:
        fail("give a period NAME or --range 'KEY=VALUE'")
    begin = _instant(start, period.tz, "--from")
    if end:
        finish = _instant(end, period.tz, "--to")
    else:
        finish = begin + timedelta(days=7)
        if finish > LATEST:
            fail(f"--from: {start!r} leaves no 7-day window before {LATEST.date().isoformat()}")
    if finish <= begin:
        fail("--to must be after --from")
    when = _instant(at, period.tz, "--at") if at else None
    doc = report.document(period, begin, finish, when)
    click.echo(json.dumps(doc, indent=2) if as_json else report.table(doc))
