"""Keeps Director's jobs in step with the running daemon.

Every ``director.refresh`` it reads Director's jobs and time periods, turns them into job
definitions (kind ``director``) and periods, merges them with config.yaml's, and applies the
result through the supervisor's reload path when something changed, logging each change with
what changed. A database that cannot be reached keeps the jobs as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

from loguru import logger

from directord import config as config_mod
from directord import views
from directord.director import config as director_config
from directord.director import db as db_mod
from directord.director import model, periods, reader


def job_configs(
    cfg: director_config.DirectorConfig, snapshot: model.Snapshot
) -> tuple[list[config_mod.JobConfig], dict[str, config_mod.TimePeriodConfig], dict[str, str]]:
    """Director's selected jobs as directord job definitions, the periods they use, and the
    errors of periods that cannot be evaluated (those periods become "never"). Pure."""
    selected = [j for j in snapshot.jobs if cfg.selects(j.name)]
    wanted = {j.timeperiod_id for j in selected if j.timeperiod_id is not None}
    zone = cfg.timezone or periods.local_zone()
    names, definitions, errors = periods.convert(snapshot.periods, wanted, cfg.prefix, zone)
    jobs = []
    for j in selected:
        period = None
        if j.timeperiod_id is not None:
            # A period that vanished under the job: Director's runner fails it; never run it.
            period = names.get(j.timeperiod_id)
            if period is None:
                period = f"{cfg.prefix}#missing-{j.timeperiod_id}"
                definitions[period] = {"ranges": {}, "timezone": zone}
                errors[period] = f"time period id {j.timeperiod_id} of job {j.name!r} is missing"
        jobs.append(
            config_mod.JobConfig(
                name=cfg.job_name(j.name),
                kind="director",
                interval=float(max(1, j.run_interval)),
                timeperiod=period,
                timeout=cfg.timeout,
                disabled=j.disabled or snapshot.disable_all_jobs,
                description=f"Director job #{j.id} ({j.short_class})",
                settings={"id": j.id},
            )
        )
    periods_out = {
        name: config_mod.TimePeriodConfig.model_validate(spec) for name, spec in definitions.items()
    }
    return jobs, periods_out, errors


def director_attempts(
    cfg: director_config.DirectorConfig, snapshot: model.Snapshot
) -> dict[str, float]:
    """Director's recorded ``ts_last_attempt`` of each selected job that has one, by its name in
    directord. Pure."""
    return {
        cfg.job_name(j.name): j.last_attempt
        for j in snapshot.jobs
        if cfg.selects(j.name) and j.last_attempt is not None
    }


def seed(table: Any, attempts: dict[str, float], now: float) -> list[str]:
    """Before a reload adds jobs to the supervisor's job table: each job joining the schedule
    counts from the latest attempt anyone recorded, directord (its store, read at start-up)
    or Director (a run by Director's own daemon 5 s ago with a 60 s interval is due in 55 s,
    not now). The reload keeps a timing it finds. Returns the jobs seeded from Director."""
    seeded = []
    for name, director_at in attempts.items():
        if name in table.specs:
            continue  # scheduled already: directord's own runs count from here on
        timing = table.timings.get(name) or views.timing_from_state(table.states.get(name), now)
        if timing.last_attempt is not None and timing.last_attempt >= director_at:
            table.timings[name] = timing
            continue
        # A future ts_last_attempt (a clock ahead of ours) counts as now, as for the store. The
        # grid counts from Director's run, not from the due time of an older run of ours.
        table.timings[name] = replace(
            timing, last_attempt=min(director_at, now), last_scheduled=None
        )
        seeded.append(name)
    return seeded


def changes(
    old: dict[str, config_mod.JobConfig], new: dict[str, config_mod.JobConfig]
) -> list[str]:
    """One line per added, removed or changed job, naming each changed field's old and new
    value. Pure."""
    out = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a is None and b is not None:
            out.append(f"job {name!r} added ({b.description}, every {b.interval:g}s)")
        elif b is None and a is not None:
            out.append(f"job {name!r} removed ({a.description})")
        elif a is not None and b is not None and a != b:
            fields = [
                f"{k} {getattr(a, k)!r} -> {getattr(b, k)!r}"
                for k in type(b).model_fields
                if getattr(a, k) != getattr(b, k)
            ]
            out.append(f"job {name!r} changed: {', '.join(fields)}")
    return out


class Refresher:
    """Owns the Director part of the running config; ``merge`` adds it to any base config."""

    def __init__(self, supervisor: Any, base: config_mod.Settings) -> None:
        self.supervisor = supervisor
        self.base = base
        self.jobs: dict[str, config_mod.JobConfig] = {}
        self.periods: dict[str, config_mod.TimePeriodConfig] = {}
        self.errors: dict[str, str] = {}
        self.last_error: str | None = None
        self.disable_all = False
        self.refreshes = 0

    def _now(self) -> float:
        return float(self.supervisor.clock())

    def merge(self, base: config_mod.Settings) -> config_mod.Settings:
        """``base`` (config.yaml) plus Director's jobs and periods; config.yaml's win a name."""
        self.base = base
        own = {j.name for j in base.jobs}
        jobs = [*base.jobs, *(j for n, j in self.jobs.items() if n not in own)]
        tps = {**self.periods, **base.timeperiods}
        merged = base.model_copy(update={"jobs": jobs, "timeperiods": tps})
        # The copy would keep base's cached kind-settings validation, which lacks our jobs.
        merged._validated_jobs = None
        # Director's jobs are read-only in the web and the API, shown with their Director id.
        added = {n: "director" for n in self.jobs if n not in own}
        merged._managed = {**base._managed, **added}
        return merged

    async def refresh(self) -> list[str]:
        """Read Director once and apply what changed; the changes."""
        cfg = self.base.director
        if cfg is None:
            return []
        try:
            async with await db_mod.connect(cfg, self.base.base_dir) as db:
                snapshot = await reader.snapshot(db)
        except (db_mod.DirectorDbError, reader.SchemaError) as exc:
            if str(exc) != self.last_error:
                logger.bind(action="director_refresh_failed").error(
                    "cannot read Director's jobs, keeping the {} known: {}", len(self.jobs), exc
                )
            self.last_error = str(exc)
            return []
        if self.last_error is not None:
            logger.bind(action="director_refresh_recovered").info("Director's database is back")
            self.last_error = None
        jobs, tps, errors = job_configs(cfg, snapshot)
        new_jobs = {j.name: j for j in jobs}
        lines = changes(self.jobs, new_jobs)
        if snapshot.disable_all_jobs != self.disable_all:
            verb = "set: Director's jobs pause" if snapshot.disable_all_jobs else "cleared"
            lines.insert(0, f"Director's disable_all_jobs {verb}")
        for name, problem in errors.items():
            if self.errors.get(name) != problem:
                logger.bind(action="director_period_invalid", timeperiod=name).error(
                    "time period {} cannot be evaluated, its jobs do not run: {}", name, problem
                )
        period_changed = tps != self.periods
        if period_changed and not lines:
            lines.append(
                "time periods changed: "
                + ", ".join(sorted(set(tps) ^ set(self.periods)) or sorted(tps))
            )
        self.refreshes += 1
        if not lines and not period_changed:
            return []
        self.jobs, self.periods, self.errors = new_jobs, tps, errors
        self.disable_all = snapshot.disable_all_jobs
        for line in lines:
            logger.bind(action="director_job_changed").info("director: {}", line)
        # No await between seeding and the reload's synchronous part: the loop must not
        # dispatch a new job before it knows Director's last attempt.
        for name in seed(self.supervisor.jobs, director_attempts(cfg, snapshot), self._now()):
            logger.bind(action="director_job_seeded", job=name).info(
                "director: {} counts from Director's last attempt", name
            )
        await self.supervisor.apply_reload(self.merge(self.base))
        return lines

    async def run(self) -> None:
        """Refresh now and every ``director.refresh`` seconds until cancelled."""
        while True:
            try:
                await self.refresh()
            except config_mod.ConfigError as exc:
                logger.bind(action="director_refresh_failed").error(
                    "Director's jobs do not fit the config, keeping the running one: {}", exc
                )
            except Exception:  # the refresher must outlive a surprise; the daemon goes on
                logger.bind(action="director_refresh_failed").exception("refresh failed")
            cfg = self.base.director
            await asyncio.sleep(cfg.refresh if cfg is not None else 30.0)


def start(supervisor: Any) -> tuple[Refresher, asyncio.Task[None]]:
    refresher = Refresher(supervisor, supervisor.settings)
    task = asyncio.create_task(refresher.run(), name="directord-director-refresh")
    return refresher, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
