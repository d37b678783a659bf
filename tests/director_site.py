"""A real Icinga Director for the tests: its database (PostgreSQL or MariaDB, started here in a
temp dir on a free loopback port), an Icinga Web config dir of its own, the schema migrated with
``icingacli director migration run``. Everything stops in finally."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import services
from tests.conftest import free_port

ICINGACLI = "/usr/bin/icingacli"
HOUSEKEEPING = "Icinga\\Module\\Director\\Job\\HousekeepingJob"
IMPORT = "Icinga\\Module\\Director\\Job\\ImportJob"
SYNC = "Icinga\\Module\\Director\\Job\\SyncJob"
SQL_SOURCE = "Icinga\\Module\\Director\\Import\\ImportSourceSql"


@dataclass(frozen=True)
class Site:
    dialect: str  # 'postgresql' or 'mysql'
    host: str
    port: int
    user: str
    password: str
    database: str
    etc: Path
    client: tuple[str, ...]  # the SQL client's argv, without the statement

    @property
    def dsn(self) -> str:
        return f"{self.dialect}://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def env(self) -> dict[str, str]:
        return {"ICINGAWEB_CONFIGDIR": str(self.etc)}

    def sql(self, statement: str) -> list[list[str]]:
        """Rows as lists of strings (NULL as '')."""
        env = dict(os.environ, PGPASSWORD=self.password, MYSQL_PWD=self.password)
        out = subprocess.run(
            [*self.client, statement],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=60,
        ).stdout
        sep = "|" if self.dialect == "postgresql" else "\t"
        rows = [line.split(sep) for line in out.splitlines() if line]
        return [["" if v == "NULL" else v for v in r] for r in rows]

    def icingacli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ICINGACLI, *args],
            capture_output=True,
            text=True,
            env=dict(os.environ, **self.env),
            timeout=timeout,
            check=False,
        )

    def add_job(
        self,
        name: str,
        job_class: str,
        interval: int,
        settings: dict[str, str] | None = None,
        timeperiod_id: int | None = None,
        disabled: bool = False,
    ) -> int:
        period = "NULL" if timeperiod_id is None else str(timeperiod_id)
        self.sql(
            "INSERT INTO director_job (job_name, job_class, disabled, run_interval, timeperiod_id)"
            f" VALUES ('{name}', '{self.q(job_class)}', '{'y' if disabled else 'n'}',"
            f" {interval}, {period})"
        )
        job_id = int(self.sql(f"SELECT id FROM director_job WHERE job_name = '{name}'")[0][0])
        for key, value in (settings or {}).items():
            self.sql(
                "INSERT INTO director_job_setting (job_id, setting_name, setting_value)"
                f" VALUES ({job_id}, '{key}', '{self.q(value)}')"
            )
        return job_id

    def add_period(self, name: str, ranges: dict[str, str]) -> int:
        done = self.icingacli(
            "director",
            "timeperiod",
            "create",
            name,
            "--json",
            json.dumps({"object_type": "object", "ranges": ranges}),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return int(self.sql(f"SELECT id FROM icinga_timeperiod WHERE object_name = '{name}'")[0][0])

    def add_sql_source(self, name: str, query: str, key: str = "name") -> int:
        self.sql(
            "INSERT INTO import_source (source_name, key_column, provider_class)"
            f" VALUES ('{name}', '{key}', '{self.q(SQL_SOURCE)}')"
        )
        sid = int(self.sql(f"SELECT id FROM import_source WHERE source_name = '{name}'")[0][0])
        for k, v in (("resource", "director_db"), ("query", query)):
            self.sql(
                "INSERT INTO import_source_setting (source_id, setting_name, setting_value)"
                f" VALUES ({sid}, '{k}', '{self.q(v)}')"
            )
        return sid

    def q(self, text: str) -> str:
        """``text`` inside single quotes: MariaDB also treats backslashes as escapes."""
        if self.dialect == "mysql":
            text = text.replace("\\", "\\\\")
        return text.replace("'", "''")

    def job(self, job_id: int) -> dict[str, str]:
        cols = ("last_attempt_succeeded", "ts_last_attempt", "ts_last_error", "last_error_message")
        row = self.sql(f"SELECT {', '.join(cols)} FROM director_job WHERE id = {job_id}")[0]
        return dict(zip(cols, row, strict=True))

    def director_daemon(
        self, log: Path
    ) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
        """Director's own runner, ``icingacli director daemon run``, its job children included."""
        return session([ICINGACLI, "director", "daemon", "run"], self.env, log)

    def reset(self) -> None:
        """No jobs, no periods, no sources: each test starts from an empty Director."""
        for table in (
            "director_job_setting",
            "director_job",
            "icinga_timeperiod_range",
            "icinga_timeperiod",
            "import_source_setting",
            "import_source",
            "director_setting",
        ):
            self.sql(f"DELETE FROM {table}")


