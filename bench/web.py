"""The web frontend under load: req/s and p99 of the /jobs page and GET /api/jobs of a daemon with
1,000 jobs that have history, and the event loop's lag while they are served during job runs.

The daemon is the real one (``daemon.serve_forever``) in a child process pinned to one core that
also runs a loop lag probe: a 10 ms sleep, again and again, its overshoot recorded with the time
it ended, written to a file when the daemon stops. The lag is reported for the seconds each load
ran (and for as long a quiet stretch before, jobs running but no requests: what the jobs alone
cost the loop). Load: wrk in a process of its own on the other core when installed, else an
aiohttp client (bench/load.py). Loopback only. 8 connections asking again at once is more than a
room of people with the jobs page open (it polls once a second).
Targets (issue 11): page p99 < 50 ms, loop lag p99 < 10 ms.

    python -m bench.web [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench import load as bench_load

PASSWORD = "bench-password"
PROBE = 0.01


def write_config(tmp: Path, port: int) -> Path:
    from directord.web import auth

    jobs: list[dict[str, Any]] = [
        {"name": f"job{i:04d}", "kind": "noop", "interval": 2 + i % 10} for i in range(996)
    ]
    jobs += [
        {"name": f"busy{i}", "kind": "sleep", "interval": "1s", "settings": {"seconds": 2}}
        for i in range(4)
    ]
    (tmp / "token").write_text("bench-token\n")
    config = {
        "database": "sqlite:///web.db",
        "node": "bench",
        "http": {"listen": f"127.0.0.1:{port}", "token_file": "token"},
        "runner": {"concurrency": 5},
        "web": {
            "users": [
                {"name": "bench", "role": "operator", "password_hash": auth.hash_password(PASSWORD)}
            ]
        },
        "jobs": jobs,
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def serve(config: Path, out: Path) -> None:
    """The child: the daemon plus a lag probe on its loop."""
    from directord import config as config_mod
    from directord import daemon
    from directord.jobs import registry

    lags: list[tuple[float, float]] = []

    async def probe() -> None:
        # loop.time() is CLOCK_MONOTONIC, as time.monotonic() in the parent: the windows of
        # the loads pick their samples by it.
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(PROBE)
            ended = loop.time()
            lags.append((ended, ended - t - PROBE))

    async def main(supervisor: Any) -> int:
        task = asyncio.create_task(probe())
        try:
            return await daemon.serve_forever(supervisor, config)
        finally:
            task.cancel()
            out.write_text(json.dumps(lags))

    settings = config_mod.load(config, kinds=registry.discover())
    daemon.run(main, settings)


def login_cookie(base: str) -> str:
    data = urllib.parse.urlencode({"name": "bench", "password": PASSWORD}).encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(urllib.request.Request(f"{base}/login", data=data), timeout=10)
    except urllib.error.HTTPError as exc:
        cookie = exc.headers.get("Set-Cookie", "")
        match = re.match(r"(directord_session=[^;]+)", cookie)
        if match:
            return match.group(1)
    raise RuntimeError("login failed")


def schedstat(pid: int) -> tuple[float, float]:
    """Seconds the daemon's loop thread ran on a CPU and waited for one (Linux; else zeros):
    how much of the lag was the machine's other processes."""
    try:
        ran, waited, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(ran) / 1e9, int(waited) / 1e9


