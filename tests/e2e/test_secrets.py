"""Secrets stay secret (issue 9.6): what a failing command prints, URL credentials and API
tokens never reach the run's row, the views, the definitions table or the log; secret files are
read without blocking and warned about when every user can read them."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from directord import files, redact
from tests.helpers import cli, free_port, runs, write_config

ENV_SECRET = "s3cr3t-env-value-4711"
FILE_SECRET = "pa55word-from-a-file"
URL_PASSWORD = "url-pa55-9876"
API_TOKEN = "tok-abcdef-123456"


def secret_config(tmp_path: Path) -> Path:
    (tmp_path / "db-password").write_text(FILE_SECRET + "\n")
    (tmp_path / "db-password").chmod(0o600)
    port = free_port()  # nothing listens: the import fails naming its URL
    url = f"http://cmdb:{URL_PASSWORD}@127.0.0.1:{port}/hosts?api_token={API_TOKEN}&x=1"
    return write_config(
        tmp_path,
        {
            "import_sources": {
                "web": {"type": "json", "url": url, "key_column": "k", "timeout": 5},
                "db": {
                    "type": "sql",
                    "dsn": "postgresql://app@127.0.0.1:1/x",
                    "query": "select 1",
                    "key_column": "k",
                    "password_file": "db-password",
                },
            },
            "jobs": [
                {
                    "name": "leaky",
                    "kind": "command",
                    "interval": "1h",
                    "settings": {
                        "command": [
                            "sh",
                            "-c",
                            f'echo "token is $API_TOKEN and {FILE_SECRET}"; '
                            'echo "again $API_TOKEN" >&2; exit 3',
                        ],
                        "env": {"API_TOKEN": ENV_SECRET},
                    },
                },
                {
                    "name": "fetch",
                    "kind": "import",
                    "interval": "1h",
                    "settings": {"source": "web"},
                },
            ],
        },
    )


SECRETS = (ENV_SECRET, FILE_SECRET, URL_PASSWORD, API_TOKEN)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.slow
def test_secrets_never_reach_rows_views_definitions_or_the_log(tmp_path: Path) -> None:
    config = secret_config(tmp_path)
    leaky = cli(config, "--verbose", "job", "run", "leaky")
    fetch = cli(config, "--verbose", "job", "run", "fetch")
    assert leaky.returncode == 1, leaky.stderr
    assert fetch.returncode == 1, fetch.stderr
    db = tmp_path / "directord.db"
    rows = runs(db)
    assert [r["state"] for r in rows] == ["failed", "failed"]
    assert "token is ***" in rows[0]["summary"] + json.dumps(rows[0])
    assert "cmdb:***@127.0.0.1" in rows[1]["summary"]
    assert "api_token=***" in rows[1]["summary"]
    conn = sqlite3.connect(db)
    try:
        stored = dict(conn.execute("SELECT name, definition FROM jobs").fetchall())
        definitions = json.dumps(stored)
        state = json.dumps(conn.execute("SELECT * FROM job_state").fetchall())
    finally:
        conn.close()
    # The command kind declares env secret as a whole.
    assert json.loads(stored["leaky"])["settings"]["env"] == "***"
    views = [
        cli(config, "job", "history", "leaky", "--json"),
        cli(config, "job", "history", "fetch"),
        cli(config, "jobs", "list", "--json"),
        cli(config, "jobs", "list"),
    ]
    for text in (
        json.dumps(rows),
        definitions,
        state,
        leaky.stdout + leaky.stderr,
        fetch.stdout + fetch.stderr,
        *(v.stdout + v.stderr for v in views),
    ):
        assert_no_secret(text)
    assert "***" in views[0].stdout


def test_a_readable_secret_file_is_warned_about(tmp_path: Path) -> None:
    config = secret_config(tmp_path)
    (tmp_path / "db-password").chmod(0o644)
    check = cli(config, "config", "check")
    assert check.returncode == 0, check.stderr
    assert "db-password is readable by every user: chmod o-r" in check.stderr


def test_a_fifo_as_token_file_fails_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "token")
    config = write_config(
        tmp_path,
        {"http": {"listen": f"127.0.0.1:{free_port()}", "token_file": "token"}, "jobs": []},
    )
    result = cli(config, "jobs", "run", "--forever", timeout=60)  # a hang fails here
    assert result.returncode == 2, result.stderr
    assert "http.token_file: cannot read" in result.stderr
    assert "not a regular file" in result.stderr


@pytest.mark.parametrize("size", [files.SECRET_LIMIT + 1, 1 << 30])
def test_oversized_secret_files_are_refused(tmp_path: Path, size: int) -> None:
    path = tmp_path / "token"
    with path.open("wb") as f:
        f.truncate(size)
    with pytest.raises(files.FileProblem, match="larger than"):
        files.read_secret(path, "token")


def test_the_redactor() -> None:
    r = redact.Redactor(["hunter22", "abc"])  # too short to search for: "abc"
    assert r("pw hunter22!") == "pw ***!"
    assert r("postgresql://app:pw@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert (
        r("GET https://h/x?a=1&api_token=zz&sig=q#f")
        == "GET https://h/x?a=1&api_token=***&sig=***#f"
    )
    assert r("abc and https://h/?page=2") == "abc and https://h/?page=2"
    assert r.value({"out": ["hunter22"], "n": 3}) == {"out": ["***"], "n": 3}
