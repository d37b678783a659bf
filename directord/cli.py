"""The ``directord`` command line: argument parsing only, the work happens in the rooms it calls.

Exit codes: 0 success, 1 a job failed, 2 a usage or config error (with the reason on stderr).
Commands that only look open the store, not a supervisor; what they print is in tables.py.

Every command imports what it uses inside its function (``# noqa: PLC0415``): ``directord
--help`` loads click and nothing else of ours, ``jobs list`` no HTTP client, web server or
Icinga code, and each call of a health check or a listing does not pay for all the others
(tests/unit/test_cli_imports.py keeps it so).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import click

from directord.director import cli as director_cli

if TYPE_CHECKING:
    import aiohttp

    from directord import config as config_mod
    from directord import preview, store, timeperiods, views
    from directord.jobs import base as jobs_base
    from directord.supervisor import RunReport, Supervisor

P = ParamSpec("P")
R = TypeVar("R")

EXIT_FAILED = 1
EXIT_USAGE = 2
# Instants timeperiod show can compute with: the period code looks a few days back and up to
# five years ahead, so the window stays clear of datetime's years 1 and 9999.
EARLIEST, LATEST = datetime(2, 1, 1, tzinfo=UTC), datetime(9990, 12, 31, tzinfo=UTC)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"directord: {message}", err=True)
    sys.exit(code)


def handles_config_errors(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # Lazy, so each command loads only what it uses (see the module docstring).
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
        # Lazy, so each command loads only what it uses (see the module docstring).
        from directord import config as config_mod  # noqa: PLC0415
        from directord.jobs import registry  # noqa: PLC0415

        if self._settings is None:
            path = config_mod.find_config(self.config_path)
            self._settings = config_mod.load(path, kinds=registry.discover())
        return self._settings


def _guard(fn: Callable[[], R]) -> R:
    # Lazy, so each command loads only what it uses (see the module docstring).
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
    # Lazy, so each command loads only what it uses (see the module docstring).
    import asyncio  # noqa: PLC0415

    from directord import store  # noqa: PLC0415

    async def main() -> R:
        async with store.open(settings, readonly=True) as db:
            return await fn(db)

    return _guard(lambda: asyncio.run(main()))


def _unknown_job(settings: config_mod.Settings, name: str) -> NoReturn:
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import config as config_mod  # noqa: PLC0415

    fail(config_mod.unknown("job", name, (j.name for j in settings.jobs)))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (default: $DIRECTORD_CONFIG, ./config.yaml, /etc/directord/config.yaml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also log every run (colour on a tty).")
@click.version_option(package_name="directord")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """directord: runs Icinga import, sync, config and housekeeping jobs on intervals."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import log as log_mod  # noqa: PLC0415

    ctx.obj = Context(config_path, verbose)
    log_mod.setup(verbose)


# -- config ------------------------------------------------------------------------------------


@main.group("config")
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
    # Lazy, so each command loads only what it uses (see the module docstring).
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
    # Lazy, so each command loads only what it uses (see the module docstring).
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
    # Lazy, so each command loads only what it uses (see the module docstring).
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


# -- jobs --------------------------------------------------------------------------------------


def _report_line(r: RunReport) -> str:
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import tables  # noqa: PLC0415

    took = tables.took(r.finished - r.started)
    return f"{r.job}: {r.state} in {took} (run {r.run_id}): {r.summary}"


def _elsewhere(run: store.Run | None) -> str:
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import store, tables  # noqa: PLC0415

    if run is None or run.state is not store.RunState.running:
        return "it was claimed by another process"
    return f"it is running in another process (run {run.id}, since {tables.when(run.started)})"


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
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import config as config_mod  # noqa: PLC0415
    from directord import daemon, scheduler  # noqa: PLC0415

    settings = obj.settings()
    if forever_flag or mode == "forever":
        path = config_mod.find_config(obj.config_path)
        sys.exit(_guard(lambda: daemon.serve(settings, path)))

    async def once(sup: Supervisor) -> tuple[list[RunReport], list[str]]:
        plans = [s.plan for s in sup.specs.values()]
        pending = [d.name for d in scheduler.pending(plans, sup.jobs.timings, sup.clock())]
        reports = await sup.run_pending_once()
        ran = {r.job for r in reports}
        skipped = []
        for name in pending:
            if name in sup.jobs.store_disabled:
                skipped.append(f"{name}: skipped, disabled (directord job enable {name})")
            elif name not in ran:
                latest = await sup.store.history(name, 1)
                skipped.append(f"{name}: skipped, {_elsewhere(latest[0] if latest else None)}")
        return reports, skipped

    reports, skipped = _guard(lambda: daemon.run(once, settings))
    for r in reports:
        click.echo(_report_line(r))
    for line in skipped:
        click.echo(line)
    if not reports and not skipped:
        click.echo("no job is pending")
    sys.exit(0 if all(r.ok for r in reports) else EXIT_FAILED)


