"""Footprint: what a small installation and every CLI call pay before doing any work.

1. The real daemon (``directord jobs run --forever``) with 20 jobs (15 ``command`` jobs running
   ``true`` every 10-60 s, 5 housekeeping jobs every hour): RSS 5 s after start, and with
   ``--long`` also after 5 minutes (jobs have run by then). Director's PHP daemon: 34-35 MiB.
2. Wall time of ``directord --help`` and ``directord jobs list`` (against that config and its
   database), median of 10 runs each.
3. ``import directord.cli``: wall time (median of 10 fresh interpreters) and the module count.
4. ``directord config check`` on a config of 10,000 jobs (median of 3).
5. The floor under the daemon's RSS: fresh interpreters that only import, layer by layer, what
   the daemon is built on (Python, asyncio, the design card's libraries, the libraries the daemon
   uses for config validation, YAML, its CLI, metrics and process facts), then
   ``directord.daemon`` itself. No daemon of that stack can be smaller than the libraries it
   imports; the 20-job daemon's RSS minus the last layer is what directord holds at run time.

Targets (issue 14): RSS <= 40 MiB, --help <= 150 ms, jobs list <= 300 ms, config check of
10,000 jobs <= 2 s.

Every child runs with directord's bytecode compiled first and may write it (as installed: pip
and Debian compile .pyc files), whatever PYTHONDONTWRITEBYTECODE says here: otherwise each call
would compile every module from source again. Wall times on a shared machine include waiting for
a CPU: each timing also gives the child's CPU time (user + system), which the load does not add
to, and the JSON the load average.

    python -m bench.footprint [--long] [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TARGETS = {
    "rss_mib": 40.0,
    "help_ms": 150.0,
    "jobs_list_ms": 300.0,
    "config_check_10000_jobs_s": 2.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp: Path, jobs: list[dict[str, Any]], name: str = "config.yaml") -> Path:
    doc = {
        "database": "sqlite:///footprint.db",
        "node": "bench",
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "jobs": jobs,
    }
    path = tmp / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def twenty_jobs() -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = [
        {
            "name": f"cmd{i:02d}",
            "kind": "command",
            "interval": f"{10 + i * 3}s",
            "settings": {"command": ["true"]},
        }
        for i in range(15)
    ]
    jobs += [{"name": f"hk{i}", "kind": "housekeeping", "interval": "1h"} for i in range(5)]
    return jobs


def directord(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "directord", "--config", str(config), *args]


def timed(cmd: list[str], **kw: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=ENV, **kw)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_ms(cmd: list[str], runs: int, cpu: dict[str, float], key: str) -> float:
    """Median wall milliseconds of ``runs`` runs; the median CPU milliseconds go to ``cpu``."""
    walls, cpus = zip(*(timed(cmd, cwd=ROOT) for _ in range(runs)), strict=True)
    cpu[key] = round(statistics.median(cpus) * 1000, 1)
    return round(statistics.median(walls) * 1000, 1)


def daemon_rss(config: Path, long: bool) -> dict[str, Any]:
    proc = subprocess.Popen(
        directord(config, "jobs", "run", "--forever"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env=ENV,
    )
    try:
        p = psutil.Process(proc.pid)
        out: dict[str, Any] = {}
        time.sleep(5)
        if proc.poll() is not None:
            raise SystemExit(f"footprint: the daemon exited early ({proc.returncode})")
        out["rss_mib_5s"] = round(p.memory_info().rss / (1 << 20), 1)
        if long:
            time.sleep(295)
            out["rss_mib_5min"] = round(p.memory_info().rss / (1 << 20), 1)
        return out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def fresh_python(code: str) -> str:
    """What ``code`` prints in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT, env=ENV
    )
    return done.stdout


def import_cli(runs: int) -> dict[str, Any]:
    code = (
        "import sys, time; t = time.perf_counter(); import directord.cli; "
        "print(time.perf_counter() - t, len(sys.modules))"
    )
    times, modules = [], 0
    for _ in range(runs):
        seconds, count = fresh_python(code).split()
        times.append(float(seconds))
        modules = int(count)
    return {"import_ms": round(statistics.median(times) * 1000, 1), "modules": modules}


