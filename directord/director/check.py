"""``directord director check``: what directord would run from Director, and what to look at
before switching runners. The report is built from a snapshot without I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from directord import tables
from directord.director import config as director_config
from directord.director import db as db_mod
from directord.director import model, periods, reader, refresh

# Director's daemon heartbeats every few seconds; older than this, it is gone.
HEARTBEAT_FRESH = 60.0


@dataclass
class Report:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"jobs": self.jobs, "warnings": self.warnings}


def build(
    cfg: director_config.DirectorConfig, snapshot: model.Snapshot, now: float, days: int
) -> Report:
    """The jobs directord would run and the warnings, judged at ``now``. Pure."""
    report = Report()
    jobs, definitions, errors = refresh.job_configs(cfg, snapshot)
    raw = {name: spec.model_dump() for name, spec in definitions.items()}
    registry = periods.registry(raw)
    by_id = {j.id: j for j in snapshot.jobs}
    for job in jobs:
        director_job = by_id[job.settings["id"]]
        disagreement = None
        period_name = None
        if director_job.timeperiod_id is not None:
            period = snapshot.periods.get(director_job.timeperiod_id)
            period_name = period.name if period else f"#{director_job.timeperiod_id} (missing)"
            if period is not None and job.timeperiod is not None:
                found = periods.first_disagreement(
                    registry.get(job.timeperiod), snapshot.periods, period.id, now, days
                )
                if found is not None:
                    disagreement = {
                        "at": tables.iso(found.at),
                        "directord_active": found.directord_active,
                        "director_active": found.director_active,
                    }
                    report.warnings.append(
                        f"job {director_job.name!r}: time period {period.name!r} is evaluated "
                        f"differently from {tables.iso(found.at)}: directord (as Icinga 2) "
                        f"{_state(found.directord_active)}, Director's runner "
                        f"{_state(found.director_active)}; switching runners changes when it runs"
                    )
        report.jobs.append(
            {
                "id": director_job.id,
                "name": director_job.name,
                "class": director_job.job_class,
                "interval": director_job.run_interval,
                "timeperiod": period_name,
                "enabled": not director_job.disabled,
                "last_attempt": tables.iso(director_job.last_attempt),
                "last_succeeded": director_job.last_succeeded,
                "period_disagreement": disagreement,
            }
        )
    for name, problem in sorted(errors.items()):
        report.warnings.append(
            f"time period {name!r} cannot be evaluated (never active): {problem}"
        )
    if snapshot.disable_all_jobs:
        report.warnings.append("Director's disable_all_jobs is set: every job is paused")
    for d in snapshot.daemons:
        if d.stopped is None and now - d.last_update < HEARTBEAT_FRESH:
            report.warnings.append(
                f"Director's own daemon still runs jobs (pid {d.pid} on {d.fqdn}, heartbeat "
                f"{now - d.last_update:.0f}s ago): both would run them; stop its job runner "
                "(systemctl stop icinga-director) before starting directord"
            )
    return report


def _state(active: bool) -> str:
    return "active" if active else "inactive"


async def run(cfg: director_config.DirectorConfig, base_dir: Path, now: float, days: int) -> Report:
    """Connect and build the report; DirectorDbError / reader.SchemaError when it cannot."""
    async with await db_mod.connect(cfg, base_dir) as db:
        snapshot = await reader.snapshot(db)
    return build(cfg, snapshot, now, days)


def text(report: Report) -> str:
    rows = [["ID", "NAME", "CLASS", "INTERVAL", "TIME PERIOD", "ENABLED", "LAST ATTEMPT", "OK"]]
    for j in report.jobs:
        ok = {True: "yes", False: "no", None: "-"}[j["last_succeeded"]]
        rows.append(
            [
                str(j["id"]),
                j["name"],
                j["class"].rsplit("\\", 1)[-1],
                tables.duration(j["interval"]),
                j["timeperiod"] or "-",
                "yes" if j["enabled"] else "no",
                j["last_attempt"] or "-",
                ok,
            ]
        )
    out = tables.render(rows)
    if report.warnings:
        out += "\n" + "\n".join(f"warning: {w}" for w in report.warnings)
    return out
