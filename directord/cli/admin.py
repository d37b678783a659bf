"""``directord health``, ``db backup`` and ``user hash``: looking after a running daemon."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from directord.cli.common import (
    EXIT_FAILED,
    Context,
    fail,
    handles_config_errors,
)

# -- health ------------------------------------------------------------------------------------


def _base_url(url: str) -> str:
    """The daemon's base URL from what a user gives: the base or the /health (/status) URL."""
    base = url.rstrip("/")
    for endpoint in ("/health", "/status"):
        base = base.removesuffix(endpoint)
    return base


@click.command("health")
@click.option(
    "--url", default=None, help="The daemon's URL, base or /health (default: from http.listen)."
)
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per request.")
@click.pass_obj
def health(obj: Context, url: str | None, timeout: float) -> None:
    """Check a running daemon, for Icinga/Nagios: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
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


# -- db ----------------------------------------------------------------------------------------


@click.group("db")
def db_group() -> None:
    """The database."""


@db_group.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@handles_config_errors
def db_backup(obj: Context, path: Path) -> None:
    """A consistent copy of the SQLite database at PATH, also while the daemon runs."""
    # Lazy, so each command loads only what it uses (see directord/cli/__init__.py).
    from directord.jobs import backup  # noqa: PLC0415

    settings = obj.settings()
    try:
        source = backup.database_path(settings.database_url())
        info = backup.backup(source, path)
    except backup.BackupError as exc:
        fail(str(exc), EXIT_FAILED)
    click.echo(f"backed up {info.source} to {info.target} ({info.size} bytes)")


@click.group("user")
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
