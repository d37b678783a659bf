"""The shared test helpers keep tests off the default port and say why a daemon died."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.helpers import Daemon, wait_for, write_config


def test_every_test_config_listens_on_a_free_loopback_port(tmp_path: Path) -> None:
    ports = set()
    for i in range(3):
        config = write_config(tmp_path, {"jobs": []}, name=f"c{i}.yaml")
        host, _, port = yaml.safe_load(config.read_text())["http"]["listen"].rpartition(":")
        assert host == "127.0.0.1"
        assert int(port) != 8040
        ports.add(port)
        with socket.socket() as s:  # free: it can be bound right now
            s.bind((host, int(port)))
    assert len(ports) == 3
    explicit = write_config(tmp_path, {"http": {"listen": "127.0.0.1:0", "stale_after": "2s"}})
    assert yaml.safe_load(explicit.read_text())["http"] == {
        "listen": "127.0.0.1:0",
        "stale_after": "2s",
    }


@pytest.mark.slow
def test_a_daemon_that_exits_early_puts_its_output_in_the_failure(
    tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path,
            {
                "http": {"listen": f"127.0.0.1:{port}"},
                "jobs": [{"name": "a", "kind": "noop", "interval": "1h"}],
            },
        )
        d = daemon_factory(config)
        with pytest.raises(AssertionError) as failure:
            wait_for(lambda: False, 300, "something that never comes")
    # The daemon's exit ended the wait (not the timeout), with the reason.
    message = str(failure.value)
    assert "timed out" not in message
    assert "waiting for something that never comes" in message
    assert f"the daemon (pid {d.proc.pid}) exited with code 2" in message
    assert f"127.0.0.1:{port}" in message
