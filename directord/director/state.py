"""Writing a run's outcome back into ``director_job`` as Director's runner does, and reading the
import source's / sync rule's own verdict (Director's job reports success even when they fail)."""

from __future__ import annotations

from directord.director import db as db_mod
from directord.director import model

# Director's column is TEXT; a page of PHP trace is plenty.
MAX_ERROR = 4000


async def write_outcome(
    db: db_mod.Database,
    job_id: int,
    started: float,
    finished: float,
    error: str | None,
) -> None:
    """DirectorJob::run(): ts_last_attempt is the start; success sets only
    last_attempt_succeeded, a failure also ts_last_error and last_error_message. Only these
    state columns are written, never the job's settings or definition."""
    if error is None:
        await db.execute(
            "UPDATE director_job SET ts_last_attempt = ?, last_attempt_succeeded = 'y'"
            " WHERE id = ?",
            db.timestamp(started),
            job_id,
        )
        return
    await db.execute(
        "UPDATE director_job SET ts_last_attempt = ?, last_attempt_succeeded = 'n',"
        " ts_last_error = ?, last_error_message = ? WHERE id = ?",
        db.timestamp(started),
        db.timestamp(finished),
        error[:MAX_ERROR],
        job_id,
    )


async def pipeline_failures(
    db: db_mod.Database, job: model.DirectorJob, settings: dict[str, str | None], since: float
) -> list[str]:
    """For import and sync jobs: the sources / rules this run touched that say they failed."""
    if job.job_class == model.IMPORT:
        table, id_setting, name_col, state_col, what = (
            "import_source",
            "source_id",
            "source_name",
            "import_state",
            "import source",
        )
    elif job.job_class == model.SYNC:
        table, id_setting, name_col, state_col, what = (
            "sync_rule",
            "rule_id",
            "rule_name",
            "sync_state",
            "sync rule",
        )
    else:
        return []
    target = settings.get(id_setting)
    sql = f"SELECT id, {name_col} AS name, {state_col} AS state, last_error_message, last_attempt FROM {table}"  # noqa: E501
    if target == "__ALL__":
        rows = await db.fetch(sql)
    elif target is not None and target.strip().isdigit():
        rows = await db.fetch(sql + " WHERE id = ?", int(target))
    else:
        return []
    out = []
    for r in rows:
        attempted = db.epoch(r["last_attempt"])
        # Only this run's verdict (Director stores whole seconds).
        if str(r["state"]) == "failing" and attempted is not None and attempted >= since - 1:
            out.append(f"{what} {r['name']!r} failed: {r['last_error_message'] or 'no message'}")
    return out


def edits_seen(
    before: dict[str, str | None], seen: dict[str, str | None], snapshot: dict[str, str | None]
) -> dict[str, str | None]:
    """``seen`` (the settings as edited during the run so far) with a new ``snapshot`` taken
    while the child runs. A value back at its ``before`` does not undo an edit already seen:
    it is what the child's stale store looks like when a poll lands between that store and the
    child's exit (seen under load), and undoing there lost the edit. The price: an edit that
    an operator takes back within the same run is put back as first edited. Pure."""
    out = dict(seen)
    for key, value in snapshot.items():
        if value != before.get(key) or key not in seen:
            out[key] = value
    return out


def reverted_edits(
    before: dict[str, str | None], seen: dict[str, str | None], after: dict[str, str | None]
) -> dict[str, str | None]:
    """Settings edited during the run that the child put back to their old value when it stored
    the job (Director #3071): key -> the edited value, to be restored. Pure."""
    out = {}
    for key, value in seen.items():
        if value != before.get(key) and after.get(key) == before.get(key) and key in after:
            out[key] = value
    return out


async def restore_settings(db: db_mod.Database, job_id: int, values: dict[str, str | None]) -> None:
    for key, value in values.items():
        await db.execute(
            "UPDATE director_job_setting SET setting_value = ?"
            " WHERE job_id = ? AND setting_name = ?",
            value,
            job_id,
            key,
        )