@contextlib.contextmanager
def session(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` in a session of its own (output to ``log``), stopped with its whole process
    group: SIGTERM, SIGKILL after 20 s, and SIGKILL for anything of it left."""
    # gipfl's daemon re-executes $_ (the shell's last command) for its job children: a value
    # inherited from whoever started us would run the wrong program.
    base = {k: v for k, v in os.environ.items() if k != "_"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env={**base, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def _require() -> None:
    if not Path(ICINGACLI).exists() or not Path("/usr/share/icingaweb2/modules/director").is_dir():
        services.missing("Icinga Director (Debian packages icingaweb2-module-director, icingacli)")


def _configure(site: Site) -> None:
    db = "pgsql" if site.dialect == "postgresql" else "mysql"
    (site.etc / "modules" / "director").mkdir(parents=True, exist_ok=True)
    (site.etc / "resources.ini").write_text(
        f'[director_db]\ntype = "db"\ndb = "{db}"\nhost = "{site.host}"\nport = "{site.port}"\n'
        f'dbname = "{site.database}"\nusername = "{site.user}"\npassword = "{site.password}"\n'
        f'charset = "utf8"\n'
    )
    (site.etc / "modules" / "director" / "config.ini").write_text(
        '[db]\nresource = "director_db"\n'
    )
    (site.etc / "config.ini").write_text('[global]\n\n[logging]\nlog = "php"\n')
    for module in ("incubator", "reactbundle", "director"):
        done = site.icingacli("module", "enable", module)
        assert done.returncode == 0, done.stdout + done.stderr
    done = site.icingacli("director", "migration", "run")
    assert done.returncode == 0, done.stdout + done.stderr


@contextlib.contextmanager
def on_postgres() -> Iterator[Site]:
    _require()
    with services.postgres() as pg:
        pg.psql("CREATE DATABASE director")
        director_db = dataclasses.replace(pg, database="director")
        director_db.psql("CREATE EXTENSION pgcrypto")
        etc = Path(tempfile.mkdtemp(prefix="directord-icingaweb-"))
        try:
            site = Site(
                "postgresql",
                pg.host,
                pg.port,
                pg.user,
                pg.password,
                "director",
                etc,
                (
                    "psql",
                    "-h",
                    pg.host,
                    "-p",
                    str(pg.port),
                    "-U",
                    pg.user,
                    "-d",
                    "director",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAt",
                    "-c",
                ),
            )
            _configure(site)
            yield site
        finally:
            shutil.rmtree(etc, ignore_errors=True)


@contextlib.contextmanager
def on_mariadb() -> Iterator[Site]:
    _require()
    install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd")
    server = server or ("/usr/sbin/mariadbd" if Path("/usr/sbin/mariadbd").exists() else None)
    if install is None or server is None or shutil.which("mariadb") is None:
        services.missing("MariaDB (Debian package mariadb-server)")
    assert install is not None
    assert server is not None
    root = Path(tempfile.mkdtemp(prefix="directord-mariadb-"))
    data, sock = root / "data", root / "mysqld.sock"
    subprocess.run(
        [
            install,
            f"--datadir={data}",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    port = free_port()
    log_path = root / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            server,
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={sock}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            "--skip-name-resolve",
            "--innodb-flush-log-at-trx-commit=0",
            f"--pid-file={root / 'mysqld.pid'}",
            f"--log-error={log_path}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    etc = Path(tempfile.mkdtemp(prefix="directord-icingaweb-"))
    try:
        as_root = ("mariadb", f"--socket={sock}", "-uroot", "-N", "-B", "-e")

        def probe() -> None:
            subprocess.run([*as_root, "SELECT 1"], check=True, capture_output=True, timeout=10)

        deadline = time.monotonic() + 60
        while True:
            try:
                probe()
                break
            except subprocess.CalledProcessError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"MariaDB did not start: {log_path.read_text()[-3000:]}")
                time.sleep(0.2)
        password = "director-test-password"
        subprocess.run(
            [
                *as_root,
                "CREATE DATABASE director CHARACTER SET utf8mb4;"
                f" CREATE USER 'director'@'127.0.0.1' IDENTIFIED BY '{password}';"
                " GRANT ALL ON director.* TO 'director'@'127.0.0.1';",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        site = Site(
            "mysql",
            "127.0.0.1",
            port,
            "director",
            password,
            "director",
            etc,
            ("mariadb", "-h", "127.0.0.1", f"-P{port}", "-udirector", "director", "-N", "-B", "-e"),
        )
        _configure(site)
        yield site
    finally:
        shutil.rmtree(etc, ignore_errors=True)
        services._stop(proc, 30)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
