"""Real services for the tests, started in a temp dir on a free loopback port, stopped in finally.

Locally a missing package means skip; with CI=true it is a failure.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


def _wait_up(
    probe: Callable[[], object],
    failure: type[BaseException] | tuple[type[BaseException], ...],
    proc: subprocess.Popen[Any],
    seconds: float,
    what: str,
    log: Path,
) -> None:
    """Poll ``probe`` until it stops raising ``failure``; fail with the service's log if the
    process dies or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            probe()
            return
        except failure:
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else ""
                pytest.fail(f"{what} did not start: {text[-3000:]}")
            time.sleep(0.2)


def _stop(proc: subprocess.Popen[Any], grace: float) -> None:
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class PostgresServer:
    """A throw-away PostgreSQL cluster (initdb in a temp dir) that a test may stop and start
    again on the same port (a database outage)."""

    def __init__(self) -> None:
        initdb, server = _bin("initdb"), _bin("postgres")
        if initdb is None or server is None or shutil.which("psql") is None:
            missing("PostgreSQL (Debian package postgresql)")
        assert initdb is not None
        assert server is not None
        self.server = server
        assert _bin("pg_ctl") is not None
        self.root = Path(tempfile.mkdtemp(prefix="directord-pg-"))
        self.data = self.root / "data"
        password = "pg-test-password"
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
            shutil.chown(self.root, "postgres", "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        pwfile = self.root / "pw"
        pwfile.write_text(password)
        if self.as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        subprocess.run(
            [
                *self.as_postgres,
                initdb,
                "-D",
                str(self.data),
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
        self.pg = Postgres("127.0.0.1", free_port(), "directord", password, "postgres")
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None

    def start(self) -> None:
        self._log = (self.root / "server.log").open("a")
        self.proc = subprocess.Popen(
            [
                *self.as_postgres,
                self.server,
                "-D",
                str(self.data),
                "-p",
                str(self.pg.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.root),
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        _wait_up(
            lambda: self.pg.psql("SELECT 1"),
            subprocess.CalledProcessError,
            self.proc,
            60,
            "PostgreSQL",
            self.root / "server.log",
        )

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, as in a real outage (SIGTERM, a smart
        shutdown, would wait for every client to leave)."""
        if self.proc is not None:
            pg_ctl = _bin("pg_ctl")
            assert pg_ctl is not None
            subprocess.run(
                [*self.as_postgres, pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
            _stop(self.proc, 30)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server.pg


@dataclass(frozen=True)
class Icinga2:
    url: str
    user: str
    password: str
    ca_file: Path
    zone: str
    root: Path
    error_log: Path

    def api(self, path: str) -> Any:
        request = urllib.request.Request(
            self.url + path,
            headers={
                "Accept": "application/json",
                "Authorization": "Basic "
                + base64.b64encode(f"{self.user}:{self.password}".encode()).decode(),
            },
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.loads(response.read())

    def hosts(self) -> dict[str, dict[str, Any]]:
        found = self.api("/v1/objects/hosts?attrs=address&attrs=vars&attrs=groups")
        return {r["name"]: r["attrs"] for r in found["results"]}


def _certificates(certs: Path, node: str) -> Path:
    """A CA and a certificate for ``node`` and 127.0.0.1, as Icinga 2 wants them in certs/."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ca_ext = certs / "ca.ext"
    ca_ext.write_text(
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\n"
    )
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-keyout",
        str(certs / "ca.key"),
        "-out",
        str(certs / "ca.crt"),
        "-subj",
        "/CN=directord test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(certs / f"{node}.key"),
        "-out",
        str(certs / f"{node}.csr"),
        "-subj",
        f"/CN={node}",
    )
    ext = certs / "node.ext"
    ext.write_text(
        f"subjectAltName=DNS:{node},IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(certs / f"{node}.csr"),
        "-CA",
        str(certs / "ca.crt"),
        "-CAkey",
        str(certs / "ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        str(certs / f"{node}.crt"),
        "-extfile",
        str(ext),
    )
    ca_ext.unlink()
    return certs / "ca.crt"


def _icinga2_binary() -> str:
    """The icinga2 executable (also where root's PATH lacks /usr/sbin), or skip/fail."""
    binary = shutil.which("icinga2")
    if binary is None and Path("/usr/sbin/icinga2").exists():
        binary = "/usr/sbin/icinga2"
    if binary is None or shutil.which("openssl") is None:
        missing("Icinga 2 and openssl (Debian packages icinga2, openssl)")
    assert binary is not None
    return binary


@contextlib.contextmanager
def icinga2() -> Iterator[Icinga2]:
    """A throw-away Icinga 2 (Debian package icinga2): own directories, API on a free loopback
    port with an ApiUser, run as a child process and stopped in finally."""
    binary = _icinga2_binary()
    node, zone, user, password = "directord-test", "master", "directord", "api-test-password"
    root = Path(tempfile.mkdtemp(prefix="directord-icinga2-"))
    dirs = {
        name: root / name for name in ("etc", "data", "log", "cache", "spool", "run", "zones.d")
    }
    for path in dirs.values():
        path.mkdir()
    (dirs["data"] / "certs").mkdir()
    ca_file = _certificates(dirs["data"] / "certs", node)
    port = free_port()
    conf = dirs["etc"] / "icinga2.conf"
    conf.write_text(
        f'const NodeName = "{node}"\nconst ZoneName = "{zone}"\n'
        'const PluginDir = "/usr/lib/nagios/plugins"\n'
        "include <itl>\ninclude <plugins>\n"
        "object Endpoint NodeName {}\n"
        "object Zone ZoneName { endpoints = [ NodeName ] }\n"
        f'object ApiListener "api" {{ bind_host = "127.0.0.1"; bind_port = {port} }}\n'
        f'object ApiUser "{user}" {{ password = "{password}"; permissions = [ "*" ] }}\n'
    )
    defines = {
        "DataDir": dirs["data"],
        "LogDir": dirs["log"],
        "CacheDir": dirs["cache"],
        "SpoolDir": dirs["spool"],
        "InitRunDir": dirs["run"],
        "PidPath": dirs["run"] / "pid",
        "StatePath": dirs["data"] / "icinga2.state",
        "ModAttrPath": dirs["data"] / "modified-attributes.conf",
        "ObjectsPath": dirs["cache"] / "icinga2.debug",
        "VarsPath": dirs["cache"] / "icinga2.vars",
        "ZonesDir": dirs["zones.d"],
    }
    args = [f"-DConfiguration.{k}={v}" for k, v in defines.items()]
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "nagios:nagios", str(root)], check=True)
    error_log = dirs["log"] / "error.log"
    proc = subprocess.Popen(
        [binary, "daemon", "-c", str(conf), *args, "--close-stdio", "-e", str(error_log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    instance = Icinga2(f"https://127.0.0.1:{port}", user, password, ca_file, zone, root, error_log)
    try:
        _wait_up(
            lambda: instance.api("/v1/status/IcingaApplication"),
            (OSError, ValueError),
            proc,
            60,
            "Icinga 2",
            error_log,
        )
        yield instance
    finally:
        _stop(proc, 30)
        shutil.rmtree(root, ignore_errors=True)


def icinga2_validate(
    files: dict[str, str], zone: str = "master"
) -> subprocess.CompletedProcess[str]:
    """``icinga2 daemon -C`` on rendered files (paths like zones.d/<zone>/hosts.conf)."""
    binary = _icinga2_binary()
    root = Path(tempfile.mkdtemp(prefix="directord-validate-"))
    try:
        for path, content in files.items():
            target = root / "conf" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        (root / "conf" / "zones.d").mkdir(parents=True, exist_ok=True)
        (root / "conf" / "icinga2.conf").write_text(
            f'const NodeName = "directord-validate"\nconst ZoneName = "{zone}"\n'
            'const PluginDir = "/usr/lib/nagios/plugins"\n'
            "include <itl>\ninclude <plugins>\n"
            "object Endpoint NodeName {}\n"
            "object Zone ZoneName { endpoints = [ NodeName ] }\n"
        )
        for name in ("data", "log", "cache", "run", "spool"):
            (root / name).mkdir()
        defines = {
            "DataDir": "data",
            "LogDir": "log",
            "CacheDir": "cache",
            "SpoolDir": "spool",
            "InitRunDir": "run",
            "PidPath": "run/pid",
            "ObjectsPath": "cache/objects",
            "VarsPath": "cache/vars",
            "ZonesDir": "conf/zones.d",
        }
        if os.geteuid() == 0:  # validation, too, runs as the nagios user
            subprocess.run(["chown", "-R", "nagios:nagios", str(root)], check=True)
        return subprocess.run(
            [
                binary,
                "daemon",
                "-C",
                "-c",
                str(root / "conf" / "icinga2.conf"),
                *(f"-DConfiguration.{k}={root / v}" for k, v in defines.items()),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
