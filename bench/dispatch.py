"""Dispatch under load: 10,000 no-op jobs, intervals spread over 1-60 s, for 60 s of running.

Start lateness (p50/p99/max), CPU seconds per 1,000 runs and RSS, for directord (every run
persisted in SQLite, serial by default) and for APScheduler 3.x (AsyncIOScheduler, memory job
store, nothing persisted) on the same workload in the same run, each in its own process.
Both get the same first run times (uniformly spread within each job's interval).

    python -m bench.dispatch [--jobs 10000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil


def workload(jobs: int, start: float) -> list[tuple[str, int, float]]:
    """(name, interval, first run) for each job; the same for both engines."""
    rng = random.Random(7)
    out = []
    for i in range(jobs):
        interval = 1 + i % 60
        out.append((f"job{i:05d}", interval, start + 2 + rng.random() * interval))
    return out


def quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    values = sorted(values)
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(values[-1] * 1000, 2),
    }


def finish(engine: str, lateness: list[float], cpu: float, seconds: float) -> dict[str, Any]:
    runs = len(lateness)
    return {
        "engine": engine,
        "runs": runs,
        "runs_per_s": round(runs / seconds, 1),
        "lateness": quantiles(lateness),
        "cpu_s_per_1000_runs": round(cpu / runs * 1000, 3) if runs else None,
        "rss_mib": round(psutil.Process().memory_info().rss / (1 << 20), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


# -- directord -----------------------------------------------------------------------------------


def run_directord(jobs: int, seconds: float, concurrency: int = 1) -> dict[str, Any]:
    from directord import config as config_mod
    from directord import scheduler, store
    from directord.jobs.base import Job, JobContext, JobResult
    from directord.jobs.registry import Kinds
    from directord.supervisor import Supervisor

    class Noop(Job):
        kind = "noop"
        description = "no-op"

        async def run(self, ctx: JobContext) -> JobResult:
            return JobResult.ok("ok")

    from directord import log

    log.setup(False)
    tmp = Path(tempfile.mkdtemp(prefix="directord-bench-"))
    start = time.time()
    plan = workload(jobs, start)
    settings = config_mod.parse(
        {
            "database": "sqlite:///bench.db",
            "node": "bench",
            "runner": {"concurrency": concurrency},
            "jobs": [{"name": n, "kind": "noop", "interval": i} for n, i, _ in plan],
        },
        base_dir=tmp,
    )

    async def main() -> tuple[float, float]:
        db = store.open_store(settings.database_url())
        await db.open()
        sup = Supervisor(settings, db, Kinds({"noop": Noop}, []))
        await sup.load_state()
        # Same first run times as APScheduler gets (a bench-only use of the supervisor's heap).
        for name, _, first in plan:
            sup.jobs.timings[name] = scheduler.Timing(known_since=first)
            sup.jobs.queue.reschedule(name, time.time())
        cpu0, t0 = time.process_time(), time.time()
        task = asyncio.create_task(sup.serve())
        await asyncio.sleep(seconds + 2)
        sup.shutdown("bench over")
        await task
        cpu = time.process_time() - cpu0
        await sup.close()
        await db.close()
        return cpu, t0

    cpu, t0 = asyncio.run(main())
    conn = sqlite3.connect(tmp / "bench.db")
    rows = conn.execute(
        "SELECT started - scheduled_for FROM runs WHERE state = 'succeeded' AND started >= ?",
        (t0,),
    ).fetchall()
    persisted = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    conn.close()
    mode = "serial" if concurrency == 1 else f"concurrency {concurrency}"
    result = finish(f"directord (SQLite, {mode})", [r[0] for r in rows], cpu, seconds + 2)
    result["persisted_rows"] = persisted
    return result


# -- APScheduler 3 -------------------------------------------------------------------------------


def run_apscheduler(jobs: int, seconds: float) -> dict[str, Any]:
    from datetime import UTC, datetime

    from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    started: dict[str, float] = {}
    lateness: list[float] = []

    async def noop(job_id: str) -> None:
        started[job_id] = time.time()

    def executed(event: JobExecutionEvent) -> None:
        begun = started.get(event.job_id)
        if begun is not None:
            lateness.append(begun - event.scheduled_run_time.timestamp())

    async def main() -> float:
        sched = AsyncIOScheduler(timezone=UTC)
        start = time.time()
        for name, interval, first in workload(jobs, start):
            sched.add_job(
                noop,
                "interval",
                seconds=interval,
                id=name,
                args=[name],
                next_run_time=datetime.fromtimestamp(first, UTC),
                misfire_grace_time=None,
                coalesce=False,
                max_instances=1,
            )
        sched.add_listener(executed, EVENT_JOB_EXECUTED)
        cpu0 = time.process_time()
        sched.start()
        await asyncio.sleep(seconds + 2)
        sched.shutdown(wait=False)
        return time.process_time() - cpu0

    cpu = asyncio.run(main())
    return finish("APScheduler 3 (memory store, nothing persisted)", lateness, cpu, seconds + 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--engine", choices=["directord", "apscheduler"])
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    if args.engine == "directord":
        print(json.dumps(run_directord(args.jobs, args.seconds, args.concurrency)))
        return
    if args.engine == "apscheduler":
        print(json.dumps(run_apscheduler(args.jobs, args.seconds)))
        return
    results = {}
    variants = (
        ("directord", "directord", 1),
        ("directord_concurrency_4", "directord", 4),
        ("apscheduler", "apscheduler", 1),
    )
    for key, engine, concurrency in variants:
        cmd = [
            sys.executable,
            "-m",
            "bench.dispatch",
            "--engine",
            engine,
            "--jobs",
            str(args.jobs),
            "--seconds",
            str(args.seconds),
            "--concurrency",
            str(concurrency),
        ]
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=True, env=os.environ, cwd=root
        )
        results[key] = json.loads(out.stdout.strip().splitlines()[-1])
    ours, theirs = results["directord"], results["apscheduler"]
    parallel = results["directord_concurrency_4"]
    doc = {
        "benchmark": "dispatch",
        "jobs": args.jobs,
        "seconds": args.seconds,
        "intervals_s": "1..60",
        "directord": ours,
        "directord_concurrency_4": parallel,
        "apscheduler": theirs,
        "target": "directord p99 lateness below APScheduler's, every run persisted",
        "meets_target": (ours["lateness"]["p99_ms"] or 1e9) < (theirs["lateness"]["p99_ms"] or 0)
        and ours["persisted_rows"] >= ours["runs"],
        "meets_target_with_concurrency_4": (parallel["lateness"]["p99_ms"] or 1e9)
        < (theirs["lateness"]["p99_ms"] or 0),
    }
    print(json.dumps(doc, indent=2))
    print(
        f"dispatch: {args.jobs} jobs, {args.seconds:g}s: directord {ours['runs']} runs "
        f"p50/p99/max {ours['lateness']['p50_ms']}/{ours['lateness']['p99_ms']}/"
        f"{ours['lateness']['max_ms']} ms, {ours['cpu_s_per_1000_runs']} CPU s/1000 runs, "
        f"RSS {ours['rss_mib']} MiB | APScheduler {theirs['runs']} runs "
        f"p50/p99/max {theirs['lateness']['p50_ms']}/{theirs['lateness']['p99_ms']}/"
        f"{theirs['lateness']['max_ms']} ms, {theirs['cpu_s_per_1000_runs']} CPU s/1000 runs, "
        f"RSS {theirs['rss_mib']} MiB ({'meets' if doc['meets_target'] else 'MISSES'} target); "
        f"directord concurrency 4: p99 {parallel['lateness']['p99_ms']} ms"
    )


if __name__ == "__main__":
    main()
