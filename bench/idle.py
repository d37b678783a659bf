"""An idle daemon: what does waiting cost?

1. 1,000 jobs bound to a time period that starts in an hour, supervisor in-process for 60 s:
   schedule evaluations (wake-ups) and store queries after start-up, and CPU used.
   Targets: <= 2 wake-ups, < 0.1 % of a core (Director's daemon: 0.1 % polling 7 jobs).
2. The real daemon (``directord jobs run --forever``) with those 1,000 jobs, 60 s: its CPU.
3. The real daemon with 20 jobs: RSS after start-up (Director's daemon: 35 MB).

    python -m bench.idle [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import yaml


def config(jobs: int, tmp: Path) -> dict[str, Any]:
    opens = datetime.now(UTC) + timedelta(hours=1)
    closes = opens + timedelta(hours=1)
    value = f"{opens:%H:%M}-{closes:%H:%M}"
    return {
        "database": "sqlite:///idle.db",
        "node": "bench",
        "timeperiods": {"later": {"ranges": {opens.date().isoformat(): value}}},
        "jobs": [
            {"name": f"job{i:04d}", "kind": "housekeeping", "interval": "5m", "timeperiod": "later"}
            for i in range(jobs)
        ],
    }


def in_process(seconds: float) -> dict[str, Any]:
    from directord import config as config_mod
    from directord import store
    from directord.jobs import registry
    from directord.supervisor import Supervisor

    tmp = Path(tempfile.mkdtemp(prefix="directord-idle-"))
    settings = config_mod.parse(config(1000, tmp), base_dir=tmp)

    async def main() -> dict[str, Any]:
        db = store.open_store(settings.database_url())
        await db.open()
        sup = Supervisor(settings, db, registry.discover())
        await sup.load_state()
        queries = 0
        # Every statement goes through the store's connector (since the store split).
        target = getattr(db, "connector", db)
        for name in ("execute", "fetch_one", "fetch_all", "execute_many", "count"):
            original = getattr(target, name, None)
            if original is None:
                continue

            def counted(*args: Any, _original: Any = original, **kw: Any) -> Any:
                nonlocal queries
                queries += 1
                return _original(*args, **kw)

            setattr(target, name, counted)
        task = asyncio.create_task(sup.serve())
        await asyncio.sleep(0.5)  # start-up evaluation done
        evaluations0, queries0 = sup.evaluations, queries
        cpu0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        out = {
            "jobs": len(sup.specs),
            "seconds": round(wall, 1),
            "wakeups": sup.evaluations - evaluations0,
            "store_queries": queries - queries0,
            "cpu_percent_of_core": round(cpu / wall * 100, 4),
            "runs_started": sum(1 for _ in sup.running),
        }
        sup.shutdown("bench over")
        await task
        await sup.close()
        await db.close()
        return out

    return asyncio.run(main())


def daemon(jobs: int, seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="directord-idle-"))
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config(jobs, tmp)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "directord", "--config", str(path), "jobs", "run", "--forever"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        p = psutil.Process(proc.pid)
        time.sleep(3)  # imports, store, config
        rss = p.memory_info().rss
        t0 = p.cpu_times()
        time.sleep(seconds)
        t1 = p.cpu_times()
        cpu = (t1.user - t0.user) + (t1.system - t0.system)
        return {
            "jobs": jobs,
            "rss_mib_after_start": round(rss / (1 << 20), 1),
            "cpu_percent_of_core": round(cpu / seconds * 100, 4),
            "seconds": seconds,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    inproc = in_process(args.seconds)
    big = daemon(1000, args.seconds)
    small = daemon(20, 5)
    doc = {
        "benchmark": "idle",
        "period": "every job bound to a period that opens in one hour",
        "supervisor_in_process": inproc,
        "daemon_1000_jobs": big,
        "daemon_20_jobs": {"rss_mib_after_start": small["rss_mib_after_start"]},
        "targets": {"wakeups": 2, "cpu_percent_of_core": 0.1},
        "meets_targets": inproc["wakeups"] <= 2 and big["cpu_percent_of_core"] < 0.1,
    }
    print(json.dumps(doc, indent=2))
    print(
        f"idle: 1000 jobs waiting for their period, {args.seconds:g}s: "
        f"{inproc['wakeups']} wake-ups, {inproc['store_queries']} store queries, "
        f"daemon CPU {big['cpu_percent_of_core']}% of a core; RSS with 20 jobs "
        f"{small['rss_mib_after_start']} MiB "
        f"({'meets' if doc['meets_targets'] else 'MISSES'} targets)"
    )


if __name__ == "__main__":
    main()
