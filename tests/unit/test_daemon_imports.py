"""The daemon loads only what its config uses (issue 14.2): without ``web.users`` no templates
(Jinja2) and no password hashing (argon2), and prometheus_client only once /metrics is scraped.
Structural, not timed: a fresh interpreter opens the store, serves the real app on a free
loopback port, answers /, /status (and /metrics when asked) and then prints sys.modules."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from directord.web import auth

PROBE = """
import asyncio, json, sys
from directord import config, daemon
from directord.web import app as web_app

settings = config.load(sys.argv[1])
paths = sys.argv[2:]

async def get(port, path):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"GET {path} HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\nConnection: close\\r\\n\\r\\n"
    writer.write(head.encode())
    body = await reader.read()
    writer.close()
    status = body.split(b"\\r\\n", 1)[0].decode()
    from directord import __version__
    off = b"The web pages are off" in body and f"directord {__version__}".encode() in body
    return status + (" (off page)" if off else "")

async def main():
    async with daemon.opened(settings) as supervisor:
        runner = await web_app.start(web_app.create_app(supervisor, None), settings.http)
        try:
            port = int(settings.http.listen.rsplit(":", 1)[1])
            return [await get(port, p) for p in paths]
        finally:
            await runner.cleanup()

statuses = asyncio.run(main())
print(json.dumps({"statuses": statuses, "modules": sorted(sys.modules)}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served(tmp_path: Path, doc: dict[str, object], *paths: str) -> tuple[list[str], set[str]]:
    doc = {
        "database": f"sqlite:///{tmp_path / 'd.db'}",
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "jobs": [
            {"name": "cmd", "kind": "command", "interval": "1h", "settings": {"command": ["true"]}},
            {"name": "hk", "kind": "housekeeping", "interval": "1h"},
        ],
        **doc,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), *paths],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    return found["statuses"], set(found["modules"])


def loaded(modules: set[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_without_web_users_no_templates_hashing_or_metrics_library(tmp_path: Path) -> None:
    statuses, modules = served(tmp_path, {}, "/", "/status", "/login")
    # / tells how to turn the pages on (off.html, filled in without Jinja2).
    assert statuses == ["HTTP/1.1 200 OK (off page)", "HTTP/1.1 200 OK", "HTTP/1.1 303 See Other"]
    assert "aiohttp.web" in modules  # the probe sees what the daemon loaded
    for name in ("jinja2", "aiohttp_jinja2", "argon2", "prometheus_client"):
        assert not loaded(modules, name), name


def test_the_first_scrape_loads_prometheus_client(tmp_path: Path) -> None:
    statuses, modules = served(tmp_path, {}, "/metrics")
    assert statuses == ["HTTP/1.1 200 OK"]
    assert loaded(modules, "prometheus_client")
    assert not loaded(modules, "jinja2")


def test_with_web_users_the_pages_load_their_libraries(tmp_path: Path) -> None:
    user = {"name": "alice", "role": "operator", "password_hash": auth.hash_password("pw")}
    statuses, modules = served(tmp_path, {"web": {"users": [user]}}, "/login")
    assert statuses == ["HTTP/1.1 200 OK"]
    assert loaded(modules, "jinja2")
    assert loaded(modules, "aiohttp_jinja2")
