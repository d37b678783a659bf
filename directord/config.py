"""config.yaml -> validated, typed settings. Every error names the field path and the value.

The keys are a public contract (ARCHITECTURE.md): add freely, rename none.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)

from directord import config_checks, errors, files, job_schedule, redact, safeyaml, units
from directord.director import config as director_config
from directord.icinga.api import ApiConfig
from directord.icinga.render import Template
from directord.icinga.rules import SyncRule
from directord.icinga.sources import ImportSource
from directord.jobs import registry

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
    # Icinga 2 evaluates this period too (the same definition exists there): config check
    # shows where the two evaluations differ.
    in_icinga: bool = False


class IcingaConfig(_Model):
    """Where rendered config goes: Icinga 2's API (config packages), or files in render_dir."""

    api: ApiConfig | None = None
    package: str = Field("directord", pattern=r"^[A-Za-z0-9_.-]+$")
    zone: str = "master"
    render_dir: str = "./rendered"


class TlsConfig(_Model):
    """HTTPS for the status endpoint, the API and the pages (paths relative to the config)."""

    cert: str
    key: str


class HttpConfig(_Model):
    listen: str = DEFAULT_LISTEN
    token_file: str | None = None
    # /health turns 503 when the supervisor has not ticked for this long.
    stale_after: units.PositiveDuration = 60.0
    # Connection hygiene (web/app.py): idle keep-alive connections and requests whose head does
    # not arrive in time are closed, and connections never eat the file descriptors jobs need.
    idle_timeout: units.Duration = 15.0
    header_timeout: units.Duration = 10.0
    max_connections: int = Field(64, ge=1)
    fd_reserve: int = Field(64, ge=0)
    # Names besides the listen address that requests may carry in Host (a reverse proxy's).
    hosts: list[str] = Field(default_factory=list)
    tls: TlsConfig | None = None


class WebUser(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    # An argon2id hash from `directord user hash`; never the password itself.
    password_hash: str = Field(pattern=r"^\$argon2(id|i|d)\$")
    role: Literal["viewer", "operator"] = "viewer"


class WebConfig(_Model):
    """The pages: off without users. Sessions end ``session_ttl`` after their last use."""

    users: list[WebUser] = Field(default_factory=list)
    session_ttl: units.PositiveDuration = 8 * 3600.0


class MonitorConfig(_Model):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_MONITOR_PORT, ge=0, le=65535)


class RunnerConfig(_Model):
    concurrency: int = Field(1, ge=1)
    # 'cluster': runner.concurrency counts the runs of every node sharing the database (the
    # default on PostgreSQL); 'node': each node limits only its own. Unset: by the database.
    scope: Literal["node", "cluster"] = "node"
    # How long a claimed run stays its node's without a renewal (every lease/3): a node that
    # dies loses its runs to 'interrupted' after at most this long (PostgreSQL only).
    lease: units.Duration = 30.0
    shutdown_grace: units.Duration = 30.0
    memory_growth_limit: units.Size = 256 << 20
    max_lifetime: units.Duration = 0.0


class RetryConfig(_Model):
    attempts: int = Field(0, ge=0)
    backoff: units.Duration = 30.0


# Job names appear in URLs, file names, logs and tables: letters and digits (any script),
# then also _ - . : @ + and inner spaces, up to 128 characters.
JOB_NAME_RULE = (
    "letters, digits and _ - . : @ + and inner spaces, up to 128 characters, "
    "starting with a letter or digit"
)
_JOB_NAME_RE = re.compile(r"[^\W_][\w.:@+ -]{0,127}")


def _job_name(value: Any) -> Any:
    if isinstance(value, str) and not (_JOB_NAME_RE.fullmatch(value) and value[-1] != " "):
        raise ValueError(f"{value!r} is not a job name: use {JOB_NAME_RULE}")
    return value


class JobConfig(_Model):
    name: Annotated[str, AfterValidator(_job_name)]
    kind: str
    # A schedule: interval, at, cron, or interval + at (calendar.py).
    interval: units.Duration | None = None
    at: WallTimes | None = None
    cron: str | None = None
    timezone: str | None = None  # of at/cron; default: the time period's zone, else UTC
    catch_up: units.Duration | None = None  # default: one interval with at, else 1h; 0: never
    timeperiod: str | None = None
    timeout: units.Duration | None = None
    disabled: bool = False
    retry: RetryConfig = Field(default_factory=RetryConfig)
    after: list[str] = Field(default_factory=list)
    only_if_changed: bool = False
    description: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


