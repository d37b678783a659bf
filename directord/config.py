"""config.yaml -> validated, typed settings. Every error names the field path and the value.

The keys are a public contract (ARCHITECTURE.md): add freely, rename none.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError

from directord import calendar, errors, redact, timeperiods, units
from directord.icinga.api import ApiConfig
from directord.icinga.render import Template
from directord.icinga.rules import SyncRule
from directord.icinga.sources import ImportSource
from directord.jobs import registry
from directord.timeperiods import compare

DEFAULT_PATHS = (Path("config.yaml"), Path("/etc/directord/config.yaml"))
DEFAULT_LISTEN = "127.0.0.1:8040"
DEFAULT_MONITOR_PORT = 20101

# Deprecated re-exports: these moved to the leaf modules errors, units and redact; import them
# from there. Kept so code written against config.X goes on working.
ConfigError = errors.ConfigError
unknown = errors.unknown
validation_errors = errors.validation_errors
parse_duration = units.parse_duration
parse_size = units.parse_size
Duration = units.Duration
Size = units.Size
SECRET_WORDS = redact.SECRET_WORDS
is_secret_name = redact.is_secret_name


def _wall_times(value: Any) -> Any:
    """``at`` as written; a bare number is YAML 1.1 reading an unquoted 12:30 as 750."""
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, int | float) and not isinstance(item, bool):
            raise ValueError(
                f"{item!r} is a number: YAML reads an unquoted 12:30 as 750 (base 60); "
                'write the time quoted, at: "12:30"'
            )
    return value


WallTimes = Annotated[str | list[str], BeforeValidator(_wall_times)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimePeriodConfig(_Model):
    timezone: str = "UTC"
    display_name: str | None = None
    ranges: dict[str, str] = Field(default_factory=dict)
    includes: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)
    prefer_includes: bool = True


class IcingaConfig(_Model):
    """Where rendered config goes: Icinga 2's API (config packages), or files in render_dir."""

    api: ApiConfig | None = None
    package: str = Field("directord", pattern=r"^[A-Za-z0-9_.-]+$")
    zone: str = "master"
    render_dir: str = "./rendered"


class HttpConfig(_Model):
    listen: str = DEFAULT_LISTEN
    token_file: str | None = None
    # /health turns 503 when the supervisor has not ticked for this long.
    stale_after: Duration = 60.0
    # Connection hygiene (web/app.py): idle keep-alive connections and requests whose head does
    # not arrive in time are closed, and connections never eat the file descriptors jobs need.
    idle_timeout: Duration = 15.0
    header_timeout: Duration = 10.0
    max_connections: int = Field(64, ge=1)
    fd_reserve: int = Field(64, ge=0)
    # Names besides the listen address that requests may carry in Host (a reverse proxy's).
    hosts: list[str] = Field(default_factory=list)


class MonitorConfig(_Model):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_MONITOR_PORT, ge=0, le=65535)


class RunnerConfig(_Model):
    concurrency: int = Field(1, ge=1)
    scope: Literal["node", "cluster"] = "node"
    shutdown_grace: Duration = 30.0
    memory_growth_limit: Size = 256 << 20
    max_lifetime: Duration = 0.0


class RetryConfig(_Model):
    attempts: int = Field(0, ge=0)
    backoff: Duration = 30.0


class JobConfig(_Model):
    name: str = Field(min_length=1)
    kind: str
    # A schedule: interval, at, cron, or interval + at (calendar.py).
    interval: Duration | None = None
    at: WallTimes | None = None
    cron: str | None = None
    timezone: str | None = None  # of at/cron; default: the time period's zone, else UTC
    catch_up: Duration | None = None  # default: one interval with at, else 1h; 0: never
    timeperiod: str | None = None
    timeout: Duration | None = None
    disabled: bool = False
    retry: RetryConfig = Field(default_factory=RetryConfig)
    after: list[str] = Field(default_factory=list)
    only_if_changed: bool = False
    description: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class Settings(_Model):
    database: str = "sqlite:///var/lib/directord/directord.db"
    node: str = Field(default_factory=socket.gethostname)
    http: HttpConfig = Field(default_factory=HttpConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    timeperiods: dict[str, TimePeriodConfig] = Field(default_factory=dict)
    icinga: IcingaConfig = Field(default_factory=IcingaConfig)
    templates: dict[str, Template] = Field(default_factory=dict)
    import_sources: dict[str, ImportSource] = Field(default_factory=dict)
    sync_rules: dict[str, SyncRule] = Field(default_factory=dict)
    jobs: list[JobConfig] = Field(default_factory=list)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str | None = PrivateAttr(default=None)
    # Each job's validated kind settings and the kind errors, for the kinds they were checked
    # against: filled once per load by registry.validate_jobs.
    _validated_jobs: tuple[registry.Kinds, dict[str, Any], list[str]] | None = PrivateAttr(
        default=None
    )

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def source(self) -> str | None:
        return self._source

    def resolve_path(self, path: str | os.PathLike[str]) -> Path:
        """Relative paths in the config are relative to the config file."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self._base_dir / p

    def database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute."""
        prefix = "sqlite:///"
        if self.database.startswith(prefix):
            path = self.database[len(prefix) :]
            if path != ":memory:":
                return prefix + str(self.resolve_path(path))
        return self.database

    def job(self, name: str) -> JobConfig:
        for job in self.jobs:
            if job.name == name:
                return job
        raise ConfigError([unknown("job", name, (j.name for j in self.jobs))], self._source)


def find_config(explicit: str | None) -> Path:
    """``--config``, then $DIRECTORD_CONFIG, then ./config.yaml, then /etc/directord/config.yaml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("DIRECTORD_CONFIG")
    if env:
        return Path(env)
    for candidate in DEFAULT_PATHS:
        if candidate.exists():
            return candidate
    raise ConfigError(
        [
            "no config file: give --config, set DIRECTORD_CONFIG, or create ./config.yaml "
            "or /etc/directord/config.yaml"
        ]
    )


def load(path: str | os.PathLike[str], kinds: registry.Kinds | None = None) -> Settings:
    """Read, parse and validate a config file; raise ConfigError listing every problem."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read the config file: {exc.strerror}"], source) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}not valid YAML: {problem}"], source) from None
    settings = parse(
        raw if raw is not None else {}, base_dir=path.resolve().parent, source=source, kinds=kinds
    )
    return settings


