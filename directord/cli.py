"""The ``directord`` command line: argument parsing only, the work happens in the rooms it calls.

Exit codes: 0 success, 1 a job failed, 2 a usage or config error (with the reason on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import Any, NoReturn, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import click

from directord import check, daemon, preview, store, tables, timeperiods
from directord import config as config_mod
from directord import log as log_mod
from directord.icinga import pipeline
from directord.icinga.errors import SourceError
from directord.jobs import registry
from directord.supervisor import RunReport, Supervisor, build_specs
from directord.timeperiods import report
from directord.web import app as web_app

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
            path = config_mod.find_config(self.config_path)
            self._settings = config_mod.load(path, kinds=registry.discover())
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
    log_mod.setup(verbose)


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
    build_specs(settings, registry.discover())
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
            fail(config_mod.unknown("time period", name, (p.name for p in registry)))
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


# -- jobs --------------------------------------------------------------------------------------


def _report_line(r: RunReport) -> str:
    return f"{r.job}: {r.state} in {r.finished - r.started:.1f}s (run {r.run_id}): {r.summary}"


@main.group("jobs")
def jobs_group() -> None:
    """Run and list jobs."""


@jobs_group.command("run")
@click.argument("mode", required=False, type=click.Choice(["forever"]))
@click.option("--forever", "forever_flag", is_flag=True, help="Keep running as a daemon.")
@click.pass_obj
@handles_config_errors
def jobs_run(obj: Context, mode: str | None, forever_flag: bool) -> None:
    """Run every pending job once and exit (0: all succeeded, 1: any failed).

    With --forever (or the word forever): the daemon, until SIGTERM/SIGINT (exit 0).
    """
    settings = obj.settings()
    if forever_flag or mode == "forever":
        path = config_mod.find_config(obj.config_path)
        sys.exit(_guard(lambda: daemon.run(lambda s: daemon.serve_forever(s, path), settings)))
    reports = _guard(lambda: daemon.run(lambda s: s.run_pending_once(), settings))
    for r in reports:
        click.echo(_report_line(r))
    if not reports:
        click.echo("no job is pending")
    sys.exit(0 if all(r.ok for r in reports) else EXIT_FAILED)


def _guard(fn: Callable[[], R]) -> R:
    try:
        return fn()
    except (store.StoreError, web_app.HttpError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", EXIT_FAILED)


@jobs_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handles_config_errors
def jobs_list(obj: Context, as_json: bool) -> None:
    """Every job: kind, enabled, interval, time period, in period now, last result, next due."""

    async def views(sup: Supervisor) -> list[dict[str, Any]]:
        return sup.job_views(sup.clock())

    rows = _guard(lambda: daemon.run(views, obj.settings(), readonly=True))
    click.echo(json.dumps(rows, indent=2) if as_json else tables.jobs(rows))


@jobs_group.command("next")
@click.option("--count", default=5, show_default=True, type=click.IntRange(1), help="Per job.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handles_config_errors
def jobs_next(obj: Context, count: int, as_json: bool) -> None:
    """The next COUNT starts of every job, in time order: a schedule preview across jobs."""

    async def starts(sup: Supervisor) -> list[preview.Start]:
        plans = [s.plan for s in sup.specs.values()]
        return preview.upcoming(plans, sup.timings, sup.clock(), count)

    settings = obj.settings()
    found = _guard(lambda: daemon.run(starts, settings, readonly=True))
    kinds = {j.name: j.kind for j in settings.jobs}
    rows = [
        {
            "at": datetime.fromtimestamp(s.at, UTC).isoformat(),
            "job": s.job,
            "kind": kinds.get(s.job),
            "gated": s.gated,
            "catch_up": s.catch_up,
        }
        for s in found
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table: list[tuple[str, ...]] = [("at", "job", "kind", "note")]
    for s, row in zip(found, rows, strict=True):
        note = ", ".join(n for n, on in (("catch-up", s.catch_up), ("period start", s.gated)) if on)
        table.append((tables.when(s.at), s.job, str(row["kind"]), note or "-"))
    click.echo(tables.render(table) if rows else "no job has a next start")


@jobs_group.command("kinds")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def jobs_kinds(as_json: bool) -> None:
    """The installed job kinds, with description and settings."""
    kinds = registry.discover()
    described = [kinds.kinds[name].describe() for name in kinds.names()]
    if as_json:
        broken = [{"kind": b.name, "target": b.target, "error": b.error} for b in kinds.broken]
        click.echo(json.dumps({"kinds": described, "broken": broken}, indent=2))
        return
    for d in described:
        click.echo(
            f"{d['kind']}: {d['description']} (suggested interval {d['suggested_interval']:g}s)"
        )
        props = d["settings"].get("properties", {})
        required = set(d["settings"].get("required", []))
        for field_name, prop in props.items():
            kind = (
                prop.get("type")
                or "/".join(str(x.get("type", "?")) for x in prop.get("anyOf", []))
                or "object"
            )
            default = f" = {prop['default']!r}" if "default" in prop else ""
            flag = " (required)" if field_name in required else default
            click.echo(f"    {field_name}: {kind}{flag}")
    for b in kinds.broken:
        click.echo(f"{b.name}: BROKEN ({b.target}): {b.error}", err=True)


# -- job ---------------------------------------------------------------------------------------


@main.group("job")
def job_group() -> None:
    """Run one job now, or show its history."""


@job_group.command("run")
@click.argument("name")
@click.pass_obj
@handles_config_errors
def job_run(obj: Context, name: str) -> None:
    """Run NAME now in this process, outside its schedule (exit 0 succeeded, 1 failed)."""
    settings = obj.settings()
    settings.job(name)

    async def one(sup: Supervisor) -> RunReport | None:
        return await sup.run_now(name)

    result = _guard(lambda: daemon.run(one, settings))
    if result is None:
        fail(f"job {name!r} could not be claimed", EXIT_FAILED)
    click.echo(_report_line(result))
    sys.exit(0 if result.ok else EXIT_FAILED)


@job_group.command("history")
@click.argument("name")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handles_config_errors
def job_history(obj: Context, name: str, limit: int, as_json: bool) -> None:
    """The last runs of NAME, newest first."""
    settings = obj.settings()

    async def history(sup: Supervisor) -> list[store.Run]:
        return await sup.store.history(name, limit)

    runs = _guard(lambda: daemon.run(history, settings, readonly=True))
    if as_json:
        click.echo(json.dumps([r.as_json() for r in runs], indent=2))
        return
    if not runs:
        click.echo(f"no runs of {name!r} yet")
    for r in runs:
        took = "-" if r.finished is None else f"{r.finished - r.started:.1f}s"
        click.echo(
            f"{r.id:>7}  {tables.when(r.started)}  {r.state!s:<11} {took:>8}  {r.trigger:<8} "
            f"{r.summary or ''}"
        )


# -- health ------------------------------------------------------------------------------------


@main.command("health")
@click.option("--url", default=None, help="The daemon's base URL (default: from http.listen).")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per request.")
@click.pass_obj
def health(obj: Context, url: str | None, timeout: float) -> None:
    """Check a running daemon, for Icinga/Nagios: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    if url is None:
        listen = config_mod.DEFAULT_LISTEN
        with contextlib.suppress(config_mod.ConfigError):  # no config: the default address
            listen = obj.settings().http.listen
        host, _, port = listen.rpartition(":")
        url = f"http://{host}:{port}"
    verdict = check.check(url, timeout)
    click.echo(verdict.text)
    sys.exit(verdict.code)