def lag_of(lags: list[tuple[float, float]], windows: list[tuple[float, float]]) -> dict[str, Any]:
    """The probe's overshoot in ``windows`` (monotonic seconds)."""
    picked = [lag for at, lag in lags if any(lo <= at <= hi for lo, hi in windows)]
    if len(picked) < 100:
        return {"samples": len(picked), "p50_ms": None, "p99_ms": None, "max_ms": None}
    q = statistics.quantiles(picked, n=100)
    return {
        "samples": len(picked),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(picked) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=15, help="seconds of runs before load")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="daemon and wrk wherever the kernel puts them (on a shared machine a pinned "
        "daemon waits for its one core)",
    )
    parser.add_argument("--serve", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]))
        return
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="directord-web-"))
    port = bench_load.free_port()
    config = write_config(tmp, port)
    lag_file = tmp / "lags.json"
    cmd = bench_load.pinned(
        [sys.executable, "-m", "bench.web", "--serve", str(config), str(lag_file)],
        None if args.no_pin else 0,
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(bench_load.PLUGINS), str(Path.cwd())]))
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp
    )
    base = f"http://127.0.0.1:{port}"
    windows: dict[str, tuple[float, float]] = {}
    cpu: dict[str, dict[str, float]] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        time.sleep(args.warmup)  # every job runs a few times: history for the pages
        cookie = login_cookie(base)
        results = {}
        for name, path, header in (
            ("quiet", None, ""),
            ("/jobs", "/jobs", f"Cookie: {cookie}"),
            ("GET /api/jobs", "/api/jobs", "Authorization: Bearer bench-token"),
        ):
            began, (ran, waited) = time.monotonic(), schedstat(proc.pid)
            if path is None:
                time.sleep(args.seconds)
            else:
                results[name] = bench_load.run(
                    base + path,
                    args.seconds,
                    args.connections,
                    (header,),
                    None if args.no_pin else 1,
                )
            ended, (ran_after, waited_after) = time.monotonic(), schedstat(proc.pid)
            windows[name] = (began, ended)
            cpu[name] = {
                "busy": round((ran_after - ran) / (ended - began), 3),
                "waiting_for_a_cpu": round((waited_after - waited) / (ended - began), 3),
            }
            if name in results and results[name]["req_per_s"]:
                # Less the quiet stretch's (the jobs'): what one answer costs the loop, on any
                # machine (the req/s and p99 depend on how much of a core it was given).
                spent = cpu[name]["busy"] - cpu["quiet"]["busy"]
                results[name]["loop_cpu_ms_per_request"] = round(
                    1000 * spent / results[name]["req_per_s"], 3
                )
        with urllib.request.urlopen(f"{base}/status", timeout=10) as r:
            status = json.loads(r.read())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    lags = [tuple(x) for x in json.loads(lag_file.read_text())] if lag_file.exists() else []
    loads = [w for n, w in windows.items() if n != "quiet"]
    lag = {
        "under_load": lag_of(lags, loads),
        **{f"during {n}": lag_of(lags, [w]) for n, w in windows.items()},
    }
    page, api = results["/jobs"], results["GET /api/jobs"]
    lag_p99 = lag["under_load"]["p99_ms"]
    doc = {
        "benchmark": "web",
        "jobs": len(status["jobs"]),
        "warmup_s": args.warmup,
        "connections": args.connections,
        "pinned": "daemon core 0, wrk core 1" if not args.no_pin else "no",
        "seconds": args.seconds,
        "machine": {
            "cores": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "results": results,
        "loop_lag": lag,
        # Of each second: how long the daemon's loop ran, and how long it was ready to run but
        # another process had the core.
        "daemon_loop_thread": cpu,
        "targets": {"page_p99_ms": 50, "loop_lag_p99_ms": 10},
        "meets_targets": page["p99_ms"] < 50
        and lag_p99 is not None
        and lag_p99 < 10
        and page["non_2xx"] == api["non_2xx"] == 0,
    }
    print(json.dumps(doc, indent=2))
    print(
        f"web ({page['tool']}, {doc['jobs']} jobs, {args.connections} connections, load "
        f"{load_before[0]:.1f}): /jobs {page['req_per_s']:,} req/s p99 {page['p99_ms']} ms "
        f"({page.get('loop_cpu_ms_per_request')} ms loop CPU each); /api/jobs "
        f"{api['req_per_s']:,} req/s p99 {api['p99_ms']} ms "
        f"({api.get('loop_cpu_ms_per_request')} ms); loop lag p99 {lag_p99} ms "
        f"under load, {lag['during quiet']['p99_ms']} ms quiet "
        f"({'meets' if doc['meets_targets'] else 'MISSES'} targets)"
    )


if __name__ == "__main__":
    main()