class Settings(_Model):
    database: str = "sqlite:///var/lib/directord/directord.db"
    # The PostgreSQL password, from a file (relative to the config file); without it libpq's
    # PGPASSWORD or ~/.pgpass. Never a value in the config itself.
    database_password_file: str | None = None
    node: str = Field(default_factory=socket.gethostname, min_length=1)
    http: HttpConfig = Field(default_factory=HttpConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    timeperiods: dict[str, TimePeriodConfig] = Field(default_factory=dict)
    icinga: IcingaConfig = Field(default_factory=IcingaConfig)
    templates: dict[str, Template] = Field(default_factory=dict)
    import_sources: dict[str, ImportSource] = Field(default_factory=dict)
    sync_rules: dict[str, SyncRule] = Field(default_factory=dict)
    jobs: list[JobConfig] = Field(default_factory=list)
    # Icinga Director's jobs, read from its database (directord/director/).
    director: director_config.DirectorConfig | None = None

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: str | None = PrivateAttr(default=None)
    # Each job's validated kind settings and the kind errors, for the kinds they were checked
    # against: filled once per load by registry.validate_jobs, with the jobs they are for (a
    # model_copy with other jobs keeps the attribute but does not match it).
    _validated_jobs: (
        tuple[registry.Kinds, tuple[JobConfig, ...], dict[str, Any], list[str]] | None
    ) = PrivateAttr(default=None)
    # Built on first use by config_secrets.redactor (it reads the secret files), with the id of
    # the settings it is for: a model_copy (other jobs, other secrets) builds its own.
    _redactor: tuple[int, redact.Redactor] | None = PrivateAttr(default=None)
    # Where each job comes from when it is not config.yaml (catalog.Managed: store, director).
    _managed: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def managed(self) -> Mapping[str, str]:
        """Where each job's definition lives when it is not config.yaml: store or director
        (catalog.Managed; the catalog sets it when it merges the sources)."""
        return self._managed

    def managed_by(self, name: str) -> str:
        """config, store or director: where job ``name``'s definition lives."""
        return self._managed.get(name, "config")

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

    @property
    def shared_database(self) -> bool:
        """Whether several nodes may share the database (PostgreSQL)."""
        return self.database.startswith(("postgresql://", "postgres://"))

    @property
    def runner_scope(self) -> str:
        """runner.scope as configured, else 'cluster' on PostgreSQL and 'node' on SQLite."""
        if "scope" in self.runner.model_fields_set:
            return self.runner.scope
        return "cluster" if self.shared_database else "node"

    def store_options(self) -> dict[str, Any]:
        """The keywords of ``store.open_store`` this config asks for."""
        password = self.database_password_file
        return {
            "password_file": None if password is None else self.resolve_path(password),
            "node": self.node,
            "lease": self.runner.lease,
            "cluster_limit": self.runner.concurrency if self.runner_scope == "cluster" else None,
        }

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
    """Read, parse and validate a config file; raise ConfigError listing every problem.

    The file is read without blocking and up to a size limit; YAML nested too deep or with
    aliases that expand too far is refused with its line and column."""
    path = Path(path)
    source = str(path)
    try:
        data = files.read_limited(path, files.CONFIG_LIMIT)
    except files.FileProblem as exc:
        raise ConfigError([f"the config file: {exc}"], source) from None
    try:
        raw = safeyaml.load(safeyaml.decode(data))
    except safeyaml.YamlProblem as exc:
        raise ConfigError([str(exc)], source) from None
    return parse(
        raw if raw is not None else {}, base_dir=path.resolve().parent, source=source, kinds=kinds
    )


def parse(
    raw: Any,
    *,
    base_dir: Path | None = None,
    source: str | None = None,
    kinds: registry.Kinds | None = None,
) -> Settings:
    """Validate a parsed config. Every error is reported at once: a section or job that fails
    validation is left out of the checks that follow (references, duplicates, cycles, kinds,
    kind settings), which still run for everything else. With ``kinds``, each job's kind and
    settings are checked too. Paths name the job: ``jobs[5] (nightly-backup).timeperiod``."""
    if not isinstance(raw, dict):
        raise ConfigError(["the top level must be a mapping of keys"], source)
    names = _job_names(raw.get("jobs"))
    problems, settings, broken = _validate(raw, names)
    settings._base_dir = base_dir or Path.cwd()
    settings._source = source
    problems += config_checks.semantic_errors(settings, broken, names)
    for i, job in enumerate(settings.jobs):
        if not broken.job(i, "name", *job_schedule.SCHEDULE_FIELDS):
            problems += job_schedule.schedule_errors(job, i, settings)
    if kinds is not None:
        skip = {i for i, fields in broken.job_fields.items() if fields & {"*", "kind", "settings"}}
        problems += registry.validate_jobs(settings, kinds, skip=skip, names=names)[1]
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)), source)
    return settings


