"""Real services for the tests, started in a temp dir on a free loopback port, stopped in finally.

Locally a missing package means skip; with CI=true it is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port


def missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing; CI must install it (.ci/run)")
    pytest.skip(f"{what} not installed")


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def psql(self, sql: str) -> str:
        env = dict(os.environ, PGPASSWORD=self.password)
        return subprocess.run(
            [
                "psql",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                self.database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=60,
        ).stdout


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    initdb, server = _bin("initdb"), _bin("postgres")
    if initdb is None or server is None or shutil.which("psql") is None:
        missing("PostgreSQL (Debian package postgresql)")
    assert initdb is not None
    assert server is not None
    root = Path(tempfile.mkdtemp(prefix="directord-pg-"))
    data = root / "data"
    password = "pg-test-password"
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    pwfile = root / "pw"
    pwfile.write_text(password)
    if as_postgres:
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(
        [
            *as_postgres,
            initdb,
            "-D",
            str(data),
            "-U",
            "directord",
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            *as_postgres,
            server,
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(root),
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        pg = Postgres("127.0.0.1", port, "directord", password, "postgres")
        deadline = time.monotonic() + 30
        while True:
            try:
                pg.psql("SELECT 1")
                break
            except subprocess.CalledProcessError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    text = (root / "server.log").read_text()
                    pytest.fail(f"PostgreSQL did not start: {text[-2000:]}")
                time.sleep(0.2)
        yield pg
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