@jobs_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in ISO-8601).")
@click.pass_obj
@handles_config_errors
def jobs_list(obj: Context, as_json: bool) -> None:
    """Every job: kind, enabled, interval, time period, in period now, last result, next run."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import tables, views  # noqa: PLC0415
    from directord.jobs import registry  # noqa: PLC0415
    from directord.specs import build_specs  # noqa: PLC0415

    settings = obj.settings()
    specs, _ = build_specs(settings, registry.discover())

    async def job_views(db: store.Store) -> tuple[list[views.JobView], float]:
        now = time.time()
        states, disabled = await db.job_states(), await db.disabled_jobs()
        return views.job_views(specs, states, {}, now, store_disabled=disabled), now

    rows, now = with_store(settings, job_views)
    if as_json:
        click.echo(json.dumps(tables.jobs_json(rows, now), indent=2))
    else:
        click.echo(tables.jobs(rows, now))


def _duration_fields(kind: type[jobs_base.Job]) -> set[str]:
    """The settings of ``kind`` parsed as durations (``5s``), to show them that way."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import units  # noqa: PLC0415

    out = set()
    for field_name, info in kind.Settings.model_fields.items():
        for meta in info.metadata:
            # PositiveDuration wraps parse_duration in a functools.partial.
            func = getattr(meta, "func", None)
            if getattr(func, "func", func) is units.parse_duration:
                out.add(field_name)
    return out


@jobs_group.command("next")
@click.option("--count", default=5, show_default=True, type=click.IntRange(1), help="Per job.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handles_config_errors
def jobs_next(obj: Context, count: int, as_json: bool) -> None:
    """The next COUNT starts of every job, in time order: a schedule preview across jobs."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import daemon, preview, tables  # noqa: PLC0415

    async def starts(sup: Supervisor) -> list[preview.Start]:
        plans = [s.plan for s in sup.specs.values()]
        return preview.upcoming(plans, sup.jobs.timings, sup.clock(), count)

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
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import tables  # noqa: PLC0415
    from directord.jobs import registry  # noqa: PLC0415

    kinds = registry.discover()
    described = [kinds.kinds[name].describe() for name in kinds.names()]
    if as_json:
        broken = [{"kind": b.name, "target": b.target, "error": b.error} for b in kinds.broken]
        click.echo(json.dumps({"kinds": described, "broken": broken}, indent=2))
        return
    durations = {name: _duration_fields(kind) for name, kind in kinds.kinds.items()}
    click.echo(tables.kinds(described, durations))
    for b in kinds.broken:
        click.echo(f"{b.name}: BROKEN ({b.target}): {b.error}", err=True)


# -- job ---------------------------------------------------------------------------------------


@main.group("job")
def job_group() -> None:
    """Run one job now, or show its history."""


@job_group.command("run")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also when it is disabled in the store.")
@click.pass_obj
@handles_config_errors
def job_run(obj: Context, name: str, force: bool) -> None:
    """Run NAME now in this process, outside its schedule (exit 0 succeeded, 1 failed)."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import daemon  # noqa: PLC0415

    settings = obj.settings()
    if name not in {j.name for j in settings.jobs}:
        _unknown_job(settings, name)

    async def one(sup: Supervisor) -> tuple[RunReport | None, store.Run | None]:
        if name in sup.jobs.store_disabled and not force:
            fail(f"job {name!r} is disabled (directord job enable {name}, or job run --force)")
        result = await sup.run_now(name)
        latest = None if result else await sup.store.history(name, 1)
        return result, latest[0] if latest else None

    result, latest = _guard(lambda: daemon.run(one, settings))
    if result is None:
        fail(f"job {name!r} was not started: {_elsewhere(latest)}", EXIT_FAILED)
    click.echo(_report_line(result))
    sys.exit(0 if result.ok else EXIT_FAILED)


@job_group.command("history")
@click.argument("name")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in ISO-8601).")
@click.pass_obj
@handles_config_errors
def job_history(obj: Context, name: str, limit: int, as_json: bool) -> None:
    """The last runs of NAME, newest first (also of a job since removed from the config)."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import tables  # noqa: PLC0415

    settings = obj.settings()
    runs = with_store(settings, lambda db: db.history(name, limit))
    if not runs and name not in {j.name for j in settings.jobs}:
        _unknown_job(settings, name)
    if as_json:
        click.echo(json.dumps([tables.run_json(r) for r in runs], indent=2))
    elif not runs:
        click.echo(f"no runs of {name!r} yet")
    else:
        click.echo(tables.history(runs))


def _switch(obj: Context, name: str, disabled: bool) -> None:
    # Lazy, so each command loads only what it uses (see the module docstring).
    import asyncio  # noqa: PLC0415

    from directord import store  # noqa: PLC0415

    settings = obj.settings()
    if name not in {j.name for j in settings.jobs}:
        _unknown_job(settings, name)

    async def main() -> None:
        async with store.open(settings) as db:
            await db.set_job_disabled(name, disabled, time.time())

    _guard(lambda: asyncio.run(main()))


@job_group.command("disable")
@click.argument("name")
@click.pass_obj
@handles_config_errors
def job_disable(obj: Context, name: str) -> None:
    """Switch NAME off in the store: no scheduled run starts until `job enable NAME`."""
    _switch(obj, name, True)
    click.echo(f"{name}: disabled (a running daemon skips it from its next due time)")


@job_group.command("enable")
@click.argument("name")
@click.pass_obj
@handles_config_errors
def job_enable(obj: Context, name: str) -> None:
    """Switch NAME on again (a job the config disables stays disabled)."""
    _switch(obj, name, False)
    click.echo(f"{name}: enabled")


# -- health ------------------------------------------------------------------------------------


def _base_url(url: str) -> str:
    """The daemon's base URL from what a user gives: the base or the /health (/status) URL."""
    base = url.rstrip("/")
    for endpoint in ("/health", "/status"):
        base = base.removesuffix(endpoint)
    return base


