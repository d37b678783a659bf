"""A job made through the API lives in the store: it survives a daemon restart and runs again."""

from __future__ import annotations

import json
import signal
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import Daemon, free_port, healthy, runs, wait_for, write_config

pytestmark = pytest.mark.slow
TOKEN = "restart-token"


def api(base: str, method: str, path: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_a_store_job_survives_a_restart(
    tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    port = free_port()
    (tmp_path / "token").write_text(TOKEN + "\n")
    config = write_config(
        tmp_path, {"http": {"listen": f"127.0.0.1:{port}", "token_file": "token"}}
    )
    base = f"http://127.0.0.1:{port}"
    first = daemon_factory(config)
    wait_for(lambda: healthy(base), 30, "the first daemon's /health")
    job = {
        "name": "made-by-api",
        "kind": "command",
        "interval": "1h",
        "settings": {"command": ["true"]},
    }
    status, created = api(base, "POST", "/api/jobs", job)
    assert status == 201, created
    wait_for(lambda: runs(first.db, "made-by-api"), 30, "its first run")
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0

    second = daemon_factory(config)
    wait_for(lambda: healthy(base), 30, "the second daemon's /health")
    status, found = api(base, "GET", "/api/jobs/made-by-api")
    assert status == 200
    assert isinstance(found, dict)
    assert (found["managed"], found["version"], found["last_result"]) == ("store", 1, "succeeded")
    status, _ = api(base, "POST", "/api/jobs/made-by-api/run")
    assert status == 202
    wait_for(lambda: len(runs(second.db, "made-by-api")) >= 2, 30, "a run by the second daemon")
