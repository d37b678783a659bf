"""``directord import run``, ``sync run``, ``objects list``, ``activity`` and ``deployments
list``: the Icinga pipeline from the command line.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from directord.cli import common

if TYPE_CHECKING:
    from directord import store
    from directord.supervisor import RunReport, Supervisor

# -- import, sync, objects, activity, deployments ----------------------------------------------


def _run_kind(obj: common.Context, kind: str, name: str, **kind_settings: Any) -> list[Any]:
    """The ``kind``'s own run for one source or rule, recorded as the run of the job
    ``KIND:NAME`` (trigger manual) like any job's; returns the kind's outcomes. A failed run
    fails the command (exit 1) with the run's summary on stderr."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import daemon, oneshot  # noqa: PLC0415

    job = f"{kind}:{name}"

    async def one(sup: Supervisor) -> tuple[RunReport | None, list[Any], store.Run | None]:
        report, outcomes = await oneshot.run_kind(sup, job, kind, kind_settings)
        latest = None if report else await sup.store.history(job, 1)
        return report, outcomes, latest[0] if latest else None

    report, outcomes, latest = common.guard(lambda: daemon.run(one, obj.settings()))
    if report is None:
        common.fail(f"{job} was not started: {common.elsewhere(latest)}", common.EXIT_FAILED)
    if not report.ok:
        common.fail(report.summary, common.EXIT_FAILED)
    return outcomes


@click.group("import")
def import_group() -> None:
    """Run imports."""


@import_group.command("run")
@click.argument("source")
@click.pass_obj
@common.handles_config_errors
def import_run(obj: common.Context, source: str) -> None:
    """Fetch SOURCE now and keep its rows as a new row set if they changed (exit 1 on failure)."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import config as config_mod  # noqa: PLC0415

    settings = obj.settings()
    if source not in settings.import_sources:
        common.fail(config_mod.unknown("import source", source, settings.import_sources))
    [outcome] = _run_kind(obj, "import", source, source=source)
    click.echo(outcome.summary)


@click.group("sync")
def sync_group() -> None:
    """Run sync rules."""


@sync_group.command("run")
@click.argument("rule")
@click.option("--dry-run", is_flag=True, help="Compute and show the change set; apply nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the change set as JSON.")
@click.pass_obj
@common.handles_config_errors
def sync_run(obj: common.Context, rule: str, dry_run: bool, as_json: bool) -> None:
    """Turn the latest imported rows into objects by RULE (exit 1 on failure)."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import config as config_mod  # noqa: PLC0415
    from directord import tables  # noqa: PLC0415

    settings = obj.settings()
    if rule not in settings.sync_rules:
        common.fail(config_mod.unknown("sync rule", rule, settings.sync_rules))
    [outcome] = _run_kind(obj, "sync", rule, rule=rule, apply=not dry_run)
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
@common.handles_config_errors
def objects_list(obj: common.Context, object_type: str | None, as_json: bool) -> None:
    """The objects sync runs made, by type and name."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import tables  # noqa: PLC0415

    rows = common.with_store(obj.settings(), lambda db: db.objects(object_type))
    docs = [{"type": t, "name": n, "properties": json.loads(p), "rule": r} for t, n, p, r in rows]
    click.echo(json.dumps(docs, indent=2) if as_json else tables.objects(docs))


@click.command("activity")
@click.option("--rule", default=None, help="Only this sync rule's entries.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (times in ISO-8601).")
@click.pass_obj
@common.handles_config_errors
def activity(obj: common.Context, rule: str | None, limit: int, as_json: bool) -> None:
    """What applied syncs changed, newest first: each object with before and after."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import config as config_mod  # noqa: PLC0415
    from directord import tables  # noqa: PLC0415

    settings = obj.settings()
    if rule is not None and rule not in settings.sync_rules:
        common.fail(config_mod.unknown("sync rule", rule, settings.sync_rules))
    entries = common.with_store(settings, lambda db: db.activity(rule, limit))
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
@common.handles_config_errors
def deployments_list(obj: common.Context, limit: int, as_json: bool) -> None:
    """Every deployment attempt, newest first: stage, result, and Icinga 2's first error."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord import tables  # noqa: PLC0415

    items = common.with_store(obj.settings(), lambda db: db.deployments(limit))
    if as_json:
        click.echo(json.dumps([tables.deployment_json(d) for d in items], indent=2))
    elif not items:
        click.echo("no deployments yet")
    else:
        click.echo(tables.deployments(items))
