"""``directord jobs ...`` (run, list, next, kinds) and ``directord job ...`` (run, history,
disable, enable).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from directord.cli.common import (
    EXIT_FAILED,
    Context,
    elsewhere,
    fail,
    guard,
    handles_config_errors,
    unknown_job,
    with_store,
)

if TYPE_CHECKING:
    from directord import preview, store, views
    from directord.jobs import base as jobs_base
    from directord.supervisor import RunReport, Supervisor

# -- jobs --------------------------------------------------------------------------------------


def _report_line(r: RunReport) -> str:
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import tables  # noqa: PLC0415

    took = tables.took(r.finished - r.started)
    return f"{r.job}: {r.state} in {took} (run {r.run_id}): {r.summary}"


@click.group("jobs")
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
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import config as config_mod  # noqa: PLC0415
    from directord import daemon, scheduler  # noqa: PLC0415

    settings = obj.settings()
    if forever_flag or mode == "forever":
        path = config_mod.find_config(obj.config_path)
        sys.exit(guard(lambda: daemon.serve(settings, path)))

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
                skipped.append(f"{name}: skipped, {elsewhere(latest[0] if latest else None)}")
        return reports, skipped

    reports, skipped = guard(lambda: daemon.run(once, settings))
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
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import interrupted, tables, views  # noqa: PLC0415
    from directord.jobs import registry  # noqa: PLC0415
    from directord.specs import build_specs  # noqa: PLC0415

    settings = obj.settings()
    specs, _ = build_specs(settings, registry.discover())

    async def job_views(db: store.Store) -> tuple[list[views.JobView], float]:
        now = time.time()
        # A run whose process is gone counts as interrupted already; one of a live process
        # (the daemon, a `job run`) shows as running.
        states, live = await interrupted.job_states(db, now)
        disabled = await db.disabled_jobs()
        return views.job_views(specs, states, live, now, store_disabled=disabled), now

    rows, now = with_store(settings, job_views)
    if as_json:
        click.echo(json.dumps(tables.jobs_json(rows, now), indent=2))
    else:
        click.echo(tables.jobs(rows, now))


def _duration_fields(kind: type[jobs_base.Job]) -> set[str]:
    """The settings of ``kind`` parsed as durations (``5s``), to show them that way."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
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
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import daemon, preview, tables  # noqa: PLC0415

    async def starts(sup: Supervisor) -> list[preview.Start]:
        plans = [s.plan for s in sup.specs.values()]
        return preview.upcoming(plans, sup.jobs.timings, sup.clock(), count)

    settings = obj.settings()
    found = guard(lambda: daemon.run(starts, settings, readonly=True))
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
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
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


@click.group("job")
def job_group() -> None:
    """Run one job now, or show its history."""


@job_group.command("run")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also when it is disabled in the store.")
@click.pass_obj
@handles_config_errors
def job_run(obj: Context, name: str, force: bool) -> None:
    """Run NAME now in this process, outside its schedule (exit 0 succeeded, 1 failed)."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import daemon  # noqa: PLC0415

    settings = obj.settings()
    if name not in {j.name for j in settings.jobs}:
        unknown_job(settings, name)

    async def one(sup: Supervisor) -> tuple[RunReport | None, store.Run | None]:
        if name in sup.jobs.store_disabled and not force:
            fail(f"job {name!r} is disabled (directord job enable {name}, or job run --force)")
        result = await sup.run_now(name)
        latest = None if result else await sup.store.history(name, 1)
        return result, latest[0] if latest else None

    result, latest = guard(lambda: daemon.run(one, settings))
    if result is None:
        fail(f"job {name!r} was not started: {elsewhere(latest)}", EXIT_FAILED)
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
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import interrupted, tables  # noqa: PLC0415

    async def history(db: store.Store) -> list[store.Run]:
        # A run whose process is gone shows as interrupted before the next daemon records it.
        return interrupted.shown_runs(await db.history(name, limit), db)

    settings = obj.settings()
    runs = with_store(settings, history)
    if not runs and name not in {j.name for j in settings.jobs}:
        unknown_job(settings, name)
    if as_json:
        click.echo(json.dumps([tables.run_json(r) for r in runs], indent=2))
    elif not runs:
        click.echo(f"no runs of {name!r} yet")
    else:
        click.echo(tables.history(runs))


def _switch(obj: Context, name: str, disabled: bool) -> None:
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    import asyncio  # noqa: PLC0415

    from directord import store  # noqa: PLC0415

    settings = obj.settings()
    if name not in {j.name for j in settings.jobs}:
        unknown_job(settings, name)

    async def main() -> None:
        async with store.open(settings) as db:
            await db.set_job_disabled(name, disabled, time.time())

    guard(lambda: asyncio.run(main()))


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
