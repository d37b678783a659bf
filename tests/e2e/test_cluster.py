"""Several daemons on one real PostgreSQL: every node active, every due run exactly once, nodes
killed and restarted, the database stopped and started again."""

from __future__ import annotations

import itertools
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import services
from tests.conftest import Daemon, free_port, http, pid_alive, wait_for
from tests.helpers import plugin_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LEASE = 3.0
_starts = itertools.count(1)


@dataclass
class Node:
    name: str
    port: int
    daemon: Daemon

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> int | None:
        try:
            return http(f"{self.base}/health", timeout=3)[0]
        except OSError:
            return None

    def status(self) -> dict[str, Any]:
        return json.loads(http(f"{self.base}/status", timeout=5)[1])


class Cluster:
    """Daemons of one config each, on one database; a node is restarted on a fresh directory
    (its own log) with the same node name and port."""

    def __init__(self, root: Path, pg: services.Postgres, jobs: list[dict[str, Any]]) -> None:
        self.root, self.pg, self.jobs = root, pg, jobs
        self.started: list[Daemon] = []
        self.nodes: dict[str, Node] = {}

    def config(self, name: str, port: int, password_file: bool = False, **runner: Any) -> Path:
        folder = self.root / f"{name}-{next(_starts)}"
        folder.mkdir()
        data: dict[str, Any] = {
            "database": self.pg.dsn,
            "node": name,
            "http": {"listen": f"127.0.0.1:{port}", "stale_after": "5s"},
            "runner": {"lease": f"{LEASE:g}s", "shutdown_grace": "5s", **runner},
            "jobs": self.jobs,
        }
        if password_file:  # a path relative to the config file, as every path
            (folder / "pg-password").write_text(self.pg.password + "\n")
            data["database_password_file"] = "pg-password"
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def start(self, name: str, port: int | None = None, password_file: bool = False) -> Node:
        """Node ``name``: its password from PGPASSWORD, or from database_password_file."""
        port = port or (self.nodes[name].port if name in self.nodes else free_port())
        env = {} if password_file else {"PGPASSWORD": self.pg.password}
        daemon = Daemon(self.config(name, port, password_file), env=env)
        self.started.append(daemon)
        self.nodes[name] = Node(name, port, daemon)
        return self.nodes[name]

    def stop_all(self) -> None:
        for d in self.started:
            d.stop()

    def cli(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``directord ARGS`` with node ``name``'s config (and its way to the password)."""
        config = self.nodes[name].daemon.config
        cmd = [sys.executable, "-m", "directord", "--config", str(config)]
        by_file = "database_password_file" in config.read_text()
        env = plugin_env(**({} if by_file else {"PGPASSWORD": self.pg.password}))
        return subprocess.run(
            [*cmd, *args], capture_output=True, text=True, timeout=60, env=env, check=False
        )

    def runs(self) -> list[dict[str, Any]]:
        out = self.pg.psql(
            "SELECT coalesce(json_agg(r ORDER BY r.id), '[]') FROM (SELECT id, job, node, state, "
            "trigger, scheduled_for, started, finished, claimed, ended, summary FROM runs) r"
        )
        return list(json.loads(out))


@pytest.fixture
def pg_server() -> Iterator[services.PostgresServer]:
    # Its own server: this test stops and starts it.
    with services.postgres_server() as server:
        yield server


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(pg: services.Postgres, jobs: list[dict[str, Any]]) -> Cluster:
        made.append(Cluster(tmp_path, pg, jobs))
        return made[-1]

    try:
        yield make
    finally:
        for c in made:
            c.stop_all()


def healthy(node: Node, timeout: float = 60) -> None:
    wait_for(lambda: node.health() == 200, timeout, f"{node.name} /health 200")


def noop_jobs(count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"j{i:02d}", "kind": "noop", "interval": f"{1 + i % 3}s"} for i in range(count)
    ]


