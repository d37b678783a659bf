"""The command line loads only what a command uses: importing the CLI (what ``directord --help``
pays) pulls in no HTTP, PostgreSQL, monitor or template library. Structural, not timed: each
check runs in a fresh interpreter and looks at sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

from directord import cli
from directord.icinga import rules

HEAVY = ("aiohttp", "asyncpg", "aiomonitor", "jinja2", "pydantic", "loguru", "directord.icinga")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importing_the_cli_loads_no_heavy_library() -> None:
    modules = loaded_after("import directord.cli")
    assert "directord.cli" in modules
    assert heavy(modules) == []


def test_help_loads_no_heavy_library() -> None:
    code = (
        "import sys\nsys.argv = ['directord', '--help']\nfrom directord import __main__\n"
        "try:\n    __main__.run()\nexcept SystemExit:\n    pass"
    )
    modules = loaded_after(code)
    assert "click" in modules
    assert heavy(modules) == []


def test_the_probe_sees_what_a_command_loads() -> None:
    # The check above can fail: a module that imports the config loads pydantic.
    assert "pydantic" in heavy(loaded_after("import directord.config"))


def test_object_types_match_the_sync_rules() -> None:
    assert get_args(rules.ObjectType) == cli.OBJECT_TYPES


def test_reading_the_config_loads_no_worker_thread_or_http_library() -> None:
    # Every command that reads the config pays for what directord.config imports.
    modules = loaded_after("import directord.config")
    assert sorted(m for m in modules if m.split(".")[0] in ("anyio", "aiohttp", "aiosqlite")) == []


def test_a_command_imports_only_the_kinds_its_config_uses(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: sqlite:///{tmp_path / 'd.db'}\n"
        "jobs:\n"
        "  - {name: c, kind: command, interval: 1h, settings: {command: ['true']}}\n"
    )
    code = (
        f"import sys\nsys.argv = ['directord', '--config', {str(config)!r}, 'jobs', 'list']\n"
        "from directord import __main__\n"
        "try:\n    __main__.run()\nexcept SystemExit:\n    pass"
    )
    modules = loaded_after(code)
    assert "directord.jobs.command" in modules  # the probe sees the kind that is used
    for unused in ("imports", "sync", "config", "director", "backup"):
        assert f"directord.jobs.{unused}" not in modules, unused


def test_every_kind_loads_when_all_are_asked_for() -> None:
    modules = loaded_after("from directord.jobs import registry\nregistry.discover().names()")
    assert {"directord.jobs.imports", "directord.jobs.sync", "directord.jobs.backup"} <= modules
