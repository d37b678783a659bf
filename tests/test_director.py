"""directord runs a real Icinga Director's jobs, against PostgreSQL and MariaDB it starts itself.

Director's own job state (director_job) is checked after directord's runs, as Director's web UI
would show it; the runs themselves are read from directord's SQLite store.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import director_site
from tests.conftest import Daemon, cli, free_port, http, runs, wait_for, write_config

pytestmark = [pytest.mark.director, pytest.mark.slow]

SITES = {"postgresql": director_site.on_postgres, "mysql": director_site.on_mariadb}


@pytest.fixture(scope="module", params=sorted(SITES))
def site(request: pytest.FixtureRequest) -> Iterator[director_site.Site]:
    with SITES[request.param]() as s:
        yield s


def _slow_query(site: director_site.Site, seconds: int) -> str:
    if site.dialect == "postgresql":
        return f"SELECT name, 'x' AS pad FROM site_hosts, pg_sleep({seconds})"
    return f"SELECT name, SLEEP({seconds}) AS pad FROM site_hosts"


def _slow_query_running(site: director_site.Site) -> bool:
    if site.dialect == "postgresql":
        sql = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE query LIKE '%site_hosts, pg_sleep%' AND pid <> pg_backend_pid()"
        )
    else:
        sql = (
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
            " WHERE INFO LIKE '%SLEEP(6) AS pad%' AND ID <> CONNECTION_ID()"
        )
    return site.sql(sql) != [["0"]]


def _config(tmp_path: Path, site: director_site.Site, **director: Any) -> Path:
    pw = tmp_path / "director.pw"
    pw.write_text(site.password + "\n")
    block = {
        "dsn": site.dsn,
        "password_file": str(pw),
        "refresh": "1s",
        "env": site.env,
        "timeout": "2m",
        **director,
    }
    return write_config(
        tmp_path,
        {"director": block, "http": {"listen": f"127.0.0.1:{free_port()}"}},
    )


def _finished(db: Path, job: str) -> list[dict[str, Any]]:
    return [r for r in runs(db, f"director:{job}") if r["state"] != "running"]


def _hosts_table(site: director_site.Site) -> None:
    site.sql("DROP TABLE IF EXISTS site_hosts")
    site.sql("CREATE TABLE site_hosts (name VARCHAR(100) NOT NULL)")
    site.sql("INSERT INTO site_hosts (name) VALUES ('web1'), ('db1')")


def test_director_jobs_run_with_their_outcome_in_director(
    site: director_site.Site, tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    site.reset()
    _hosts_table(site)
    always = site.add_period(
        "always",
        dict.fromkeys(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
            "00:00-24:00",
        ),
    )
    never = site.add_period("long-ago", {"2001-01-01": "00:00-24:00"})
    hk = site.add_job("hk10", director_site.HOUSEKEEPING, 10)
    hk_period = site.add_job("hk-always", director_site.HOUSEKEEPING, 600, timeperiod_id=always)
    hk_never = site.add_job("hk-never", director_site.HOUSEKEEPING, 5, timeperiod_id=never)
    bad = site.add_job("bad-class", "Icinga\\Module\\Director\\Job\\NoSuchJob", 60)
    imp_missing = site.add_job(
        "import-missing", director_site.IMPORT, 600, {"source_id": "999", "run_import": "y"}
    )
    sync_missing = site.add_job(
        "sync-missing", director_site.SYNC, 600, {"rule_id": "999", "apply_changes": "y"}
    )
    good_source = site.add_sql_source("hosts", "SELECT name FROM site_hosts")
    broken_source = site.add_sql_source("broken", "SELECT name FROM no_such_table")
    imp_ok = site.add_job(
        "import-hosts",
        director_site.IMPORT,
        600,
        {"source_id": str(good_source), "run_import": "y"},
    )
    imp_broken = site.add_job(
        "import-broken",
        director_site.IMPORT,
        600,
        {"source_id": str(broken_source), "run_import": "y"},
    )
    daemon = daemon_factory(_config(tmp_path, site))
    db = daemon.db

    wait_for(lambda: len(_finished(db, "hk10")) >= 3, 150, "three runs of the 10 s job")
    for name in (
        "hk-always",
        "bad-class",
        "import-missing",
        "sync-missing",
        "import-hosts",
        "import-broken",
    ):
        wait_for(lambda name=name: _finished(db, name), 120, f"a run of {name}")

    # Due exactly one interval after the previous run's due time (no drift), and started near
    # it (not at a 10 s poll).
    ten = _finished(db, "hk10")
    assert all(r["state"] == "succeeded" for r in ten), [(r["state"], r["summary"]) for r in ten]
    for a, b in itertools.pairwise(ten):
        assert b["scheduled_for"] - a["scheduled_for"] == pytest.approx(10, abs=0.01)
        # Director's 10 s poll makes this 20 s; ours only varies by the machine's load.
        assert b["started"] - a["started"] < 19, (a, b)
    assert site.job(hk)["last_attempt_succeeded"] == "y"
    assert _finished(db, "hk-always")[0]["state"] == "succeeded"
    assert site.job(hk_period)["last_attempt_succeeded"] == "y"

    assert _finished(db, "hk-never") == []
    assert site.job(hk_never)["ts_last_attempt"] == ""

    for job_id, name, why in (
        (imp_missing, "import-missing", "999"),
        (sync_missing, "sync-missing", "999"),
        (imp_broken, "import-broken", "no_such_table"),
    ):
        run = _finished(db, name)[0]
        assert run["state"] == "failed", run
        assert why in run["summary"], run
        state = site.job(job_id)
        assert state["last_attempt_succeeded"] == "n", state
        assert why in state["last_error_message"], state
        assert state["ts_last_error"], state

    ok = _finished(db, "import-hosts")[0]
    assert ok["state"] == "succeeded", ok
    assert site.job(imp_ok)["last_attempt_succeeded"] == "y"
    rows = site.sql(f"SELECT import_state FROM import_source WHERE id = {good_source}")
    assert rows == [["in-sync"]]

    bad_runs = _finished(db, "bad-class")
    assert len(bad_runs) == 1, bad_runs  # once per its 60 s interval, not every tick
    assert 'Class "Icinga\\Module\\Director\\Job\\NoSuchJob" not found' in bad_runs[0]["summary"]
    details = json.loads(bad_runs[0]["details"] or "{}")
    assert details["exit_code"] == 255
    state = site.job(bad)
    assert state["last_attempt_succeeded"] == "n"
    assert "NoSuchJob" in state["last_error_message"]


def test_director_changes_take_effect_within_refresh(
    site: director_site.Site, tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    site.reset()
    _hosts_table(site)
    first = site.add_job("hk-a", director_site.HOUSEKEEPING, 4)
    slow_source = site.add_sql_source("slow", _slow_query(site, 6))
    slow = site.add_job(
        "import-slow",
        director_site.IMPORT,
        3600,
        {"source_id": str(slow_source), "run_import": "n"},
    )
    daemon = daemon_factory(_config(tmp_path, site))
    db = daemon.db

    # A settings edit made while the job runs survives the run (Director #3071).
    # The child is inside the import (its query runs), so it loaded the settings before the edit.
    wait_for(lambda: _slow_query_running(site), 120, "the slow import's query")
    site.sql(
        "UPDATE director_job_setting SET setting_value = 'y'"
        f" WHERE job_id = {slow} AND setting_name = 'run_import'"
    )
    wait_for(lambda: _finished(db, "import-slow"), 120, "the slow import to finish")
    assert site.sql(
        f"SELECT setting_value FROM director_job_setting WHERE job_id = {slow}"
        " AND setting_name = 'run_import'"
    ) == [["y"]]
    # It did need saving: Director's job stored its stale copy over the edit, directord put it back.
    assert "put back settings edited during the run" in daemon.output()

    # Disabled in Director: no run starts once the refresh has seen it.
    wait_for(lambda: _finished(db, "hk-a"), 60, "a run of hk-a")
    site.sql(f"UPDATE director_job SET disabled = 'y' WHERE id = {first}")
    wait_for(
        lambda: "'director:hk-a' changed: disabled False -> True" in daemon.output(),
        30,
        "the refresh to see hk-a disabled",
    )
    seen = len(runs(db, "director:hk-a"))
    # A new job appears within refresh and runs; meanwhile (>2 intervals of hk-a) hk-a stays off.
    site.add_job("hk-b", director_site.HOUSEKEEPING, 4)
    wait_for(lambda: len(_finished(db, "hk-b")) >= 3, 90, "three runs of the new job hk-b")
    assert len(runs(db, "director:hk-a")) == seen

    # disable_all_jobs pauses everything; clearing it resumes.
    site.sql(
        "INSERT INTO director_setting (setting_name, setting_value)"
        " VALUES ('disable_all_jobs', 'y')"
    )
    wait_for(lambda: "disable_all_jobs set" in daemon.output(), 30, "the pause to be seen")
    paused = len(runs(db, "director:hk-b"))
    site.sql("UPDATE director_job SET run_interval = 3 WHERE job_name = 'hk-b'")
    wait_for(
        lambda: "'director:hk-b' changed: interval 4.0 -> 3.0" in daemon.output(),
        30,
        "the interval change to be seen while paused",
    )
    assert len(runs(db, "director:hk-b")) == paused
    site.sql("DELETE FROM director_setting WHERE setting_name = 'disable_all_jobs'")
    wait_for(lambda: len(runs(db, "director:hk-b")) > paused, 30, "hk-b to run again")


def test_director_check_lists_jobs_disagreements_and_a_running_director_daemon(
    site: director_site.Site, tmp_path: Path
) -> None:
    site.reset()
    site.sql("DELETE FROM director_daemon_info")
    weekdays = site.add_period("weekdays", {"monday - friday": "09:00-17:00"})
    office = site.add_period("office", dict.fromkeys(("monday", "tuesday"), "09:00-17:00"))
    hk = site.add_job("hk", director_site.HOUSEKEEPING, 60, timeperiod_id=weekdays)
    site.add_job("hk-office", director_site.HOUSEKEEPING, 120, timeperiod_id=office)
    site.add_job("hk-off", director_site.HOUSEKEEPING, 30, disabled=True)
    config = _config(tmp_path, site, timezone="UTC")

    done = cli(config, "director", "check", "--json", "--days", "8")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    jobs = {j["name"]: j for j in report["jobs"]}
    assert sorted(jobs) == ["hk", "hk-off", "hk-office"]
    assert jobs["hk"]["id"] == hk
    assert jobs["hk"]["class"] == director_site.HOUSEKEEPING
    assert jobs["hk"]["interval"] == 60
    assert jobs["hk"]["timeperiod"] == "weekdays"
    assert jobs["hk-off"]["enabled"] is False
    assert jobs["hk"]["last_attempt"] is None
    found = jobs["hk"]["period_disagreement"]
    # A weekday range: directord runs it on weekdays 09-17, Director's runner never does.
    assert found["directord_active"] is True
    assert found["director_active"] is False
    at = datetime.fromisoformat(found["at"])
    assert at.weekday() < 5, at
    assert at.strftime("%H:%M") == "09:00" or 9 <= at.hour < 17, at
    assert jobs["hk-office"]["period_disagreement"] is None
    assert len(report["warnings"]) == 1, report

    now_ms = int(time.time() * 1000)
    site.sql(
        "INSERT INTO director_daemon_info (instance_uuid_hex, schema_version, fqdn, username,"
        " pid, binary_path, binary_realpath, php_binary_path, php_binary_realpath, php_version,"
        " php_integer_size, ts_started, ts_last_update, process_info) VALUES ('00ff', 182,"
        f" 'director.example', 'icinga', 4242, 'x', 'x', 'x', 'x', '8.2', 8, {now_ms},"
        f" {now_ms}, '{{}}')"
    )
    text = cli(config, "director", "check")
    assert text.returncode == 1
    assert "pid 4242 on director.example" in text.stdout
    assert "hk-office" in text.stdout

    version = site.sql("SELECT MAX(schema_version) FROM director_schema_migration")[0][0]
    site.sql("DELETE FROM director_schema_migration")
    try:
        old = cli(config, "director", "check")
        assert old.returncode == 2
        assert "Director schema none found, schema 167 or newer needed" in old.stderr
        assert "Traceback" not in old.stderr
    finally:
        site.sql(
            "INSERT INTO director_schema_migration (schema_version, migration_time)"
            f" VALUES ({version}, NOW())"
        )
    site.sql("DELETE FROM director_daemon_info")


def _status_jobs(config: Path) -> dict[str, dict[str, Any]]:
    """The jobs of the daemon's /status; none while it does not listen yet."""
    listen = yaml.safe_load(config.read_text())["http"]["listen"]
    try:
        code, body = http(f"http://{listen}/status", timeout=10)
    except urllib.error.URLError:
        return {}
    assert code == 200, body
    return {j["name"]: j for j in json.loads(body)["jobs"]}