# Each layer imports what the one before did and more (RSS is cumulative). aiomonitor is left
# out: the daemon imports it only when ``monitor:`` is on.
FLOOR_LAYERS = (
    ("python", ""),
    ("asyncio", "import asyncio"),
    ("design_card", "import asyncio, anyio, aiosqlite, aiohttp.web, loguru"),
    (
        "design_card_and_libraries",
        "import asyncio, anyio, aiosqlite, aiohttp.web, loguru, pydantic, yaml, click, "
        "prometheus_client, psutil",
    ),
    ("directord_daemon", "import directord.daemon"),
)


def floor(runs: int) -> dict[str, float]:
    """RSS (MiB, median of ``runs`` fresh interpreters) after each layer's imports."""
    out = {}
    for name, imports in FLOOR_LAYERS:
        code = f"{imports}\nprint(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])"
        kib = [int(fresh_python(code).split()[-1]) for _ in range(runs)]
        out[name] = round(statistics.median(kib) / 1024, 1)
    return out


def config_check(tmp: Path, jobs: int, runs: int, cpu: dict[str, float]) -> float:
    many = [{"name": f"job{i:05d}", "kind": "housekeeping", "interval": "1h"} for i in range(jobs)]
    path = write_config(tmp, many, "big.yaml")
    walls, cpus = zip(
        *(timed(directord(path, "config", "check")) for _ in range(runs)), strict=True
    )
    cpu["config_check_10000_jobs_s"] = round(statistics.median(cpus), 2)
    return round(statistics.median(walls), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--long", action="store_true", help="Also sample RSS after 5 minutes.")
    parser.add_argument("--runs", type=int, default=10, help="Runs per CLI timing.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="directord-footprint-"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "directord")], check=True)
    config = write_config(tmp, twenty_jobs())
    cpu: dict[str, float] = {}
    # A database with runs in it, for jobs list (and the daemon starts on an existing file).
    subprocess.run(
        directord(config, "jobs", "run"), check=False, capture_output=True, cwd=ROOT, env=ENV
    )
    doc: dict[str, Any] = {
        "benchmark": "footprint",
        "python": sys.version.split()[0],
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "daemon_20_jobs": daemon_rss(config, args.long),
        "help_ms": median_ms(
            [sys.executable, "-m", "directord", "--help"], args.runs, cpu, "help_ms"
        ),
        "jobs_list_ms": median_ms(
            directord(config, "jobs", "list"), args.runs, cpu, "jobs_list_ms"
        ),
        "import_directord_cli": import_cli(args.runs),
        "config_check_10000_jobs_s": config_check(tmp, 10_000, 3, cpu),
        "import_floor_rss_mib": floor(3),
        "cpu": cpu,
        "targets": TARGETS,
    }
    rss = doc["daemon_20_jobs"]
    worst_rss = max(rss.values())
    doc["meets_targets"] = (
        worst_rss <= TARGETS["rss_mib"]
        and doc["help_ms"] <= TARGETS["help_ms"]
        and doc["jobs_list_ms"] <= TARGETS["jobs_list_ms"]
        and doc["config_check_10000_jobs_s"] <= TARGETS["config_check_10000_jobs_s"]
    )
    print(json.dumps(doc, indent=2))
    long_rss = f", {rss['rss_mib_5min']} MiB at 5 min" if "rss_mib_5min" in rss else ""
    imp = doc["import_directord_cli"]
    fl = doc["import_floor_rss_mib"]
    print(
        f"footprint: daemon with 20 jobs {rss['rss_mib_5s']} MiB at 5 s{long_rss}; "
        f"--help {doc['help_ms']} ms ({cpu['help_ms']} CPU), jobs list {doc['jobs_list_ms']} ms "
        f"({cpu['jobs_list_ms']} CPU, median of {args.runs}); "
        f"import directord.cli {imp['import_ms']} ms, {imp['modules']} modules; "
        f"config check of 10,000 jobs {doc['config_check_10000_jobs_s']} s "
        f"({cpu['config_check_10000_jobs_s']} CPU); import floor: design card "
        f"{fl['design_card']} MiB, with its libraries {fl['design_card_and_libraries']} MiB, "
        f"directord.daemon {fl['directord_daemon']} MiB; load {doc['load_average'][0]} "
        f"({'meets' if doc['meets_targets'] else 'MISSES'} targets)"
    )


if __name__ == "__main__":
    main()
