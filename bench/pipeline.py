"""Import + sync of 50,000 CSV rows into hosts: seconds and peak RSS for the first run and for a
re-run with 1% of the rows changed. Real SQLite file, real CSV, the daemon's own code path
(the import and sync kinds through the supervisor).

Targets (issue 5): first run < 20 s, re-run < 5 s, peak RSS < 400 MB.

    python -m bench.pipeline [--rows 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def make_rows(n: int) -> list[dict[str, str]]:
    rng = random.Random(11)
    return [
        {
            "hostname": f"Host{i:06d}.Example.COM",
            "ip": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
            "os": rng.choice(["linux", "windows", "freebsd"]),
            "env": rng.choice(["prod", "test", "dev"]),
            "groups": ";".join(rng.sample(["web", "db", "mail", "app", "edge", "core"], 2)),
            "location": rng.choice(["Berlin", "Nuremberg", "Vienna", "Zurich"]),
        }
        for i in range(n)
    ]


async def main_async(rows_n: int) -> dict[str, Any]:
    from directord import config as config_mod
    from directord import log, store
    from directord.jobs import registry
    from directord.supervisor import Supervisor

    log.setup(False)
    tmp = Path(tempfile.mkdtemp(prefix="directord-pipeline-"))
    rows = make_rows(rows_n)
    write_csv(tmp / "hosts.csv", rows)
    kinds = registry.discover()
    settings = config_mod.parse(
        {
            "database": "sqlite:///pipeline.db",
            "import_sources": {
                "cmdb": {
                    "type": "csv",
                    "path": "hosts.csv",
                    "key_column": "hostname",
                    "modifiers": [
                        {"column": "hostname", "modifier": "lowercase"},
                        {"column": "groups", "modifier": "split", "delimiter": ";"},
                    ],
                }
            },
            "sync_rules": {
                "hosts": {
                    "object_type": "Host",
                    "sources": ["cmdb"],
                    "object_name": "${hostname}",
                    "filter": "!(env=retired)",
                    "properties": {
                        "address": "${ip}",
                        "vars.os": "${os}",
                        "vars.env": "${env}",
                        "vars.location": "${location}",
                        "groups": "${groups}",
                        "imports": ["generic-host"],
                    },
                    "purge": True,
                }
            },
            "jobs": [
                {
                    "name": "import",
                    "kind": "import",
                    "interval": "1h",
                    "settings": {"source": "cmdb"},
                },
                {"name": "sync", "kind": "sync", "interval": "1h", "settings": {"rule": "hosts"}},
            ],
        },
        base_dir=tmp,
        kinds=kinds,
    )
    db = store.open_store(settings.database_url())
    await db.open()
    sup = Supervisor(settings, db, kinds)
    await sup.start()

    async def both() -> tuple[float, list[str]]:
        started = time.perf_counter()
        summaries = []
        for job in ("import", "sync"):
            report = await sup.run_now(job)
            assert report is not None
            if not report.ok:
                raise RuntimeError(report.summary)
            summaries.append(report.summary)
        return time.perf_counter() - started, summaries

    first, first_summaries = await both()
    rss_after_first = psutil.Process().memory_info().rss
    rng = random.Random(5)
    for i in rng.sample(range(rows_n), rows_n // 100):
        rows[i]["location"] = "Moved " + rows[i]["location"]
    write_csv(tmp / "hosts.csv", rows)
    rerun, rerun_summaries = await both()
    await sup.close()
    await db.close()
    return {
        "benchmark": "pipeline",
        "rows": rows_n,
        "first_run_s": round(first, 2),
        "first_run": first_summaries,
        "rerun_1pct_changed_s": round(rerun, 2),
        "rerun": rerun_summaries,
        "rss_mib_after_first": round(rss_after_first / (1 << 20), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "database_mib": round((tmp / "pipeline.db").stat().st_size / (1 << 20), 1),
        "targets": {"first_run_s": 20, "rerun_1pct_changed_s": 5, "peak_rss_mib": 400},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    doc = asyncio.run(main_async(args.rows))
    doc["meets_targets"] = (
        doc["first_run_s"] < 20 and doc["rerun_1pct_changed_s"] < 5 and doc["peak_rss_mib"] < 400
    )
    print(json.dumps(doc, indent=2))
    print(
        f"pipeline: {doc['rows']} rows: first run {doc['first_run_s']} s, re-run with 1% changed "
        f"{doc['rerun_1pct_changed_s']} s, peak RSS {doc['peak_rss_mib']} MiB "
        f"({'meets' if doc['meets_targets'] else 'MISSES'} targets)"
    )


if __name__ == "__main__":
    main()
