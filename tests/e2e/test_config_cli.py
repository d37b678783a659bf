"""``config check`` as a user runs it: bad files exit 2 with a message and bounded memory; the
Icinga 2 divergence warnings only where Icinga 2 evaluates the period too."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli, plugin_env
from tests.unit.test_config_input import BOMB_IN_PROPERTIES, BOMB_IN_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
# A bomb that expands used 2.5-2.9 GB; the daemon itself needs well under this address space.
MEMORY_LIMIT = 1 << 30


def limited_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "directord", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,  # a hang fails here; how fast it answers is bench matter
        env=plugin_env(),
        preexec_fn=limit,
        check=False,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00\x00", "not UTF-8 text"),
        (b"k:\n" + b"- " * 5000 + b"x\n", "nested more than 64 levels deep"),
        (b"a: " + b"[" * 5000 + b"]" * 5000, "exceeded maximum nesting depth"),
        (BOMB_IN_PROPERTIES.encode(), "an alias bomb?"),
        (BOMB_IN_TEMPLATES.encode(), "an alias bomb?"),
        (b"jobs:\n  - {name: a, kind: command, interval: .inf, settings: {command: [x]}}\n",
         "jobs[0] (a).interval: inf is out of range"),
    ],
)  # fmt: skip
def test_bad_files_exit_2_with_a_message(tmp_path: Path, content: bytes, message: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_bytes(content)
    for args in (["config", "check"], ["jobs", "run"]):
        result = limited_cli(config, *args)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert "MemoryError" not in result.stderr


def test_the_example_checks_clean_and_compat_warnings_are_opt_in(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.yaml", tmp_path / "config.yaml")
    config = tmp_path / "config.yaml"
    plain = cli(config, "config", "check")
    assert plain.returncode == 0, plain.stderr
    assert "warning" not in plain.stderr
    compat = cli(config, "config", "check", "--icinga-compat")
    assert compat.returncode == 0, compat.stderr
    assert "warning: timeperiods." in compat.stderr


@pytest.mark.slow
def test_divergence_warnings_for_periods_icinga_evaluates(tmp_path: Path) -> None:
    example = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    config = tmp_path / "config.yaml"

    def period_warnings(*args: str) -> list[str]:
        config.write_text(yaml.safe_dump(example))
        result = cli(config, "config", "check", *args)
        assert result.returncode == 0, result.stderr
        return [w for w in result.stderr.splitlines() if w.startswith("warning: timeperiods.")]

    # Kept in Icinga 2 too: its warning shows without the flag; the other's only with it.
    example["timeperiods"]["nights"]["in_icinga"] = True
    assert [w.split(":")[1] for w in period_warnings()] == [" timeperiods.nights"]
    assert len(period_warnings("--icinga-compat")) == 2
    # Used by an object directord renders: Icinga 2 evaluates it.
    example["templates"]["generic-host"]["properties"]["check_period"] = "workhours"
    assert period_warnings() == period_warnings("--icinga-compat")
    assert len(period_warnings()) == 2
