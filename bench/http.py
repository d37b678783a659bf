"""HTTP under load: req/s and p99 for /health and /status of a daemon with 1,000 jobs while jobs
are running. The daemon is pinned to one core, the load generator to the other.

Load: wrk (Debian package) when installed, else an aiohttp client. Loopback only.
Targets (issue 4): /health >= 3,000 req/s on one core, p99 < 20 ms.

    python -m bench.http [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench import load as bench_load


def start_daemon(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    jobs: list[dict[str, Any]] = [
        {"name": f"job{i:04d}", "kind": "noop", "interval": 10 + i % 50} for i in range(996)
    ]
    # Four jobs that are always running (they sleep on the loop, like jobs waiting on I/O).
    jobs += [
        {"name": f"busy{i}", "kind": "sleep", "interval": "1s", "settings": {"seconds": 30}}
        for i in range(4)
    ]
    config = {
        "database": "sqlite:///http.db",
        "http": {"listen": f"127.0.0.1:{port}"},
        "runner": {"concurrency": 5},
        "jobs": jobs,
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=str(bench_load.PLUGINS))
    cmd = [sys.executable, "-m", "directord", "--config", str(path), "jobs", "run", "--forever"]
    cmd = bench_load.pinned(cmd, 0)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
                if len(json.loads(r.read())["running"]) >= 4:
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the daemon did not come up")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    port = bench_load.free_port()
    tmp = Path(tempfile.mkdtemp(prefix="directord-http-"))
    proc = start_daemon(tmp, port)
    try:
        results = {
            path: bench_load.run(f"http://127.0.0.1:{port}{path}", args.seconds, args.connections)
            for path in ("/health", "/status")
        }
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
            status = json.loads(r.read())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
    health = results["/health"]
    doc = {
        "benchmark": "http",
        "jobs": len(status["jobs"]),
        "running_during_load": len(status["running"]),
        "daemon_core": "pinned to core 0" if shutil.which("taskset") else "unpinned",
        "connections": args.connections,
        "seconds": args.seconds,
        "results": results,
        "targets": {"/health": {"req_per_s": 3000, "p99_ms": 20}},
        "meets_targets": health["req_per_s"] >= 3000
        and health["p99_ms"] < 20
        and health["non_2xx"] == 0,
    }
    print(json.dumps(doc, indent=2))
    st = results["/status"]
    print(
        f"http ({health['tool']}, {doc['jobs']} jobs, {doc['running_during_load']} running): "
        f"/health {health['req_per_s']:,} req/s p99 {health['p99_ms']} ms; "
        f"/status {st['req_per_s']:,} req/s p99 {st['p99_ms']} ms "
        f"({'meets' if doc['meets_targets'] else 'MISSES'} targets)"
    )


if __name__ == "__main__":
    main()