def test_two_nodes_share_the_work_and_a_node_name_is_taken_once(
    pg_server: services.PostgresServer, cluster_factory: Callable[..., Cluster]
) -> None:
    c = cluster_factory(pg_server.pg, noop_jobs(4))
    a, b = c.start("m1"), c.start("m2", password_file=True)
    healthy(a)
    healthy(b)
    wait_for(
        lambda: {r["node"] for r in c.runs() if r["state"] == "succeeded"} >= {"m1", "m2"},
        90,
        "runs on both nodes",
    )
    # A second daemon calling itself m1 is refused while m1 lives, naming it.
    twin = c.start("m1", port=free_port())
    assert twin.daemon.wait(60) == 2
    assert f"(pid {a.daemon.proc.pid} on " in twin.daemon.output()
    assert "already runs as node 'm1'" in twin.daemon.output()
    c.nodes["m1"] = a
    status = wait_for(lambda: len(a.status().get("nodes", [])) == 2 and a.status(), 30, "nodes")
    assert {(n["node"], n["alive"]) for n in status["nodes"]} == {("m1", True), ("m2", True)}
    assert status["warnings"] == []
    # jobs list and job history show the node of each run.
    listing = c.cli("m1", "jobs", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert {j["last_node"] for j in json.loads(listing.stdout)} <= {"m1", "m2"}
    assert "node" in c.cli("m1", "jobs", "list").stdout.splitlines()[0].split()
    history = json.loads(c.cli("m1", "job", "history", "j00", "--json").stdout)
    assert history
    assert {r["node"] for r in history} <= {"m1", "m2"}
    # The password (m2 reads it from database_password_file) is shown nowhere.
    secret = c.pg.password
    shown = [c.cli("m2", "config", "check"), c.cli("m2", "jobs", "list")]
    assert shown[0].returncode == 0, shown[0].stdout + shown[0].stderr
    assert [r for r in shown if secret in r.stdout + r.stderr] == []
    assert secret.encode() not in http(f"{b.base}/status")[1] + http(f"{b.base}/health")[1]
    # A definition changed on one node only (reloaded there): a warning on /status and in the
    # log, naming both nodes.
    changed = yaml.safe_load(b.daemon.config.read_text())
    changed["jobs"][0]["interval"] = "7s"
    b.daemon.config.write_text(yaml.safe_dump(changed, sort_keys=False))
    b.daemon.signal(signal.SIGHUP)
    warnings = wait_for(lambda: a.status()["warnings"], 30, "a definition warning")
    assert len(warnings) == 1
    assert warnings[0].startswith("job 'j00' has different definitions on the live nodes: m1 (")
    assert "; m2 (" in warnings[0]
    wait_for(lambda: warnings[0] in a.daemon.output(), 30, "the warning in m1's log")
    # A peer gone silent (killed) is a WARNING of `directord health` on the node that lives.
    b.daemon.signal(signal.SIGKILL)
    b.daemon.wait(30)
    wait_for(
        lambda: [n["alive"] for n in a.status()["nodes"] if n["node"] == "m2"] == [False],
        60,
        "m2 dead in m1's /status",
    )
    # m2's last run, if it was running, is interrupted once its lease runs out (until then
    # its job may be overdue: CRITICAL, rightly).
    wait_for(lambda: not [r for r in c.runs() if r["state"] == "running"], 60, "no run left")
    check = wait_for(
        lambda: (r := c.cli("m1", "health", "--url", a.base)).returncode == 1 and r,
        60,
        "health WARNING on m1",
    )
    assert check.stdout.startswith("WARNING - ")
    assert "peer silent: m2 (silent " in check.stdout
    a.daemon.signal(signal.SIGTERM)
    assert a.daemon.wait(30) == 0
    assert [d.config for d in c.started if secret in d.output()] == []
    runs = c.runs()
    assert len({(r["job"], r["scheduled_for"]) for r in runs}) == len(runs)
    assert [r for r in runs if r["state"] == "running"] == []


def test_chaos_kills_restarts_and_a_database_outage(
    pg_server: services.PostgresServer, cluster_factory: Callable[..., Cluster]
) -> None:
    jobs = noop_jobs(12)
    intervals = {j["name"]: float(j["interval"].rstrip("s")) for j in jobs}
    c = cluster_factory(pg_server.pg, jobs)
    names = ["n1", "n2", "n3"]
    for name in names:
        c.start(name)
    for name in names:
        healthy(c.nodes[name])
    rng = random.Random(13)
    began = time.time()
    kills = 0
    while time.time() - began < 45:
        time.sleep(5)
        victim = c.nodes[rng.choice(names)]
        victim.daemon.signal(signal.SIGKILL)
        victim.daemon.wait(30)
        kills += 1
        c.start(victim.name)
    for name in names:
        healthy(c.nodes[name])
    chaos_end = time.time()

    # The database goes away for 10 s: every daemon lives through it, /health says 503.
    outage_start = time.time()
    pg_server.stop()
    seen_503 = set()
    while time.time() - outage_start < 10:
        for name in names:
            node = c.nodes[name]
            assert node.daemon.proc.poll() is None, f"{name} exited during the outage"
            if node.health() == 503:
                seen_503.add(name)
        time.sleep(0.5)
    assert seen_503 == set(names)
    problems = json.loads(http(f"{c.nodes['n1'].base}/health")[1])["problems"]
    assert any("database unreachable since" in p for p in problems)
    assert all(pg_server.pg.password not in p for p in problems)
    # This node cannot reach the database: `directord health` is CRITICAL, saying so.
    check = c.cli("n1", "health", "--url", c.nodes["n1"].base)
    assert check.returncode == 2, check.stdout + check.stderr
    assert check.stdout.startswith("CRITICAL - ")
    assert "database unreachable since" in check.stdout
    assert pg_server.pg.password not in check.stdout
    pg_server.start()
    outage_end = time.time()
    for name in names:
        healthy(c.nodes[name], timeout=90)
    recovered = time.time()
    # After recovery every job runs again.
    wait_for(
        lambda: {r["job"] for r in c.runs() if r["started"] > recovered + 1} == set(intervals),
        60,
        "every job running after the outage",
    )
    for name in names:
        node = c.nodes[name]
        assert pid_alive(node.daemon.proc.pid)
        node.daemon.signal(signal.SIGTERM)
    for name in names:
        assert c.nodes[name].daemon.wait(30) == 0, c.nodes[name].daemon.output()[-3000:]
    stopped = time.time()
    # The outage was logged (once), the password never.
    assert [d.config for d in c.started if pg_server.pg.password in d.output()] == []

    runs = c.runs()
    by_state = sorted({(r["node"], r["state"]) for r in runs})
    print(f"chaos: {len(runs)} runs, {kills} kills; node/state kinds: {by_state}")
    # Exactly once: no (job, scheduled_for) twice; nothing left running.
    assert len({(r["job"], r["scheduled_for"]) for r in runs}) == len(runs)
    assert [r["id"] for r in runs if r["state"] == "running"] == []
    # One interval grid for the whole cluster: no job's scheduled runs closer than its interval
    # (a node counting from other anchors than the rest, or claiming a due time computed
    # before news of another node's run came, would run the job twice in one interval).
    close = []
    for job, interval in intervals.items():
        mine = [r for r in runs if r["job"] == job and r["trigger"] == "schedule"]
        slots = sorted(r["scheduled_for"] for r in mine)
        close += [
            (job, round(y - x, 3)) for x, y in itertools.pairwise(slots) if y - x < interval - 0.01
        ]
    assert close == [], f"scheduled closer than the interval (job, gap): {close}"
    # Every node ran some jobs.
    assert {r["node"] for r in runs if r["state"] == "succeeded"} == set(names)
    # Concurrency 1 across the cluster: on the database's clock, no run was claimed before the
    # one before it had ended.
    ordered = sorted(runs, key=lambda r: r["claimed"])
    overlaps = [
        (x["id"], y["id"]) for x, y in itertools.pairwise(ordered) if y["claimed"] < x["ended"]
    ]
    assert overlaps == []
    # No job idle longer than interval + lease + 3 s while the cluster was up.
    outage = (outage_start, recovered)
    late = []
    for job, interval in intervals.items():
        starts = [began, *sorted(r["started"] for r in runs if r["job"] == job), stopped]
        for x, y in itertools.pairwise(starts):
            if x < outage[1] and y > outage[0]:
                continue  # a gap that touches the outage
            if y - x > interval + LEASE + 3:
                late.append((job, round(x - began, 1), round(y - x, 1)))
    assert late == [], f"idle too long (job, at, for): {late}"
    assert kills >= 8
    assert outage_end - outage_start >= 10
    assert chaos_end - began >= 45