@main.command("health")
@click.option(
    "--url", default=None, help="The daemon's URL, base or /health (default: from http.listen)."
)
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per request.")
@click.pass_obj
def health(obj: Context, url: str | None, timeout: float) -> None:
    """Check a running daemon, for Icinga/Nagios: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import check  # noqa: PLC0415
    from directord import config as config_mod  # noqa: PLC0415

    if url is None:
        listen = config_mod.DEFAULT_LISTEN
        with contextlib.suppress(config_mod.ConfigError):  # no config: the default address
            listen = obj.settings().http.listen
        host, _, port = listen.rpartition(":")
        url = f"http://{host}:{port}"
    verdict = check.check(_base_url(url), timeout)
    click.echo(verdict.text)
    sys.exit(verdict.code)


# -- import, sync, objects, activity, deployments ----------------------------------------------


async def _to_thread(fn: Callable[..., R], *args: object) -> R:
    # Lazy, so each command loads only what it uses (see the module docstring).
    import asyncio  # noqa: PLC0415

    return await asyncio.to_thread(fn, *args)


def _pipeline(
    settings: config_mod.Settings,
    fn: Callable[[store.Store, Callable[[], aiohttp.ClientSession]], Awaitable[R]],
) -> R:
    """``fn(store, http)`` for import and sync runs from the command line; a source's error
    fails the command (exit 1) with the source's own message."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    import asyncio  # noqa: PLC0415

    import aiohttp  # noqa: PLC0415

    from directord import store  # noqa: PLC0415
    from directord.icinga.errors import SourceError  # noqa: PLC0415

    async def main() -> R:
        async with store.open(settings) as db:
            session: aiohttp.ClientSession | None = None

            def http() -> aiohttp.ClientSession:
                nonlocal session
                if session is None:
                    session = aiohttp.ClientSession(headers={"User-Agent": "directord"})
                return session

            try:
                return await fn(db, http)
            finally:
                if session is not None:
                    await session.close()

    try:
        return _guard(lambda: asyncio.run(main()))
    except SourceError as exc:
        fail(str(exc), EXIT_FAILED)


@main.group("import")
def import_group() -> None:
    """Run imports."""


