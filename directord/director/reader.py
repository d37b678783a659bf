"""Read Director's jobs, their settings, the time periods they use and the global switches."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from directord.director import db as db_mod
from directord.director import model


class SchemaError(Exception):
    """Director's schema is missing or older than what directord reads."""


async def schema_version(db: db_mod.Database) -> int:
    try:
        rows = await db.fetch("SELECT MAX(schema_version) AS v FROM director_schema_migration")
    except db_mod.DirectorDbError as exc:
        raise SchemaError(
            f"no Director schema (director_schema_migration unreadable: {exc}); "
            f"run 'icingacli director migration run' (needed: schema {model.MIN_SCHEMA} or newer)"
        ) from exc
    found = rows[0]["v"] if rows else None
    if found is None or int(found) < model.MIN_SCHEMA:
        raise SchemaError(
            f"Director schema {found if found is not None else 'none'} found, "
            f"schema {model.MIN_SCHEMA} or newer needed; run 'icingacli director migration run'"
        )
    return int(found)


def _yn(value: Any) -> bool | None:
    return None if value is None else value == "y"


_JOB_COLUMNS = (
    "SELECT id, job_name, job_class, disabled, run_interval, timeperiod_id,"
    " last_attempt_succeeded, ts_last_attempt, last_error_message FROM director_job"
)


def _job(
    db: db_mod.Database, r: dict[str, Any], settings: dict[str, str | None]
) -> model.DirectorJob:
    return model.DirectorJob(
        id=int(r["id"]),
        name=r["job_name"],
        job_class=r["job_class"],
        disabled=r["disabled"] == "y",
        run_interval=int(r["run_interval"]),
        timeperiod_id=None if r["timeperiod_id"] is None else int(r["timeperiod_id"]),
        settings=settings,
        last_attempt=db.epoch(r["ts_last_attempt"]),
        last_succeeded=_yn(r["last_attempt_succeeded"]),
        last_error=r["last_error_message"],
    )


async def read_job(db: db_mod.Database, job_id: int) -> model.DirectorJob | None:
    """One job with its settings, or None when it was deleted."""
    rows = await db.fetch(_JOB_COLUMNS + " WHERE id = ?", job_id)
    return _job(db, rows[0], await job_settings(db, job_id)) if rows else None


async def read_jobs(db: db_mod.Database) -> list[model.DirectorJob]:
    rows = await db.fetch(_JOB_COLUMNS + " ORDER BY id")
    settings: dict[int, dict[str, str | None]] = defaultdict(dict)
    for s in await db.fetch(
        "SELECT job_id, setting_name, setting_value FROM director_job_setting"
        " ORDER BY job_id, setting_name"
    ):
        settings[int(s["job_id"])][s["setting_name"]] = s["setting_value"]
    return [_job(db, r, settings.get(int(r["id"]), {})) for r in rows]


async def job_settings(db: db_mod.Database, job_id: int) -> dict[str, str | None]:
    rows = await db.fetch(
        "SELECT setting_name, setting_value FROM director_job_setting WHERE job_id = ?", job_id
    )
    return {r["setting_name"]: r["setting_value"] for r in rows}


async def read_periods(db: db_mod.Database) -> dict[int, model.Period]:
    """Every time period with its ranges, imports, includes and excludes (all of them: a job's
    period may reach any other through nesting, and there are few)."""
    ranges: dict[int, list[model.Range]] = defaultdict(list)
    for r in await db.fetch(
        "SELECT timeperiod_id, range_key, range_value, range_type FROM icinga_timeperiod_range"
        " ORDER BY timeperiod_id, range_key"
    ):
        ranges[int(r["timeperiod_id"])].append(
            model.Range(r["range_key"], r["range_value"], str(r["range_type"]))
        )
    imports: dict[int, list[int]] = defaultdict(list)
    for r in await db.fetch(
        "SELECT timeperiod_id, parent_timeperiod_id FROM icinga_timeperiod_inheritance"
        " ORDER BY timeperiod_id, weight"
    ):
        imports[int(r["timeperiod_id"])].append(int(r["parent_timeperiod_id"]))
    includes: dict[int, list[int]] = defaultdict(list)
    for r in await db.fetch(
        "SELECT timeperiod_id, include_id FROM icinga_timeperiod_include"
        " ORDER BY timeperiod_id, include_id"
    ):
        includes[int(r["timeperiod_id"])].append(int(r["include_id"]))
    excludes: dict[int, list[int]] = defaultdict(list)
    for r in await db.fetch(
        "SELECT timeperiod_id, exclude_id FROM icinga_timeperiod_exclude"
        " ORDER BY timeperiod_id, exclude_id"
    ):
        excludes[int(r["timeperiod_id"])].append(int(r["exclude_id"]))
    out = {}
    for r in await db.fetch(
        "SELECT id, object_name, object_type, prefer_includes FROM icinga_timeperiod ORDER BY id"
    ):
        pid = int(r["id"])
        out[pid] = model.Period(
            id=pid,
            name=r["object_name"],
            object_type=str(r["object_type"]),
            prefer_includes=_yn(r["prefer_includes"]),
            ranges=tuple(ranges.get(pid, ())),
            imports=tuple(imports.get(pid, ())),
            includes=tuple(includes.get(pid, ())),
            excludes=tuple(excludes.get(pid, ())),
        )
    return out


async def disable_all_jobs(db: db_mod.Database) -> bool:
    rows = await db.fetch(
        "SELECT setting_value FROM director_setting WHERE setting_name = 'disable_all_jobs'"
    )
    return bool(rows) and rows[0]["setting_value"] == "y"


async def daemons(db: db_mod.Database) -> list[model.DaemonInfo]:
    rows = await db.fetch(
        "SELECT instance_uuid_hex, fqdn, pid, ts_last_update, ts_stopped FROM director_daemon_info"
    )
    # Director stores these as milliseconds since the epoch.
    return [
        model.DaemonInfo(
            instance=r["instance_uuid_hex"],
            fqdn=r["fqdn"],
            pid=int(r["pid"]),
            last_update=int(r["ts_last_update"]) / 1000,
            stopped=None if r["ts_stopped"] is None else int(r["ts_stopped"]) / 1000,
        )
        for r in rows
    ]


async def snapshot(db: db_mod.Database) -> model.Snapshot:
    version = await schema_version(db)
    return model.Snapshot(
        schema_version=version,
        jobs=tuple(await read_jobs(db)),
        periods=await read_periods(db),
        disable_all_jobs=await disable_all_jobs(db),
        daemons=tuple(await daemons(db)),
    )
