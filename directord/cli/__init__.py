"""The ``directord`` command line: argument parsing only, the work happens in the rooms it calls.

Exit codes: 0 success, 1 a job failed, 2 a usage or config error (with the reason on stderr).
Commands that only look open the store, not a supervisor; what they print is in tables.py.
One module per command group: ``common`` (what they share), ``config`` (config, timeperiod),
``jobs`` (jobs, job), ``icinga`` (import, sync, objects, activity, deployments), ``admin``
(health, db, user); ``director`` registers its own group.

Every command imports what it uses inside its function (``# noqa: PLC0415``): ``directord
--help`` loads click and nothing else of ours, ``jobs list`` no HTTP client, web server or
Icinga code, and each call of a health check or a listing does not pay for all the others
(tests/unit/test_cli_imports.py keeps it so).
"""

from __future__ import annotations

import click

from directord.cli import admin, config, icinga, jobs
from directord.cli.common import Context
from directord.director import cli as director_cli

# Kept importable from here: tests and scripts use these names.
OBJECT_TYPES = icinga.OBJECT_TYPES
_base_url = admin._base_url


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


for command in (
    config.config_group,
    config.timeperiod_group,
    jobs.jobs_group,
    jobs.job_group,
    admin.health,
    icinga.import_group,
    icinga.sync_group,
    icinga.objects_group,
    icinga.activity,
    icinga.deployments_group,
    admin.db_group,
    director_cli.group,
    admin.user_group,
):
    main.add_command(command)