@import_group.command("run")
@click.argument("source")
@click.pass_obj
@handles_config_errors
def import_run(obj: Context, source: str) -> None:
    """Fetch SOURCE now and keep its rows as a new row set if they changed (exit 1 on failure)."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import config as config_mod  # noqa: PLC0415
    from directord.icinga import pipeline  # noqa: PLC0415

    settings = obj.settings()
    if source not in settings.import_sources:
        fail(config_mod.unknown("import source", source, settings.import_sources))
    outcome = _pipeline(
        settings,
        lambda db, http: pipeline.run_import(
            source,
            settings.import_sources[source],
            db,
            base_dir=settings.base_dir,
            http=http,
            to_thread=_to_thread,
            now=time.time(),
        ),
    )
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
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import config as config_mod  # noqa: PLC0415
    from directord import tables  # noqa: PLC0415
    from directord.icinga import pipeline  # noqa: PLC0415

    settings = obj.settings()
    if rule not in settings.sync_rules:
        fail(config_mod.unknown("sync rule", rule, settings.sync_rules))
    outcome = _pipeline(
        settings,
        lambda db, _http: pipeline.run_sync(
            rule,
            settings.sync_rules[rule],
            db,
            to_thread=_to_thread,
            now=time.time(),
            apply=not dry_run,
        ),
    )
    changes = [c.as_json() for c in outcome.changes]
    if as_json:
        doc = {"rule": rule, "applied": outcome.applied, "counts": outcome.counts}
        click.echo(json.dumps({**doc, "changes": changes}, indent=2))
        return
    for line in tables.changes(changes):
        click.echo(line)
    click.echo(outcome.summary)


# icinga.rules.ObjectType, written out so that --help need not import the Icinga code
# (tests/unit/test_cli_imports.py checks that both say the same).
OBJECT_TYPES = ("Host", "HostGroup", "Service", "ServiceGroup", "User", "UserGroup")


@main.group("objects")
def objects_group() -> None:
    """The desired Icinga 2 objects."""


@objects_group.command("list")
@click.option("--type", "object_type", type=click.Choice(OBJECT_TYPES), help="Only this type.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handles_config_errors
def objects_list(obj: Context, object_type: str | None, as_json: bool) -> None:
    """The objects sync runs made, by type and name."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import tables  # noqa: PLC0415

    rows = with_store(obj.settings(), lambda db: db.objects(object_type))
    docs = [{"type": t, "name": n, "properties": json.loads(p), "rule": r} for t, n, p, r in rows]
    click.echo(json.dumps(docs, indent=2) if as_json else tables.objects(docs))


@main.command("activity")
@click.option("--rule", default=None, help="Only this sync rule's entries.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in ISO-8601).")
@click.pass_obj
@handles_config_errors
def activity(obj: Context, rule: str | None, limit: int, as_json: bool) -> None:
    """What applied syncs changed, newest first: each object with before and after."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import config as config_mod  # noqa: PLC0415
    from directord import tables  # noqa: PLC0415

    settings = obj.settings()
    if rule is not None and rule not in settings.sync_rules:
        fail(config_mod.unknown("sync rule", rule, settings.sync_rules))
    entries = with_store(settings, lambda db: db.activity(rule, limit))
    if as_json:
        click.echo(json.dumps(tables.activity_json(entries), indent=2))
    elif not entries:
        click.echo("no sync has changed anything yet")
    else:
        click.echo(tables.activity(entries))


@main.group("deployments")
def deployments_group() -> None:
    """Icinga 2 config deployments."""


@deployments_group.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in ISO-8601).")
@click.pass_obj
@handles_config_errors
def deployments_list(obj: Context, limit: int, as_json: bool) -> None:
    """Every deployment attempt, newest first: stage, result, and Icinga 2's first error."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord import tables  # noqa: PLC0415

    items = with_store(obj.settings(), lambda db: db.deployments(limit))
    if as_json:
        click.echo(json.dumps([tables.deployment_json(d) for d in items], indent=2))
    elif not items:
        click.echo("no deployments yet")
    else:
        click.echo(tables.deployments(items))


# -- db ----------------------------------------------------------------------------------------


@main.group("db")
def db_group() -> None:
    """The database."""


@db_group.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@handles_config_errors
def db_backup(obj: Context, path: Path) -> None:
    """A consistent copy of the SQLite database at PATH, also while the daemon runs."""
    # Lazy, so each command loads only what it uses (see the module docstring).
    from directord.jobs import backup  # noqa: PLC0415

    settings = obj.settings()
    try:
        source = backup.database_path(settings.database_url())
        info = backup.backup(source, path)
    except backup.BackupError as exc:
        fail(str(exc), EXIT_FAILED)
    click.echo(f"backed up {info.source} to {info.target} ({info.size} bytes)")


main.add_command(director_cli.group)


@main.group("user")
def user_group() -> None:
    """People who log in to the web pages (web.users)."""


@user_group.command("hash")
def user_hash() -> None:
    """Print the hash of a password for web.users[].password_hash. The password is read from a
    prompt (twice), or from standard input when it is not a terminal; never from an argument,
    where other users could see it in the process list."""
    import getpass  # noqa: PLC0415 - only this command asks for a password

    from directord.web import auth  # noqa: PLC0415 - argon2 loads only for this command

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            fail("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("the password is empty")
    click.echo(auth.hash_password(password))