def _epoch(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def _last_attempt(site: director_site.Site, job_id: int) -> float:
    expr = (
        "extract(epoch FROM ts_last_attempt)"
        if site.dialect == "postgresql"
        else "UNIX_TIMESTAMP(ts_last_attempt)"
    )
    return float(site.sql(f"SELECT {expr} FROM director_job WHERE id = {job_id}")[0][0])


def test_taking_over_counts_from_the_last_attempt_director_recorded(
    site: director_site.Site, tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    site.reset()
    ran = site.add_job("hk-ran", director_site.HOUSEKEEPING, 3600)
    # Director's own daemon runs it (recording ts_last_attempt itself); then the switch.
    with site.director_daemon(tmp_path / "director-daemon.log"):
        wait_for(
            lambda: site.job(ran)["last_attempt_succeeded"] == "y",
            120,
            "Director's daemon to run hk-ran",
        )
    recorded = _last_attempt(site, ran)
    site.add_job("hk-new", director_site.HOUSEKEEPING, 3600)
    config = _config(tmp_path, site)
    daemon = daemon_factory(config)

    # A job Director never ran is due at once; the one it ran is due an interval after that run.
    wait_for(lambda: _finished(daemon.db, "hk-new"), 120, "the first run of hk-new")
    jobs = _status_jobs(config)
    assert _epoch(jobs["director:hk-ran"]["next_due"]) == pytest.approx(recorded + 3600, abs=0.01)
    # What directord counts from is what it shows: Director's run, before directord has run it.
    assert _epoch(jobs["director:hk-ran"]["last_attempt"]) == pytest.approx(recorded, abs=0.01)
    assert runs(daemon.db, "director:hk-ran") == []
    assert _last_attempt(site, ran) == recorded

    # After a restart directord's own record counts too (the grid of its run's due time, not
    # Director's whole second): the job it ran is not due again at once.
    [first] = _finished(daemon.db, "hk-new")
    daemon.stop()
    again = daemon_factory(config)
    wait_for(
        lambda: "director:hk-new" in _status_jobs(config), 60, "Director's jobs after the restart"
    )
    jobs = _status_jobs(config)
    assert _epoch(jobs["director:hk-new"]["next_due"]) == pytest.approx(
        first["scheduled_for"] + 3600, abs=0.01
    )
    assert _epoch(jobs["director:hk-ran"]["next_due"]) == pytest.approx(recorded + 3600, abs=0.01)
    assert len(runs(again.db, "director:hk-new")) == 1