def parse(
    raw: Any,
    *,
    base_dir: Path | None = None,
    source: str | None = None,
    kinds: registry.Kinds | None = None,
) -> Settings:
    """Validate a parsed config. With ``kinds``, each job's kind and settings are checked too,
    so every error (fields, references, kinds, kind settings) is reported at once."""
    if not isinstance(raw, dict):
        raise ConfigError(["the top level must be a mapping of keys"], source)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_errors(exc), source) from None
    settings._base_dir = base_dir or Path.cwd()
    settings._source = source
    problems = _semantic_errors(settings)
    if kinds is not None:
        problems += registry.validate_jobs(settings, kinds)[1]
    if problems:
        raise ConfigError(problems, source)
    return settings


def build_timeperiods(
    periods: Mapping[str, TimePeriodConfig],
) -> tuple[timeperiods.Registry, list[str]]:
    """The registry of configured periods, and every error with its config path."""
    built = timeperiods.Registry()
    problems = []
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


def _semantic_errors(settings: Settings) -> list[str]:
    _, problems = build_timeperiods(settings.timeperiods)
    seen: dict[str, int] = {}
    for i, job in enumerate(settings.jobs):
        where = f"jobs[{i}]"
        if job.name in seen:
            problems.append(
                f"{where}.name: {job.name!r} is already the name of jobs[{seen[job.name]}]"
            )
        else:
            seen[job.name] = i
        if job.timeperiod is not None and job.timeperiod not in settings.timeperiods:
            what = unknown("time period", job.timeperiod, settings.timeperiods)
            problems.append(f"{where}.timeperiod: {what}")
        if job.interval is not None and job.interval <= 0:
            problems.append(f"{where}.interval: must be more than 0 seconds")
        problems.extend(schedule_errors(job, i, settings))
        for other in job.after:
            if other not in {j.name for j in settings.jobs}:
                problems.append(f"{where}.after: unknown job {other!r}")
            elif other == job.name:
                problems.append(f"{where}.after: a job cannot run after itself")
    problems.extend(_after_cycles(settings.jobs))
    for name, rule in settings.sync_rules.items():
        for i, source in enumerate(rule.sources):
            if source not in settings.import_sources:
                what = unknown("import source", source, settings.import_sources)
                problems.append(f"sync_rules.{name}.sources[{i}]: {what}")
    if settings.runner.scope == "cluster":
        problems.append(
            "runner.scope: 'cluster' needs the PostgreSQL store, which this build does not have "
            "yet; use 'node'"
        )
    listen = settings.http.listen
    if not _valid_listen(listen):
        problems.append(f"http.listen: {listen!r} is not host:port (e.g. 127.0.0.1:8040)")
    return problems


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
    errors = []
    zone = job_zone(job, settings)
    try:
        calendar.zone(zone)
    except calendar.CalendarError as exc:
        field = "timezone" if job.timezone is not None else "timeperiod"
        errors.append(f"{where}.{field}: {exc}")
        zone = "UTC"
    field = "cron" if job.cron is not None else "at"
    try:
        if job.at is not None:
            calendar.parse_at(job.at)
            field = "interval"
        calendar.build(at=job.at, cron=job.cron, interval=job.interval, tz=zone)
    except calendar.CalendarError as exc:
        errors.append(f"{where}.{field}: {exc}")
    if job.at is None and job.cron is None:
        for key in ("timezone", "catch_up"):
            if getattr(job, key) is not None:
                errors.append(f"{where}.{key}: applies only to a job with at or cron")
    return errors


def _after_cycles(jobs: list[JobConfig]) -> list[str]:
    graph = {j.name: [a for a in j.after if a != j.name] for j in jobs}
    index = {j.name: i for i, j in enumerate(jobs)}
    state: dict[str, int] = {}
    problems: list[str] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in graph.get(name, []):
            if other not in graph:
                continue
            if state.get(other) == 1:
                cycle = " -> ".join([*path[path.index(other) :], other])
                problems.append(f"jobs[{index[other]}].after: chained jobs form a cycle: {cycle}")
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
class Warning_:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def warnings(settings: Settings, today: date) -> list[Warning_]:
    """Things that work but deserve a look: where Icinga 2 evaluates a period differently."""
    periods, _ = build_timeperiods(settings.timeperiods)
    out = []
    for period in periods:
        for message in compare.icinga_differences(period, today):
            out.append(Warning_(f"timeperiods.{period.name}", message))
    return out
