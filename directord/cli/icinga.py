"""``directord import run``, ``sync run``, ``objects list``, ``activity`` and ``deployments
list``: the Icinga pipeline from the command line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import click

from directord.cli.common import (
    EXIT_FAILED,
    Context,
    R,
    fail,
    guard,
    handles_config_errors,
    with_store,
)

if TYPE_CHECKING:
    import aiohttp

    from directord import config as config_mod
    from directord import store

# -- import, sync, objects, activity, deployments ----------------------------------------------


async def _to_thread(fn: Callable[..., R], *args: object) -> R:
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    import asyncio  # noqa: PLC0415

    return await asyncio.to_thread(fn, *args)


def _pipeline(
    settings: config_mod.Settings,
    fn: Callable[[store.Store, Callable[[], aiohttp.ClientSession]], Awaitable[R]],
) -> R:
    """``fn(store, http)`` for import and sync runs from the command line; a source's error
    fails the command (exit 1) with the source's own message."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
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
        return guard(lambda: asyncio.run(main()))
    except SourceError as exc:
        fail(str(exc), EXIT_FAILED)


@click.group("import")
def import_group() -> None:
    """Run imports."""


@import_group.command("run")
@click.argument("source")
@click.pass_obj
@handles_config_errors
def import_run(obj: Context, source: str) -> None:
    """Fetch SOURCE now and keep its rows as a new row set if they changed (exit 1 on failure)."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
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


@click.group("sync")
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
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
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


@click.group("objects")
def objects_group() -> None:
    """The desired Icinga 2 objects."""


@objects_group.command("list")
@click.option("--type", "object_type", type=click.Choice(OBJECT_TYPES), help="Only this type.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@handles_config_errors
def objects_list(obj: Context, object_type: str | None, as_json: bool) -> None:
    """The objects sync runs made, by type and name."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import tables  # noqa: PLC0415

    rows = with_store(obj.settings(), lambda db: db.objects(object_type))
    docs = [{"type": t, "name": n, "properties": json.loads(p), "rule": r} for t, n, p, r in rows]
    click.echo(json.dumps(docs, indent=2) if as_json else tables.objects(docs))


@click.command("activity")
@click.option("--rule", default=None, help="Only this sync rule's entries.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in ISO-8601).")
@click.pass_obj
@handles_config_errors
def activity(obj: Context, rule: str | None, limit: int, as_json: bool) -> None:
    """What applied syncs changed, newest first: each object with before and after."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
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


@click.group("deployments")
def deployments_group() -> None:
    """Icinga 2 config deployments."""


@deployments_group.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in ISO-8601).")
@click.pass_obj
@handles_config_errors
def deployments_list(obj: Context, limit: int, as_json: bool) -> None:
    """Every deployment attempt, newest first: stage, result, and Icinga 2's first error."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import tables  # noqa: PLC0415

    items = with_store(obj.settings(), lambda db: db.deployments(limit))
    if as_json:
        click.echo(json.dumps([tables.deployment_json(d) for d in items], indent=2))
    elif not items:
        click.echo("no deployments yet")
    else:
        click.echo(tables.deployments(items))
