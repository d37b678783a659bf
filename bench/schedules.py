"""Calendar schedules: what does a next start cost, and how close to its time does a run start?

1. Pure: microseconds per ``next_after`` and ``latest`` for each form (at, at + interval, cron
   with a fixed time, cron per second, periodic cron), Europe/Berlin, instants across 2027
   (DST days included).
2. Views: the due time and overdue limit of 1,000 cron jobs, as /status renders them, first and
   again a second later (the schedules remember their last answers).
3. The real daemon (``directord jobs run --forever``) with a per-second cron job and a job at
   every other whole second (``at`` with seconds) for ``--seconds``: start lateness
   (``started - scheduled_for`` from the run rows), median, p95 and max.

    python -m bench.schedules [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from directord import calendar

FORMS = {
    "at 02:30": lambda tz: calendar.daily(calendar.parse_at("02:30"), tz),
    "every 15m at 00:05": lambda tz: calendar.daily(calendar.parse_at("00:05"), tz, 900.0),
    "cron 30 2 * * 1-5": lambda tz: calendar.parse_cron("30 2 * * 1-5", tz),
    "cron 0 30 2 * * * (6 fields)": lambda tz: calendar.parse_cron("0 30 2 * * *", tz),
    "cron */15 * * * *": lambda tz: calendar.parse_cron("*/15 * * * *", tz),
    "cron * * * * * * (per second)": lambda tz: calendar.parse_cron("* * * * * *", tz),
}


def pure(calls: int) -> dict[str, Any]:
    tz = calendar.zone("Europe/Berlin")
    rng = random.Random(15)
    start = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    instants = [start + rng.uniform(0, 365 * 86400) for _ in range(calls)]
    out = {}
    for name, make in FORMS.items():
        sched = make(tz)
        t0 = time.perf_counter()
        for ts in instants:
            sched.next_after(ts)
        t1 = time.perf_counter()
        for ts in instants:
            sched.latest(ts)
        t2 = time.perf_counter()
        out[name] = {
            "next_after_us": round((t1 - t0) / calls * 1e6, 1),
            "latest_us": round((t2 - t1) / calls * 1e6, 1),
        }
    return out


def views(jobs: int) -> dict[str, Any]:
    from directord import scheduler

    tz = calendar.zone("Europe/Berlin")
    plans = [
        scheduler.Plan(f"j{i}", 0.0, schedule=calendar.parse_cron(f"{i % 60} 2 * * *", tz))
        for i in range(jobs)
    ]
    now = datetime(2027, 3, 27, 12, tzinfo=UTC).timestamp()
    timing = scheduler.Timing(known_since=now - 86400, last_attempt=now - 36000)

    def render(at: float) -> float:
        t0 = time.perf_counter()
        for plan in plans:
            scheduler.due(plan, timing, at)
            assert plan.schedule is not None
            calendar.overdue_after(plan.schedule, last_attempt=now - 36000, known_since=now)
        return round((time.perf_counter() - t0) * 1000, 1)

    first = render(now)
    return {"jobs": jobs, "first_render_ms": first, "next_render_ms": render(now + 1)}


def daemon(seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="directord-schedules-"))
    base = int(time.time()) + 3
    at = [
        datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")
        for t in range(base, base + int(seconds) + 5, 2)
    ]
    doc = {
        "database": "sqlite:///directord.db",
        "node": "bench",
        "jobs": [
            {"name": "per-second", "kind": "housekeeping", "cron": "* * * * * *"},
            {"name": "at-seconds", "kind": "housekeeping", "at": at, "timezone": "UTC"},
        ],
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen(
        [sys.executable, "-m", "directord", "--config", str(path), "jobs", "run", "--forever"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(seconds + 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    conn = sqlite3.connect(tmp / "directord.db")
    try:
        rows = conn.execute("SELECT job, started - scheduled_for FROM runs").fetchall()
    finally:
        conn.close()
    out: dict[str, Any] = {}
    for job in ("per-second", "at-seconds"):
        late = sorted(x for j, x in rows if j == job)
        if not late:
            out[job] = {"runs": 0}
            continue
        out[job] = {
            "runs": len(late),
            "lateness_ms_median": round(statistics.median(late) * 1000, 2),
            "lateness_ms_p95": round(late[int(0.95 * (len(late) - 1))] * 1000, 2),
            "lateness_ms_max": round(late[-1] * 1000, 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    costs = pure(args.calls)
    rendered = views(1000)
    late = daemon(args.seconds)
    doc = {
        "benchmark": "schedules",
        "pure_cost": costs,
        "views": rendered,
        "daemon_lateness": late,
    }
    print(json.dumps(doc, indent=2))
    worst = max(costs.values(), key=lambda c: c["next_after_us"])
    print(
        f"schedules: next start {min(c['next_after_us'] for c in costs.values())}-"
        f"{worst['next_after_us']} us per call; 1000 cron jobs' due times "
        f"{rendered['first_render_ms']} ms, again {rendered['next_render_ms']} ms; "
        f"daemon per-second cron "
        f"{late['per-second'].get('runs', 0)} runs, lateness median "
        f"{late['per-second'].get('lateness_ms_median')} ms, max "
        f"{late['per-second'].get('lateness_ms_max')} ms; at with seconds median "
        f"{late['at-seconds'].get('lateness_ms_median')} ms"
    )


if __name__ == "__main__":
    main()
