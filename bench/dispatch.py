"""Dispatch under load: 10,000 no-op jobs, intervals spread over 1-60 s, for 60 s of running.

Start lateness (p50/p99/max), CPU seconds per 1,000 runs and RSS, for directord (every run
persisted in SQLite, serial by default) and for APScheduler 3.x (AsyncIOScheduler, memory job
store, nothing persisted) on the same workload in the same run, each in its own process.
Both get the same first run times (uniformly spread within each job's interval).

Then saturation: more work due than an engine can start (``--saturation-jobs`` jobs every
second, all due at once), each engine pinned to one CPU core, for ``--saturation-seconds``:
sustained runs/s and CPU per 1,000 runs, for the no-op kind and for ``command`` (``true`` as a
child process; APScheduler's job awaits the same child).

    python -m bench.dispatch [--jobs 10000] [--seconds 60] [--saturation-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
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


def saturated(jobs: int, start: float) -> list[tuple[str, int, float]]:
    """Every job every second, all due at once: a backlog that never empties."""
    return [(f"job{i:05d}", 1, start) for i in range(jobs)]


def pin_to_one_core() -> int | None:
    """Run this process on one CPU (the one it runs on now): 'runs/s on one core'."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    return cpu


def run_directord(
    jobs: int, seconds: float, concurrency: int = 1, kind: str = "noop", saturate: bool = False
) -> dict[str, Any]:
    from directord import config as config_mod
    from directord import scheduler, store
    from directord.jobs import registry
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
    plan = (saturated if saturate else workload)(jobs, time.time())
    extra: dict[str, Any] = {"settings": {"command": ["true"]}} if kind == "command" else {}
    settings = config_mod.parse(
        {
            "database": "sqlite:///bench.db",
            "node": "bench",
            "runner": {"concurrency": concurrency},
            "jobs": [{"name": n, "kind": kind, "interval": i, **extra} for n, i, _ in plan],
        },
        base_dir=tmp,
    )
    kinds = Kinds({"noop": Noop}, []) if kind == "noop" else registry.discover()

    firsts: dict[str, float] = {}

    async def main() -> tuple[float, float]:
        db = store.open_store(settings.database_url())
        await db.open()
        sup = Supervisor(settings, db, kinds)
        await sup.load_state()
        # Same first run times as APScheduler gets, counted from now, after the set-up (which
        # took longer than the plan's 2 s margin: first runs late before the loop ran at all).
        # A bench-only use of the supervisor's heap.
        for name, _, first in (saturated if saturate else workload)(jobs, time.time()):
            firsts[name] = first
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
    rss = round(psutil.Process().memory_info().rss / (1 << 20), 1)  # before the rows are read
    conn = sqlite3.connect(tmp / "bench.db")
    # A job's first run is scheduled for when it started (its grid counts from there): its
    # lateness counts from its first run time in the plan, as APScheduler's does.
    first_ids = {i for (i,) in conn.execute("SELECT min(id) FROM runs GROUP BY job")}
    rows = conn.execute(
        "SELECT id, job, started, scheduled_for FROM runs WHERE state = 'succeeded'"
        " AND started >= ?",
        (t0,),
    ).fetchall()
    late = [s - (firsts[job] if i in first_ids else due) for i, job, s, due in rows]
    persisted = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    conn.close()
    mode = "serial" if concurrency == 1 else f"concurrency {concurrency}"
    result = finish(f"directord (SQLite, {mode}, {kind})", late, cpu, seconds + 2)
    result["persisted_rows"] = persisted
    result["rss_mib"] = rss
    return result


# -- APScheduler 3 -------------------------------------------------------------------------------


