"""The checks of a config beyond each field's own type: references between its parts,
duplicate names, chains that form a cycle; and the warnings of ``config check``.

They run on what validated, with what did not (``Broken``) left out, so one mistake never
hides another and never causes a second report about itself."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from directord import config_secrets, errors, redact, timeperiods
from directord.timeperiods import compare

if TYPE_CHECKING:
    from directord.config import JobConfig, Settings, TimePeriodConfig

# Properties of Icinga 2 objects that name a TimePeriod: a period used there is evaluated by
# Icinga 2 itself.
PERIOD_PROPERTIES = ("check_period", "period", "notification_period")


@dataclass
class Broken:
    """What failed validation: whole sections, entries of named sections, fields of jobs."""

    sections: set[str] = field(default_factory=set)
    names: dict[str, set[str]] = field(default_factory=dict)
    job_fields: dict[int, frozenset[str]] = field(default_factory=dict)

    def has(self, section: str, name: str) -> bool:
        return section in self.sections or name in self.names.get(section, ())

    def job(self, index: int, *fields: str) -> bool:
        failed = self.job_fields.get(index, frozenset())
        return "*" in failed or any(f in failed for f in fields)


def build_timeperiods(
    periods: Mapping[str, TimePeriodConfig], stand_ins: Iterable[str] = ()
) -> tuple[timeperiods.Registry, list[str]]:
    """The registry of configured periods, and every error with its config path. Names in
    ``stand_ins`` (periods that failed validation) are known but empty."""
    built = timeperiods.Registry()
    problems = []
    for name in stand_ins:
        if name not in periods:
            built.add(timeperiods.TimePeriod(name, {}))
    for name, spec in periods.items():
        try:
            built.add(
                timeperiods.TimePeriod(
                    name,
                    spec.ranges,
                    includes=spec.includes,
                    excludes=spec.excludes,
                    prefer_includes=spec.prefer_includes,
                    timezone=spec.timezone,
                )
            )
        except timeperiods.TimePeriodError as exc:
            problems.append(_period_error_path(name, exc))
            # A stand-in keeps the name known, so references to it are checked, not reported.
            built.add(
                timeperiods.TimePeriod(name, {}, includes=spec.includes, excludes=spec.excludes)
            )
    problems += [_period_error_path(e.period or "?", e) for e in built.check()]
    return built, problems


def _period_error_path(name: str, exc: timeperiods.TimePeriodError) -> str:
    path = f"timeperiods.{name}"
    if exc.key is not None:
        path += f".ranges[{exc.key!r}]"
    elif exc.text is not None:
        path += f".ranges[{exc.text!r}]"
    elif "time zone" in exc.problem:
        path += ".timezone"
    elif "includes" in exc.problem or "excludes" in exc.problem:
        path += ".includes/excludes"
    detail = str(exc.within(period=None))
    prefix = f"time period {name!r}"
    if detail.startswith(prefix):
        detail = detail[len(prefix) :].lstrip(",: ")
    return f"{path}: {detail}"


def semantic_errors(
    settings: Settings, broken: Broken | None = None, names: Mapping[int, str] | None = None
) -> list[str]:
    """Every reference, duplicate and cycle problem, skipping what already failed."""
    broken = broken or Broken()
    names = names if names is not None else {i: j.name for i, j in enumerate(settings.jobs)}
    stand_ins = broken.names.get("timeperiods", set())
    _, problems = build_timeperiods(settings.timeperiods, stand_ins)
    known_jobs = set(names.values())
    seen: dict[str, int] = {}
    for i, job in enumerate(settings.jobs):
        where = errors.job_where(i, names)
        if not broken.job(i, "name"):
            if job.name in seen:
                first = errors.job_where(seen[job.name], names)
                problems.append(f"{where}.name: {job.name!r} is already the name of {first}")
            else:
                seen[job.name] = i
        if (
            not broken.job(i, "timeperiod")
            and job.timeperiod is not None
            and job.timeperiod not in settings.timeperiods
            and not broken.has("timeperiods", job.timeperiod)
        ):
            what = errors.unknown("time period", job.timeperiod, settings.timeperiods)
            problems.append(f"{where}.timeperiod: {what}")
        if not broken.job(i, "interval") and job.interval is not None and job.interval <= 0:
            problems.append(f"{where}.interval: must be more than 0 seconds")
        if not broken.job(i, "after"):
            for other in job.after:
                if other not in known_jobs:
                    problems.append(f"{where}.after: unknown job {other!r}")
                elif other == job.name:
                    problems.append(f"{where}.after: a job cannot run after itself")
    problems += _after_cycles(settings.jobs, names, broken)
    for name, rule in settings.sync_rules.items():
        for i, source in enumerate(rule.sources):
            if source not in settings.import_sources and not broken.has("import_sources", source):
                what = errors.unknown("import source", source, settings.import_sources)
                problems.append(f"sync_rules.{name}.sources[{i}]: {what}")
    problems += _database_errors(settings)
    listen = settings.http.listen
    if not _valid_listen(listen):
        problems.append(f"http.listen: {listen!r} is not host:port (e.g. 127.0.0.1:8040)")
    return problems


def _database_errors(settings: Settings) -> list[str]:
    problems = []
    shown = redact.redact_url(settings.database)
    if not settings.shared_database and not settings.database.startswith(
        ("sqlite:///", "memory://")
    ):
        problems.append(
            f"database: {shown!r} is neither sqlite:///path/to/file.db nor "
            "postgresql://user@host:5432/db"
        )
    if settings.runner_scope == "cluster" and not settings.shared_database:
        problems.append(
            "runner.scope: 'cluster' needs a database the nodes share (database: "
            "postgresql://...); a SQLite file belongs to one daemon, so use 'node'"
        )
    if settings.database_password_file is not None and not settings.shared_database:
        problems.append("database_password_file: only a PostgreSQL database takes a password")
    if settings.shared_database and urllib.parse.urlsplit(settings.database).password:
        problems.append(
            f"database: {shown!r} holds a password; put it in database_password_file "
            "(or PGPASSWORD / ~/.pgpass) instead"
        )
    if settings.runner.lease < 1:
        problems.append(f"runner.lease: {settings.runner.lease:g}s is too short (at least 1s)")
    return problems


def _after_cycles(jobs: list[JobConfig], names: Mapping[int, str], broken: Broken) -> list[str]:
    usable = [(i, j) for i, j in enumerate(jobs) if not broken.job(i, "name", "after")]
    graph = {j.name: [a for a in j.after if a != j.name] for _, j in usable}
    index = {j.name: i for i, j in usable}
    state: dict[str, int] = {}
    problems: list[str] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in graph.get(name, []):
            if other not in graph:
                continue
            if state.get(other) == 1:
                cycle = " -> ".join([*path[path.index(other) :], other])
                where = errors.job_where(index[other], names)
                problems.append(f"{where}.after: chained jobs form a cycle: {cycle}")
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    return problems


def _valid_listen(listen: str) -> bool:
    host, sep, port = listen.rpartition(":")
    return bool(sep) and bool(host) and port.isdigit() and 0 <= int(port) <= 65535


@dataclass(frozen=True)
class ConfigWarning:
    """Something that works but deserves a look, with its config path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _period_names(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in PERIOD_PROPERTIES and isinstance(item, str) and "${" not in item:
                yield item
            else:
                yield from _period_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _period_names(item)


def icinga_periods(settings: Settings) -> set[str]:
    """The periods Icinga 2 evaluates too: marked ``in_icinga`` (kept in both, or imported
    from Director), or named by an object directord renders (``check_period: workhours``)."""
    out = {name for name, spec in settings.timeperiods.items() if spec.in_icinga}
    for template in settings.templates.values():
        out.update(_period_names(template.properties))
    for rule in settings.sync_rules.values():
        out.update(_period_names(rule.properties))
    return out


def warnings(
    settings: Settings, today: date, *, icinga_compat: bool = False
) -> list[ConfigWarning]:
    """Things that work but deserve a look: secret files others can read; where Icinga 2
    evaluates a period differently, for the periods Icinga 2 evaluates too (all periods with
    ``icinga_compat``)."""
    out = [
        ConfigWarning(where, f"{path} is readable by every user: chmod o-r {path}")
        for where, path in config_secrets.readable_secret_files(settings)
    ]
    periods, _ = build_timeperiods(settings.timeperiods)
    shared = icinga_periods(settings)
    for period in periods:
        if icinga_compat or period.name in shared:
            for message in compare.icinga_differences(period, today):
                out.append(ConfigWarning(f"timeperiods.{period.name}", message))
    return out
