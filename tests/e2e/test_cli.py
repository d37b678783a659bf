"""The command line as a user meets it: exit codes, messages, output formats, logging."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click.testing
import pytest
import yaml

from directord import cli as cli_mod
from directord import store
from tests.helpers import Daemon, cli, runs, wait_for, write_config, write_csv

StartDaemon = Callable[..., Daemon]


@pytest.mark.slow
def test_daemon_without_verbose_says_start_stop_and_problems_only(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {"name": "tick", "kind": "noop", "interval": "1s"},
                {"name": "bad", "kind": "fail", "interval": "1h", "settings": {"message": "no"}},
            ]
        },
    )
    d = daemon_factory(config, verbose=False)
    wait_for(lambda: len(runs(d.db, "tick")) >= 2, 30, "2 runs")
    d.signal(signal.SIGTERM)
    assert d.wait(30) == 0
    lines = d.output().splitlines()
    assert sum("daemon_started" in line for line in lines) == 1
    assert sum("daemon_stopped" in line for line in lines) == 1
    # The failure is a warning; the successful runs are not logged without --verbose.
    assert any("run_finished job=bad" in line and "WARNING" in line for line in lines)
    assert not any("run_started" in line or "job=tick" in line for line in lines)


CSV_CONFIG: dict[str, Any] = {
    "import_sources": {"cmdb": {"type": "csv", "path": "hosts.csv", "key_column": "name"}},
    "sync_rules": {
        "hosts": {
            "object_type": "Host",
            "sources": ["cmdb"],
            "object_name": "${name}",
            "properties": {"address": "${ip}"},
            "purge": True,
        }
    },
    "jobs": [
        {"name": "import", "kind": "import", "interval": "15m", "settings": {"source": "cmdb"}},
        {"name": "sync", "kind": "sync", "interval": "1d", "settings": {"rule": "hosts"}},
        {
            "name": "nightly",
            "kind": "noop",
            "interval": "90m",
            "timeperiod": "never-now",
        },
    ],
}


def directord(config: Path | None, *args: str) -> click.testing.Result:
    """The CLI in-process (the subprocess tests cover start-up and signals)."""
    runner = click.testing.CliRunner()
    prefix = ["--config", str(config)] if config is not None else []
    return runner.invoke(cli_mod.main, [*prefix, *args], catch_exceptions=False)


@pytest.fixture
def csv_config(tmp_path: Path) -> Path:
    write_csv(tmp_path / "hosts.csv", [{"name": "h1", "ip": "192.0.2.1"}])
    # A period that is closed now and opens in about twelve hours, whenever the test runs.
    opens = datetime.now(UTC) + timedelta(hours=12)
    closes = opens + timedelta(hours=1)
    period = {
        "ranges": {"monday - sunday": f"{opens:%H}:00-{closes:%H}:00"},
    }
    return write_config(tmp_path, {**CSV_CONFIG, "timeperiods": {"never-now": period}})


def test_unknown_names_exit_2_naming_the_known_ones(csv_config: Path) -> None:
    known_jobs = "(known: import, nightly, sync)"
    history = directord(csv_config, "job", "history", "NOSUCH")
    assert (history.exit_code, history.stdout) == (2, "")
    assert f"unknown job 'NOSUCH' {known_jobs}" in history.stderr
    run = directord(csv_config, "job", "run", "NOSUCH")
    assert run.exit_code == 2
    assert f"directord: unknown job 'NOSUCH' {known_jobs}" in run.stderr
    assert "config error" not in run.stderr
    objects = directord(csv_config, "objects", "list", "--type", "Hots")
    assert objects.exit_code == 2
    assert "'Hots' is not one of 'Host', 'HostGroup', 'Service'" in objects.stderr
    activity = directord(csv_config, "activity", "--rule", "nope")
    assert activity.exit_code == 2
    assert "unknown sync rule 'nope' (known: hosts)" in activity.stderr


def test_a_command_starts_in_the_config_files_directory(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    job = {"name": "where", "kind": "command", "interval": "1h", "settings": {"command": ["pwd"]}}
    config = write_config(etc, {"jobs": [job]})
    assert Path.cwd() != etc
    assert directord(config, "job", "run", "where").exit_code == 0
    [row] = runs(etc / "directord.db", "where")
    assert json.loads(row["details"])["stdout_tail"].strip() == str(etc)


def test_health_url_may_be_the_base_or_the_endpoint() -> None:
    for url in (
        "http://127.0.0.1:9/",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9/health",
        "http://127.0.0.1:9/status/",
    ):
        assert cli_mod._base_url(url) == "http://127.0.0.1:9"


def test_output_durations_zones_iso_json_and_headers(csv_config: Path) -> None:
    assert directord(csv_config, "jobs", "run").exit_code == 0
    listing = directord(csv_config, "jobs", "list").stdout.splitlines()
    assert listing[0].split()[:4] == ["name", "kind", "enabled", "schedule"]
    rows = {line.split()[0]: line for line in listing[1:]}
    assert " 15m " in rows["import"]
    assert " 1d " in rows["sync"]
    assert " 1h30m " in rows["nightly"]
    # Times carry their offset; the gated job says when its period opens.
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", rows["import"])
    assert "(never-now opens)" in rows["nightly"]
    doc = {j["name"]: j for j in json.loads(directord(csv_config, "jobs", "list", "--json").stdout)}
    for key in ("last_attempt", "last_success", "next_due", "next_run"):
        assert datetime.fromisoformat(doc["import"][key]).tzinfo is not None, key
    nightly = datetime.fromisoformat(doc["nightly"]["next_run"])
    assert nightly - datetime.now(UTC) > timedelta(hours=10)
    assert doc["nightly"]["last_attempt"] is None
    history = directord(csv_config, "job", "history", "import").stdout.splitlines()
    assert history[0].split() == ["run", "started", "state", "took", "trigger", "node", "summary"]
    assert "succeeded" in history[1]
    [run] = json.loads(directord(csv_config, "job", "history", "import", "--json").stdout)
    assert datetime.fromisoformat(run["started"]).tzinfo is not None
    assert isinstance(run["duration"], float)
    kinds = directord(None, "jobs", "kinds").stdout
    assert "(suggested interval 1h)" in kinds
    assert "    kill_grace: duration = 5s" in kinds
    assert "    grace_period: duration = 0s" in kinds


def test_import_and_sync_run_are_recorded_runs_of_their_kinds(
    csv_config: Path, tmp_path: Path
) -> None:
    # The same run path as the kinds' (issue 10.6): a row per run, job KIND:NAME, trigger manual.
    imported = directord(csv_config, "import", "run", "cmdb")
    assert (imported.exit_code, imported.stdout) == (0, "cmdb: 1 rows, new row set 1\n")
    [run] = json.loads(directord(csv_config, "job", "history", "import:cmdb", "--json").stdout)
    assert (run["kind"], run["trigger"], run["state"]) == ("import", "manual", "succeeded")
    assert run["summary"] == "cmdb: 1 rows, new row set 1"
    dry = directord(csv_config, "sync", "run", "hosts", "--dry-run", "--json")
    doc = json.loads(dry.stdout)
    assert (dry.exit_code, doc["applied"], doc["counts"]["created"]) == (0, False, 1)
    assert [c["name"] for c in doc["changes"]] == ["h1"]
    [sync] = json.loads(directord(csv_config, "job", "history", "sync:hosts", "--json").stdout)
    assert (sync["kind"], sync["trigger"], sync["changed"]) == ("sync", "manual", False)
    assert directord(csv_config, "objects", "list", "--json").stdout.strip() == "[]"
    # A failing source fails the command with its message, and the run is recorded as failed.
    (tmp_path / "hosts.csv").unlink()
    failed = directord(csv_config, "import", "run", "cmdb")
    assert failed.exit_code == 1
    message = failed.stderr.splitlines()[-1]
    assert message.startswith("directord: cannot read ")
    assert message.endswith("hosts.csv: No such file or directory")
    newest = json.loads(directord(csv_config, "job", "history", "import:cmdb", "--json").stdout)
    assert [r["state"] for r in newest] == ["failed", "succeeded"]
    assert message == f"directord: {newest[0]['summary']}"


def test_activity_shows_each_sync_with_before_and_after(csv_config: Path, tmp_path: Path) -> None:
    assert directord(csv_config, "activity").stdout.strip() == "no sync has changed anything yet"
    assert directord(csv_config, "jobs", "run").exit_code == 0
    write_csv(tmp_path / "hosts.csv", [{"name": "h1", "ip": "192.0.2.9"}])
    assert directord(csv_config, "import", "run", "cmdb").exit_code == 0
    assert directord(csv_config, "sync", "run", "hosts").exit_code == 0
    lines = directord(csv_config, "activity").stdout.splitlines()
    # The command line's sync is a recorded run too (issue 10.6), so its entry names the run.
    assert re.match(r"#2  .* rule hosts \(run \d+\): 0 created, 1 modified, 0 deleted", lines[0])
    assert lines[1].split() == ["modify", "Host", "h1"]
    assert lines[2].strip() == 'address: "192.0.2.1" -> "192.0.2.9"'
    assert re.match(r"#1  .* rule hosts \(run \d+\): 1 created", lines[3])
    doc = json.loads(directord(csv_config, "activity", "--json", "--limit", "1").stdout)
    assert len(doc) == 1
    assert doc[0]["changes"][0]["properties"] == {"address": ["192.0.2.1", "192.0.2.9"]}
    assert datetime.fromisoformat(doc[0]["created"]).tzinfo is not None


async def _record_deployments(db_path: Path) -> None:
    db = store.open_store(f"sqlite:///{db_path}")
    await db.open()
    try:
        first = await db.start_deployment("a" * 40, "directord", 1_800_000_000.0, None)
        await db.finish_deployment(first, "a" * 40, "st-1", 1_800_000_004.0, True, None)
        second = await db.start_deployment("b" * 40, "directord", 1_800_000_100.0, 7)
        await db.finish_deployment(
            second, "b" * 40, "st-2", 1_800_000_103.0, False, "critical/config: unknown template\nx"
        )
    finally:
        await db.close()


def test_deployments_list(csv_config: Path, tmp_path: Path) -> None:
    assert directord(csv_config, "deployments", "list").stdout.strip() == "no deployments yet"
    asyncio.run(_record_deployments(tmp_path / "directord.db"))
    lines = directord(csv_config, "deployments", "list").stdout.splitlines()
    assert lines[0].split() == ["id", "started", "result", "took", "stage", "config", "error"]
    assert lines[1].split()[:1] == ["2"]
    assert " failed " in lines[1]
    assert lines[1].endswith("critical/config: unknown template")
    assert " ok " in lines[2]
    assert " 4.0s " in lines[2]
    doc = json.loads(directord(csv_config, "deployments", "list", "--json").stdout)
    assert [d["stage"] for d in doc] == ["st-2", "st-1"]
    assert doc[1]["started"] == "2027-01-15T08:00:00+00:00"
    assert doc[0]["run_id"] == 7


@pytest.mark.slow
def test_a_job_running_elsewhere_is_named_not_called_not_pending(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(
        tmp_path,
        {
            "jobs": [
                {"name": "long", "kind": "sleep", "interval": "1h", "settings": {"seconds": 60}}
            ]
        },
    )
    d = daemon_factory(config)
    wait_for(lambda: any(r["state"] == "running" for r in runs(d.db, "long")), 30, "long running")
    [row] = runs(d.db, "long")
    result = cli(config, "jobs", "run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        f"long: skipped, it is running in another process (run {row['id']}, since "
    )
    assert "no job is pending" not in result.stdout
    one = cli(config, "job", "run", "long")
    assert one.returncode == 1
    assert f"job 'long' was not started: it is running in another process (run {row['id']}" in (
        one.stderr
    )
    port = yaml.safe_load(config.read_text())["http"]["listen"].rpartition(":")[2]
    for url in (f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/health"):
        health = cli(config, "health", "--url", url)
        assert health.stdout.startswith("OK - 1 jobs"), (url, health.stdout, health.stderr)


def test_job_disable_is_kept_in_the_store_and_shown(csv_config: Path, tmp_path: Path) -> None:
    off = directord(csv_config, "job", "disable", "sync")
    assert (off.exit_code, off.stdout.split(":")[0]) == (0, "sync")
    assert directord(csv_config, "job", "disable", "nope").exit_code == 2
    ran = directord(csv_config, "jobs", "run")
    assert "sync: skipped, disabled (directord job enable sync)" in ran.stdout
    assert runs(tmp_path / "directord.db", "sync") == []
    listing = directord(csv_config, "jobs", "list").stdout.splitlines()
    rows = {line.split()[0]: line for line in listing}
    assert " no (store) " in rows["sync"]
    doc = {j["name"]: j for j in json.loads(directord(csv_config, "jobs", "list", "--json").stdout)}
    assert (doc["sync"]["enabled"], doc["sync"]["disabled_by"]) == (False, "store")
    assert (doc["import"]["enabled"], doc["import"]["disabled_by"]) == (True, None)
    refused = directord(csv_config, "job", "run", "sync")
    assert refused.exit_code == 2
    assert "job 'sync' is disabled" in refused.stderr
    assert directord(csv_config, "job", "run", "sync", "--force").exit_code == 0
    assert directord(csv_config, "job", "enable", "sync").exit_code == 0
    doc = {j["name"]: j for j in json.loads(directord(csv_config, "jobs", "list", "--json").stdout)}
    assert doc["sync"]["enabled"] is True


@pytest.mark.slow
def test_the_daemon_honours_job_disable_and_enable(
    tmp_path: Path, daemon_factory: StartDaemon
) -> None:
    config = write_config(tmp_path, {"jobs": [{"name": "tick", "kind": "noop", "interval": "1s"}]})
    d = daemon_factory(config)
    wait_for(lambda: len(runs(d.db, "tick")) >= 2, 30, "2 runs")
    assert cli(config, "job", "disable", "tick").returncode == 0
    # The run that may have been starting meanwhile, then only skips.
    wait_for(lambda: d.output().count("disabled in the store") >= 2, 30, "two skipped due times")
    before = len(runs(d.db, "tick"))
    wait_for(lambda: d.output().count("disabled in the store") >= 4, 30, "two more")
    assert len(runs(d.db, "tick")) == before
    assert cli(config, "job", "enable", "tick").returncode == 0
    wait_for(lambda: len(runs(d.db, "tick")) >= before + 2, 30, "runs again")
