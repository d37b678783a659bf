"""A job's schedule fields (``interval``, ``at``, ``cron``, ``timezone``, ``catch_up``) as the
calendar schedule they make, and what is wrong with them, each error naming the job and the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from directord import calendar

if TYPE_CHECKING:
    from directord.config import JobConfig, Settings

SCHEDULE_FIELDS = ("interval", "at", "cron", "timezone", "catch_up", "timeperiod")
SCHEDULE_FORMS = "interval, at, cron, or interval + at"


def job_zone(job: JobConfig, settings: Settings) -> str:
    """The zone of a job's at/cron: its own, else its time period's, else UTC."""
    if job.timezone is not None:
        return job.timezone
    period = settings.timeperiods.get(job.timeperiod) if job.timeperiod else None
    return period.timezone if period is not None else "UTC"


def job_schedule(job: JobConfig, settings: Settings) -> calendar.Schedule | None:
    """The calendar schedule of a validated job (None: a plain interval job)."""
    return calendar.build(
        at=job.at, cron=job.cron, interval=job.interval, tz=job_zone(job, settings)
    )


def job_catch_up(job: JobConfig) -> float:
    return job.catch_up if job.catch_up is not None else calendar.default_catch_up(job.interval)


def schedule_errors(job: JobConfig, i: int, settings: Settings) -> list[str]:
    """What is wrong with a job's schedule fields, each naming the job and the field."""
    where = f"jobs[{i}] ({job.name})"
    given = [k for k in ("interval", "at", "cron") if getattr(job, k) is not None]
    if not given:
        return [f"{where}: no schedule; give one of {SCHEDULE_FORMS}"]
    if job.cron is not None and len(given) > 1:
        return [
            f"{where}.cron: cannot be combined with {' and '.join(given[:-1])}; "
            f"the schedule is one of {SCHEDULE_FORMS}"
        ]
    problems = []
    zone = job_zone(job, settings)
    try:
        calendar.zone(zone)
    except calendar.CalendarError as exc:
        field = "timezone" if job.timezone is not None else "timeperiod"
        problems.append(f"{where}.{field}: {exc}")
        zone = "UTC"
    field = "cron" if job.cron is not None else "at"
    try:
        if job.at is not None:
            calendar.parse_at(job.at)
            field = "interval"
        calendar.build(at=job.at, cron=job.cron, interval=job.interval, tz=zone)
    except calendar.CalendarError as exc:
        problems.append(f"{where}.{field}: {exc}")
    if job.at is None and job.cron is None:
        for key in ("timezone", "catch_up"):
            if getattr(job, key) is not None:
                problems.append(f"{where}.{key}: applies only to a job with at or cron")
    return problems