# -- import, sync, objects ---------------------------------------------------------------------


@main.group("import")
def import_group() -> None:
    """Run imports."""


@import_group.command("run")
@click.argument("source")
@click.pass_obj
@handles_config_errors
def import_run(obj: Context, source: str) -> None:
    """Fetch SOURCE now and keep its rows as a new row set if they changed (exit 1 on failure)."""
    settings = obj.settings()
    if source not in settings.import_sources:
        fail(config_mod.unknown("import source", source, settings.import_sources))

    async def go(sup: Supervisor) -> pipeline.ImportOutcome:
        async def to_thread(fn: Callable[..., R], *args: object) -> R:
            return await asyncio.to_thread(fn, *args)

        return await pipeline.run_import(
            source,
            settings.import_sources[source],
            sup.store,
            base_dir=settings.base_dir,
            http=sup.http,
            to_thread=to_thread,
            now=time.time(),
        )

    try:
        outcome = _guard(lambda: daemon.run(go, settings))
    except SourceError as exc:
        fail(str(exc), EXIT_FAILED)
    click.echo(outcome.summary)


@main.group("sync")
def sync_group() -> None:
    """Run sync rules."""


@sync_group.command("run")
@click.argument("rule")
@click.option("--dry-run", is_flag=True, help="Compute and show the change set; apply nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the change set as JSON.")
@click.pass_obj
@handles_config_errors
def sync_run(obj: Context, rule: str, dry_run: bool, as_json: bool) -> None:
    """Turn the latest imported rows into objects by RULE (exit 1 on failure)."""
    settings = obj.settings()
    if rule not in settings.sync_rules:
        fail(config_mod.unknown("sync rule", rule, settings.sync_rules))

    async def go(sup: Supervisor) -> pipeline.SyncOutcome:
        async def to_thread(fn: Callable[..., R], *args: object) -> R:
            return await asyncio.to_thread(fn, *args)

        return await pipeline.run_sync(
            rule,
            settings.sync_rules[rule],
            sup.store,
            to_thread=to_thread,
            now=time.time(),
            apply=not dry_run,
        )

    try:
        outcome = _guard(lambda: daemon.run(go, settings))
    except SourceError as exc:
        fail(str(exc), EXIT_FAILED)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "rule": rule,
                    "applied": outcome.applied,
                    "counts": outcome.counts,
                    "changes": [c.as_json() for c in outcome.changes],
                },
                indent=2,
            )
        )
        return
    for change in outcome.changes:
        click.echo(f"{change.action:<7} {change.type} {change.name}")
        for prop, (before, after) in change.properties.items():
            if change.action == "modify":
                click.echo(f"          {prop}: {json.dumps(before)} -> {json.dumps(after)}")
    click.echo(outcome.summary)


@main.group("objects")
def objects_group() -> None:
    """The desired Icinga 2 objects."""


@objects_group.command("list")
@click.option("--type", "object_type", default=None, help="Only this type (Host, HostGroup...).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handles_config_errors
def objects_list(obj: Context, object_type: str | None, as_json: bool) -> None:
    """The objects sync runs made, by type and name."""

    async def go(sup: Supervisor) -> list[tuple[str, str, str, str | None]]:
        return await sup.store.objects(object_type)

    rows = _guard(lambda: daemon.run(go, obj.settings(), readonly=True))
    docs = [{"type": t, "name": n, "properties": json.loads(p), "rule": r} for t, n, p, r in rows]
    if as_json:
        click.echo(json.dumps(docs, indent=2))
        return
    table: list[tuple[str, ...]] = [("type", "name", "rule", "properties")]
    for d in docs:
        table.append(
            (d["type"], d["name"], d["rule"] or "-", json.dumps(d["properties"], sort_keys=True))
        )
    click.echo(tables.render(table))
