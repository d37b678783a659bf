"""``directord director check`` when it cannot do its work: exit 2 with the reason, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import cli, free_port, write_config


def test_check_without_a_director_block_is_a_usage_error(tmp_path: Path) -> None:
    done = cli(write_config(tmp_path, {}), "director", "check")
    assert done.returncode == 2
    assert "no director: block" in done.stderr


def test_check_that_cannot_connect_names_the_database(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    config = write_config(
        tmp_path, {"director": {"dsn": f"postgresql://director:secret@127.0.0.1:{port}/director"}}
    )
    done = cli(config, "director", "check", "--json")
    assert done.returncode == 2
    assert f"cannot connect to postgresql://director@127.0.0.1:{port}/director" in done.stderr
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_dsn_that_is_not_postgresql_or_mysql_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"director": {"dsn": "sqlite:///director.db"}})
    done = cli(config, "director", "check")
    assert done.returncode == 2
    assert "director.dsn" in done.stderr
