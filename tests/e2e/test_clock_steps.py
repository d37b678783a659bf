"""The real daemon under libfaketime, its wall clock stepped two hours back while it runs: the
jobs go on at their interval (they stalled by the size of the step before)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Daemon, free_port, runs, wait_for, write_config

pytestmark = pytest.mark.slow

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def faketime_env(offset_file: Path) -> dict[str, str]:
    if not LIBFAKETIME.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("libfaketime is missing (Debian package faketime)")
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    offset_file.write_text("+0\n")
    return {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset_file),
        "FAKETIME_NO_CACHE": "1",  # read the offset at every call: the step takes effect at once
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # only the wall clock steps, as with date -s
    }


def test_a_backward_step_of_the_wall_clock_does_not_stall_jobs(
    tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    offset = tmp_path / "faketime-offset"
    env = faketime_env(offset)
    config = write_config(
        tmp_path,
        {
            "http": {"listen": f"127.0.0.1:{free_port()}"},
            "jobs": [{"name": "a", "kind": "noop", "interval": "1s"}],
        },
    )
    d = daemon_factory(config, env=env)
    wait_for(lambda: len(runs(d.db, "a")) >= 2, 60, "two runs before the step")
    offset.write_text("-2h\n")
    # Only runs started after the step count: their start is two hours before the last one.
    first = runs(d.db, "a")[-1]["started"]

    def after_step() -> int:
        return sum(1 for r in runs(d.db, "a") if r["started"] < first - 3600)

    wait_for(lambda: after_step() >= 3, 60, "three runs after the step")
    assert "clock_stepped" in d.output() or "jumped" in d.output()
