"""Director's own job runner vs directord, side by side: the same 20 Housekeeping jobs with
10-30 s intervals, each runner on its own real Director (its own database, same PostgreSQL
version), for 3 minutes in the same window.

Per run, for both runners alike, from ``director_job.ts_last_attempt`` (what Director's UI shows
after the run; whole seconds): the start lateness against the runner's due time, which is the
previous attempt plus the interval (Director's rule, and directord's on main), i.e. the achieved
interval's deviation from the configured one. For directord also the exact figures from its own
store: lateness ``started - scheduled_for`` and the achieved interval between consecutive starts.
Both runners start their jobs one at a time (Director always; directord with its default
``runner.concurrency: 1``, ``--concurrency`` to change it): the highest number of job children
seen at once is reported. Memory: RSS and PSS summed over each runner's process tree (the runner
and its job children), sampled every second; PSS shares a page among the processes mapping it,
so shared libraries are not counted twice.

    python -m bench.director [--seconds 180] [--jobs 20] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import yaml

from tests import director_site
from tests.conftest import free_port


def intervals(jobs: int) -> list[int]:
    return [10 + (i * 20) // max(1, jobs - 1) for i in range(jobs)]


@dataclass
class Memory:
    """Samples of one runner's process tree."""

    rss: list[int] = field(default_factory=list)
    pss: list[int] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    runner: list[int] = field(default_factory=list)  # the runner's own RSS, children apart
    child: list[int] = field(default_factory=list)  # each job child's RSS, as sampled

    def sample(self, pid: int) -> None:
        try:
            lead = psutil.Process(pid)
            procs = [lead, *lead.children(recursive=True)]
        except psutil.Error:
            return
        rss = pss = 0
        jobs = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                info = proc.memory_full_info()
                rss += info.rss
                pss += info.pss
                if proc.pid == pid:
                    self.runner.append(info.rss)
                # A job child: Director's re-titles itself, directord's keeps icingacli's argv.
                elif "icinga::director::job" in " ".join(proc.cmdline()) or (
                    "--rpc" in proc.cmdline()
                ):
                    jobs += 1
                    self.child.append(info.rss)
        self.rss.append(rss)
        self.pss.append(pss)
        self.children.append(jobs)

    def summary(self) -> dict[str, Any]:
        def mib(values: list[int]) -> dict[str, float | None]:
            return {
                "mean": round(statistics.fmean(values) / (1 << 20), 1) if values else None,
                "max": round(max(values) / (1 << 20), 1) if values else None,
            }

        tenth = max(1, len(self.runner) // 10)
        return {
            "rss_mib": mib(self.rss),
            "pss_mib": mib(self.pss),
            # Growth shows as the last tenth of the samples against the first.
            "runner_rss_mib": {
                **mib(self.runner),
                "first_tenth": mib(self.runner[:tenth])["mean"],
                "last_tenth": mib(self.runner[-tenth:])["mean"],
            },
            "job_child_rss_mib": mib(self.child),
            "job_children_at_once_max": max(self.children, default=0),
        }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stats(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": _pct(values, 0.5),
        "p99": _pct(values, 0.99),
        "max": max(values) if values else None,
        "mean": round(statistics.fmean(values), 3) if values else None,
    }


def record(seen: list[float], ts: float) -> None:
    """One poll's ``ts_last_attempt`` into the job's list of runs. A value within 2 s of the
    last one is the same run's final value (directord rewrites the child's own, stamped after
    PHP started, with the run's start); a later one is a new run (intervals are 10 s or more)."""
    if seen and abs(ts - seen[-1]) < 2:
        seen[-1] = ts
    elif not seen or ts > seen[-1]:
        seen.append(ts)


async def _observe(
    site: director_site.Site, pid: int, seconds: float, every: dict[int, int]
) -> dict[str, Any]:
    conn = await asyncpg.connect(
        host=site.host,
        port=site.port,
        user=site.user,
        password=site.password,
        database=site.database,
    )
    attempts: dict[int, list[float]] = {j: [] for j in every}
    memory = Memory()
    end = time.monotonic() + seconds
    next_sample = 0.0
    try:
        while time.monotonic() < end:
            for r in await conn.fetch("SELECT id, ts_last_attempt FROM director_job"):
                if r["ts_last_attempt"] is not None:
                    record(attempts[r["id"]], r["ts_last_attempt"].timestamp())
            if time.monotonic() >= next_sample:
                await asyncio.to_thread(memory.sample, pid)
                next_sample = time.monotonic() + 1.0
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    deviation: list[float] = []
    for job, seen in attempts.items():
        # From the second run on: the first ran in the start-up burst (every job due at once).
        deviation += [b - a - every[job] for a, b in itertools.pairwise(seen[1:])]
    return {
        "runs": sum(len(s) for s in attempts.values()),
        # Due at the previous attempt + interval: lateness and the interval's deviation agree.
        "lateness_s": _stats(deviation),
        **memory.summary(),
    }


def _jobs(site: director_site.Site, every: list[int]) -> dict[int, int]:
    out = {}
    for i, seconds in enumerate(every):
        out[site.add_job(f"hk{i:02d}", director_site.HOUSEKEEPING, seconds)] = seconds
    return out


def _from_store(db: Path, every: dict[str, int]) -> dict[str, Any]:
    """directord's exact figures: lateness and achieved interval of its scheduled runs (the
    start-up burst, every job due at once, left out), and how long the runs took."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT job, scheduled_for, started, finished FROM runs"
            " WHERE trigger = 'schedule' AND state != 'running' ORDER BY job, started"
        ).fetchall()
    lateness: list[float] = []
    deviation: list[float] = []
    for job, group in itertools.groupby(rows, key=lambda r: r[0]):
        # Each job's first run is left out: it ran in the start-up burst, and is scheduled
        # for its start (its grid counts from there).
        later = list(group)[1:]
        lateness += [max(0.0, r[2] - r[1]) for r in later]
        deviation += [b[2] - a[2] - every[job] for a, b in itertools.pairwise(later)]
    return {
        "runs": len(rows),
        "lateness_s": _stats(lateness),
        "interval_deviation_s": _stats(deviation),
        "run_duration_s": _stats([r[3] - r[2] for r in rows]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    every = intervals(args.jobs)
    tmp = Path(tempfile.mkdtemp(prefix="directord-bench-director-"))
    load_before = os.getloadavg()
    with director_site.on_postgres() as theirs, director_site.on_postgres() as ours:
        their_jobs, our_jobs = _jobs(theirs, every), _jobs(ours, every)
        pw = tmp / "pw"
        pw.write_text(ours.password)
        config = tmp / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database": f"sqlite:///{tmp / 'directord.db'}",
                    "http": {"listen": f"127.0.0.1:{free_port()}"},
                    "runner": {"concurrency": args.concurrency},
                    "director": {
                        "dsn": ours.dsn,
                        "password_file": str(pw),
                        "env": ours.env,
                        "refresh": "30s",
                    },
                }
            )
        )
        directord_cmd = [
            sys.executable,
            "-m",
            "directord",
            "--config",
            str(config),
            "jobs",
            "run",
            "--forever",
        ]
        with (
            theirs.director_daemon(tmp / "director.log") as d_proc,
            director_site.session(directord_cmd, {}, tmp / "directord.log") as o_proc,
        ):

            async def both() -> list[dict[str, Any]]:
                return list(
                    await asyncio.gather(
                        _observe(theirs, d_proc.pid, args.seconds, their_jobs),
                        _observe(ours, o_proc.pid, args.seconds, our_jobs),
                    )
                )

            director_result, directord_result = asyncio.run(both())
        names = {f"director:hk{i:02d}": s for i, s in enumerate(every)}
        directord_result["exact"] = _from_store(tmp / "directord.db", names)
    exact = directord_result["exact"]
    late, dev = exact["lateness_s"], exact["interval_deviation_s"]
    rss = {
        k: r["rss_mib"]["mean"]
        for k, r in (("director", director_result), ("directord", directord_result))
    }
    checks = {
        "p99_lateness_below_1s": late["p99"] is not None and late["p99"] < 1.0,
        "interval_within_0.2s": dev["mean"] is not None and abs(dev["mean"]) <= 0.2,
        "lower_rss": (rss["directord"] or 1e9) < (rss["director"] or 0),
    }
    doc = {
        "benchmark": "director",
        "jobs": args.jobs,
        "seconds": args.seconds,
        "intervals_s": "10..30",
        "directord_concurrency": args.concurrency,
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
        },
        "director_daemon": director_result,
        "directord": directord_result,
        "note": "lateness_s from ts_last_attempt (whole seconds, both runners alike, due = "
        "previous attempt + interval); directord.exact from its store (started - scheduled_for, "
        "consecutive starts). Memory summed over each runner's process tree.",
        "target": "directord p99 lateness < 1 s, interval within +-0.2 s, lower RSS",
        "checks": checks,
        "meets_target": all(checks.values()),
    }
    print(json.dumps(doc, indent=2))
    d = director_result
    o = directord_result
    print(
        f"director: {args.jobs} housekeeping jobs, {args.seconds:g}s, load "
        f"{load_before[0]:.1f}: Director's daemon {d['runs']} runs, lateness p50/p99 "
        f"{d['lateness_s']['p50']}/{d['lateness_s']['p99']} s, interval "
        f"{d['lateness_s']['mean']:+} s, RSS/PSS {d['rss_mib']['mean']}/{d['pss_mib']['mean']} "
        f"MiB | directord (concurrency {args.concurrency}) {o['runs']} runs, lateness p50/p99 "
        f"{o['lateness_s']['p50']}/{o['lateness_s']['p99']} s (exact p99 "
        f"{late['p99'] or 0:.3f} s), interval {dev['mean'] or 0:+.3f} s exact, RSS/PSS "
        f"{o['rss_mib']['mean']}/{o['pss_mib']['mean']} MiB "
        f"({'meets' if doc['meets_target'] else 'MISSES'} target: "
        f"{', '.join(k for k, v in checks.items() if not v) or 'all'})"
    )


if __name__ == "__main__":
    main()