def job_problems(settings: Settings, kinds: registry.Kinds, jobs: list[JobConfig]) -> list[str]:
    """What ``parse`` would say of ``settings`` with ``jobs`` as its jobs: the same checks for a
    job made in the web or the API as for one in config.yaml."""
    candidate = settings.model_copy(update={"jobs": jobs})
    candidate._validated_jobs = None
    names = {i: j.name for i, j in enumerate(jobs)}
    problems = config_checks.semantic_errors(candidate, None, names)
    for i, job in enumerate(jobs):
        problems += job_schedule.schedule_errors(job, i, candidate)
    problems += registry.validate_jobs(candidate, kinds, names=names)[1]
    return list(dict.fromkeys(problems))


def _job_names(jobs: Any) -> dict[int, str]:
    if not isinstance(jobs, list):
        return {}
    return {
        i: job["name"]
        for i, job in enumerate(jobs)
        if isinstance(job, dict) and isinstance(job.get("name"), str)
    }


# Sections that are mappings of named entries: a broken entry is left out alone, not the section.
NAMED_SECTIONS = ("timeperiods", "templates", "import_sources", "sync_rules")
# Stand-ins for required job fields that failed, so the job's other fields are still checked.
_PLACEHOLDERS: dict[str, Any] = {"name": "placeholder", "kind": "placeholder"}


def _validate(
    raw: dict[Any, Any], names: dict[int, str]
) -> tuple[list[str], Settings, config_checks.Broken]:
    """Validate what can be validated: the problems, the settings without what failed (broken
    jobs as stand-ins, so indices stay), and what failed."""
    problems: list[str] = []
    broken = config_checks.Broken()
    work = dict(raw)
    raw_jobs = work.pop("jobs", [])
    if not isinstance(raw_jobs, list):
        problems.append(f"jobs: should be a list of jobs, not {type(raw_jobs).__name__}")
        broken.sections.add("jobs")
        raw_jobs = []
    settings: Settings | None = None
    for _ in range(3):  # every error is pruned at once; the retries are for stragglers
        try:
            settings = Settings.model_validate(work)
            break
        except ValidationError as exc:
            problems += errors.validation_errors(exc)
            for error in exc.errors():
                _prune(work, error["loc"], broken)
    if settings is None:
        raise ConfigError(problems)
    jobs = []
    for i, raw_job in enumerate(raw_jobs):
        job, job_problems, failed = _validate_job(raw_job, i, names)
        problems += job_problems
        if failed:
            broken.job_fields[i] = failed
        jobs.append(job)
    return problems, settings.model_copy(update={"jobs": jobs}), broken


def _prune(work: dict[Any, Any], loc: tuple[int | str, ...], broken: config_checks.Broken) -> None:
    if not loc:
        return
    key = loc[0]
    section = work.get(key)
    if key in NAMED_SECTIONS and len(loc) >= 2 and isinstance(section, dict):
        work[key] = {k: v for k, v in section.items() if k != loc[1]}
        broken.names.setdefault(str(key), set()).add(str(loc[1]))
    else:
        work.pop(key, None)
        broken.sections.add(str(key))


def _validate_job(
    raw: Any, index: int, names: dict[int, str]
) -> tuple[JobConfig, list[str], frozenset[str]]:
    """The job, its problems, and the fields that failed ("*": the whole job)."""
    stand_in = JobConfig.model_validate(_PLACEHOLDERS)
    if not isinstance(raw, dict):
        return stand_in, [f"jobs[{index}]: should be a mapping, not {type(raw).__name__}"], ALL
    try:
        return JobConfig.model_validate(raw), [], frozenset()
    except ValidationError as exc:
        problems = errors.validation_errors(exc, ("jobs", index), names=names)
        failed = frozenset(str(e["loc"][0]) if e["loc"] else "*" for e in exc.errors())
    kept = {k: v for k, v in raw.items() if k not in failed}
    for field, value in _PLACEHOLDERS.items():
        kept.setdefault(field, value)
    try:
        job = JobConfig.model_validate(kept)
    except ValidationError:
        return stand_in, problems, ALL
    missing = {f for f in _PLACEHOLDERS if f not in raw}
    return job, problems, failed | missing


ALL = frozenset({"*"})

# Moved to config_checks; kept here for callers of config.X.
build_timeperiods = config_checks.build_timeperiods
warnings = config_checks.warnings
ConfigWarning = config_checks.ConfigWarning