def run_apscheduler(
    jobs: int, seconds: float, kind: str = "noop", saturate: bool = False
) -> dict[str, Any]:
    from datetime import UTC, datetime

    from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    started: dict[str, float] = {}
    lateness: list[float] = []

    async def noop(job_id: str) -> None:
        started[job_id] = time.time()

    async def command(job_id: str) -> None:
        started[job_id] = time.time()
        proc = await asyncio.create_subprocess_exec(
            "true",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await proc.communicate()

    def executed(event: JobExecutionEvent) -> None:
        begun = started.get(event.job_id)
        if begun is not None:
            lateness.append(begun - event.scheduled_run_time.timestamp())

    async def main() -> float:
        sched = AsyncIOScheduler(timezone=UTC)
        start = time.time()
        for name, interval, first in (saturated if saturate else workload)(jobs, start):
            sched.add_job(
                noop if kind == "noop" else command,
                "interval",
                seconds=interval,
                id=name,
                args=[name],
                next_run_time=datetime.fromtimestamp(first, UTC),
                misfire_grace_time=None,
                coalesce=saturate,  # saturated: one run for the missed ones, as directord
                max_instances=1,
            )
        sched.add_listener(executed, EVENT_JOB_EXECUTED)
        cpu0 = time.process_time()
        sched.start()
        await asyncio.sleep(seconds + 2)
        sched.shutdown(wait=False)
        return time.process_time() - cpu0

    if saturate:
        # Saturated, it warns of every run skipped while the job's instance still runs.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
    # Not asyncio.run: its teardown can wait forever for a child of a job cut off by the
    # scheduler's shutdown (seen with the command kind); the measurement is over by then.
    cpu = asyncio.new_event_loop().run_until_complete(main())
    name = f"APScheduler 3 (memory store, nothing persisted, {kind})"
    return finish(name, lateness, cpu, seconds + 2)


def child(
    args: argparse.Namespace, engine: str, concurrency: int, saturate: bool, kind: str
) -> dict[str, Any]:
    """One engine's measurement in a process of its own (its result: the last line)."""
    jobs = args.saturation_jobs if saturate else args.jobs
    if saturate and kind == "command":
        jobs = args.saturation_jobs // 10  # as many children at once as the machine bears
    seconds = args.saturation_seconds if saturate else args.seconds
    cmd = [sys.executable, "-m", "bench.dispatch", "--engine", engine, "--jobs", str(jobs)]
    cmd += ["--seconds", str(seconds), "--concurrency", str(concurrency), "--kind", kind]
    cmd += ["--saturate"] if saturate else []
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
        cwd=root,
        timeout=seconds + 300,  # a child that hangs fails the bench instead of holding it
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--saturation-jobs", type=int, default=10_000)
    parser.add_argument("--saturation-seconds", type=float, default=20)
    parser.add_argument("--engine", choices=["directord", "apscheduler"])
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--kind", choices=["noop", "command"], default="noop")
    parser.add_argument("--saturate", action="store_true")
    args = parser.parse_args()
    if args.engine is not None:
        cpu = pin_to_one_core() if args.saturate else None
        if args.engine == "directord":
            result = run_directord(
                args.jobs, args.seconds, args.concurrency, args.kind, args.saturate
            )
        else:
            result = run_apscheduler(args.jobs, args.seconds, args.kind, args.saturate)
        if args.saturate:
            result.update(jobs=args.jobs, pinned_cpu=cpu)
        print(json.dumps(result), flush=True)
        os._exit(0)  # (nothing left to wait for: see run_apscheduler)
    load_before = os.getloadavg()
    results = {}
    variants = (
        ("directord", "directord", 1, False, "noop"),
        ("directord_concurrency_4", "directord", 4, False, "noop"),
        ("apscheduler", "apscheduler", 1, False, "noop"),
        ("saturated_directord_noop", "directord", 1, True, "noop"),
        ("saturated_apscheduler_noop", "apscheduler", 1, True, "noop"),
        ("saturated_directord_command", "directord", 1, True, "command"),
        ("saturated_apscheduler_command", "apscheduler", 1, True, "command"),
    )
    for key, engine, concurrency, saturate, kind in variants:
        results[key] = child(args, engine, concurrency, saturate, kind)
    ours, theirs = results["directord"], results["apscheduler"]
    parallel = results["directord_concurrency_4"]
    sat = {
        k: results[f"saturated_{k}"]
        for k in ("directord_noop", "apscheduler_noop", "directord_command", "apscheduler_command")
    }
    cpu_ok = (ours["cpu_s_per_1000_runs"] or 1e9) <= (theirs["cpu_s_per_1000_runs"] or 0)
    p99_ok = (ours["lateness"]["p99_ms"] or 1e9) <= (theirs["lateness"]["p99_ms"] or 0)
    persisted = ours["persisted_rows"] >= ours["runs"]
    doc = {
        "benchmark": "dispatch",
        "jobs": args.jobs,
        "seconds": args.seconds,
        "intervals_s": "1..60",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "directord": ours,
        "directord_concurrency_4": parallel,
        "apscheduler": theirs,
        "saturation": {"seconds": args.saturation_seconds, **sat},
        "target": "directord CPU per 1,000 runs and p99 lateness <= APScheduler's, every run "
        "persisted; saturated no-op >= 3,000 runs/s on one core",
        "meets_cpu_target": cpu_ok,
        "meets_p99_target": p99_ok,
        "every_run_persisted": persisted,
        "meets_saturation_target": sat["directord_noop"]["runs_per_s"] >= 3000,
        "meets_target": cpu_ok and p99_ok and persisted,
        "meets_target_with_concurrency_4": (parallel["lateness"]["p99_ms"] or 1e9)
        <= (theirs["lateness"]["p99_ms"] or 0),
    }
    print(json.dumps(doc, indent=2))
    print(
        f"dispatch: {args.jobs} jobs, {args.seconds:g}s, load {load_before[0]:.1f}: directord "
        f"{ours['runs']} runs p50/p99/max {ours['lateness']['p50_ms']}/"
        f"{ours['lateness']['p99_ms']}/{ours['lateness']['max_ms']} ms, "
        f"{ours['cpu_s_per_1000_runs']} CPU s/1000 runs, RSS {ours['rss_mib']} MiB | APScheduler "
        f"{theirs['runs']} runs p50/p99/max {theirs['lateness']['p50_ms']}/"
        f"{theirs['lateness']['p99_ms']}/{theirs['lateness']['max_ms']} ms, "
        f"{theirs['cpu_s_per_1000_runs']} CPU s/1000 runs, RSS {theirs['rss_mib']} MiB "
        f"({'meets' if doc['meets_target'] else 'MISSES'} target); directord concurrency 4: p99 "
        f"{parallel['lateness']['p99_ms']} ms; saturated runs/s (one core) no-op: directord "
        f"{sat['directord_noop']['runs_per_s']}, APScheduler "
        f"{sat['apscheduler_noop']['runs_per_s']}; command: directord "
        f"{sat['directord_command']['runs_per_s']}, APScheduler "
        f"{sat['apscheduler_command']['runs_per_s']}"
    )


if __name__ == "__main__":
    main()
