"""The web frontend under load: req/s and p99 of the /jobs page and GET /api/jobs of a daemon with
1,000 jobs that have history, and the event loop's lag while they are served during job runs.

The daemon is the real one (``daemon.serve_forever``) in a child process that also runs a loop
lag probe (a 10 ms sleep, its overshoot recorded) and writes the probe's figures to a file when
it stops. Load: wrk when installed, else an aiohttp client (bench/http.py). Loopback only.
Targets (issue 11): page p99 < 50 ms, loop lag p99 < 10 ms.

    python -m bench.web [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
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

from bench import http as bench_http

PASSWORD = "bench-password"


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

    lags: list[float] = []

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - t - 0.01)

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


def load(url: str, seconds: float, connections: int, header: str) -> dict[str, Any]:
    if shutil.which("wrk"):
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-H", header, url]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", "1", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p99 = bench_http._ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
        p50 = bench_http._ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return {
            "tool": "wrk",
            "req_per_s": round(rps),
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "non_2xx": int(errors.group(1)) if errors else 0,
        }
    return _with_aiohttp(url, seconds, connections, header)


def _with_aiohttp(url: str, seconds: float, connections: int, header: str) -> dict[str, Any]:
    import aiohttp

    name, _, value = header.partition(": ")
    latencies: list[float] = []
    bad = 0

    async def worker(session: aiohttp.ClientSession, until: float) -> None:
        nonlocal bad
        while time.monotonic() < until:
            started = time.perf_counter()
            async with session.get(url, headers={name: value}) as response:
                await response.read()
                bad += response.status != 200
            latencies.append(time.perf_counter() - started)

    async def main() -> float:
        async with aiohttp.ClientSession() as session:
            began = time.monotonic()
            await asyncio.gather(*(worker(session, began + seconds) for _ in range(connections)))
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
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=15, help="seconds of runs before load")
    parser.add_argument("--serve", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]))
        return
    tmp = Path(tempfile.mkdtemp(prefix="directord-web-"))
    port = bench_http.free_port()
    config = write_config(tmp, port)
    lag_file = tmp / "lags.json"
    cmd = [sys.executable, "-m", "bench.web", "--serve", str(config), str(lag_file)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(bench_http.PLUGINS), str(Path.cwd())]))
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp
    )
    base = f"http://127.0.0.1:{port}"
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
        results = {
            "/jobs": load(f"{base}/jobs", args.seconds, args.connections, f"Cookie: {cookie}"),
            "GET /api/jobs": load(
                f"{base}/api/jobs",
                args.seconds,
                args.connections,
                "Authorization: Bearer bench-token",
            ),
        }
        with urllib.request.urlopen(f"{base}/status", timeout=10) as r:
            status = json.loads(r.read())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    lags = json.loads(lag_file.read_text()) if lag_file.exists() else []
    q = statistics.quantiles(lags, n=100) if len(lags) > 100 else [float("nan")] * 99
    lag = {"samples": len(lags), "p50_ms": round(q[49] * 1000, 2), "p99_ms": round(q[98] * 1000, 2)}
    page = results["/jobs"]
    doc = {
        "benchmark": "web",
        "jobs": len(status["jobs"]),
        "warmup_s": args.warmup,
        "connections": args.connections,
        "seconds": args.seconds,
        "results": results,
        "loop_lag": lag,
        "targets": {"page_p99_ms": 50, "loop_lag_p99_ms": 10},
        "meets_targets": page["p99_ms"] < 50 and lag["p99_ms"] < 10,
    }
    print(json.dumps(doc, indent=2))
    api = results["GET /api/jobs"]
    print(
        f"web ({page['tool']}, {doc['jobs']} jobs): /jobs {page['req_per_s']:,} req/s p99 "
        f"{page['p99_ms']} ms; /api/jobs {api['req_per_s']:,} req/s p99 {api['p99_ms']} ms; "
        f"loop lag p99 {lag['p99_ms']} ms ({'meets' if doc['meets_targets'] else 'MISSES'} targets)"
    )


if __name__ == "__main__":
    main()
