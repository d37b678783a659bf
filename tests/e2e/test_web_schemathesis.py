"""schemathesis against the daemon's own /api/openapi.json with the bearer token: no 5xx, every
response matches the document (which is generated from the same pydantic models)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import Daemon, free_port, healthy, wait_for, write_config

pytestmark = pytest.mark.slow
TOKEN = "schemathesis-token"


def test_the_api_keeps_its_own_schema(
    tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    tool = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(tool).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("schemathesis is not installed")
        pytest.skip("schemathesis is not installed")
    port = free_port()
    (tmp_path / "token").write_text(TOKEN + "\n")
    config = write_config(
        tmp_path,
        {
            "http": {"listen": f"127.0.0.1:{port}", "token_file": "token"},
            "timeperiods": {"weekdays": {"ranges": {"monday - friday": "09:00-17:00"}}},
            "jobs": [
                {
                    "name": "from-file",
                    "kind": "command",
                    "interval": "1h",
                    "settings": {"command": ["true"]},
                },
            ],
        },
    )
    daemon = daemon_factory(config)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: healthy(base), 30, "the daemon's /health")
    result = subprocess.run(
        [
            tool,
            "run",
            f"{base}/api/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--max-time",
            "90",
            "--seed",
            "1",
            "--workers",
            "1",
            "--request-timeout",
            "10",
        ],
        capture_output=True,
        cwd=tmp_path,  # its .schemathesis/ report stays out of the checkout
        text=True,
        timeout=400,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Traceback" not in daemon.output()
