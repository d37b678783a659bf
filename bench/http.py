"""HTTP under load: req/s and p99 for /health and /status of a daemon with 1,000 jobs while jobs
are running. The daemon is pinned to one core, the load generator to the other.

Load: wrk (Debian package) when installed, else an aiohttp client. Loopback only.
Targets (issue 4): /health >= 3,000 req/s on one core, p99 < 20 ms.

    python -m bench.http [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

PLUGINS = Path(__file__).resolve().parent.parent / "tests" / "plugins"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    env = dict(os.environ, PYTHONPATH=str(PLUGINS))
    cmd = [sys.executable, "-m", "directord", "--config", str(path), "jobs", "run", "--forever"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
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


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * UNITS[match.group(2)]


def with_wrk(url: str, seconds: float, connections: int) -> dict[str, Any]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "tool": "wrk",
        "req_per_s": round(rps),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def with_aiohttp(url: str, seconds: float, connections: int) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    bad = 0

    async def worker(session: aiohttp.ClientSession, until: float) -> None:
        nonlocal bad
        while time.monotonic() < until:
            started = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                bad += response.status != 200
            latencies.append(time.perf_counter() - started)

    async def main() -> float:
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            began = time.monotonic()
            until = began + seconds
            await asyncio.gather(*(worker(session, until) for _ in range(connections)))
            return time.monotonic() - began

    elapsed = asyncio.run(main())
    q = statistics.quantiles(latencies, n=100)
    return {
        "tool": "aiohttp client",
        "req_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "non_2xx": bad,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    load = with_wrk if shutil.which("wrk") else with_aiohttp
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="directord-http-"))
    proc = start_daemon(tmp, port)
    try:
        results = {
            path: load(f"http://127.0.0.1:{port}{path}", args.seconds, args.connections)
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
