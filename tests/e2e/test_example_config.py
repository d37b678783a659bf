"""config.example.yaml as a new user runs it: ``jobs run`` in a fresh copy of the repository's
example (no Icinga 2) runs import, sync, config (into render_dir) and housekeeping, exits 0."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_jobs_run_on_the_example(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    config = tmp_path / "config.yaml"
    check = cli(config, "config", "check")
    assert check.returncode == 0, check.stderr
    result = cli(config, "jobs", "run")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split(":", 1)[0]: line for line in result.stdout.splitlines()}
    assert lines["import-cmdb"].startswith("import-cmdb: succeeded")
    assert "cmdb: 20 rows" in lines["import-cmdb"]
    assert "hosts: 16 created" in lines["sync-objects"]
    assert "rendered 24 objects into" in lines["render-config"]
    assert lines["housekeeping"].startswith("housekeeping: succeeded")
    hosts = (tmp_path / "rendered" / "zones.d" / "master" / "hosts.conf").read_text()
    assert hosts.count("object Host ") == 16
    assert (tmp_path / "rendered" / "zones.d" / "master" / "templates.conf").exists()
    # The order follows the chain: import before sync before config.
    order = [line.split(":", 1)[0] for line in result.stdout.splitlines()]
    assert order.index("import-cmdb") < order.index("sync-objects") < order.index("render-config")
    # Nothing pending right after: a second run does nothing and still exits 0.
    again = cli(config, "jobs", "run")
    assert again.returncode == 0
    objects = cli(config, "objects", "list", "--type", "HostGroup", "--json")
    assert objects.returncode == 0
    assert len(json.loads(objects.stdout)) == 8
    # The backup lands beside the config, wherever the command was started from.
    backup = cli(config, "job", "run", "nightly-backup")
    assert backup.returncode == 0, backup.stderr
    [copy] = (tmp_path / "backup").iterdir()
    assert copy.name.startswith("directord-")
    assert copy.suffix == ".db"
    assert f"to {copy} (" in backup.stdout
