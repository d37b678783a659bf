"""config.yaml -> validated, typed settings. Every error names the field path and the value.

The keys are a public contract (ARCHITECTURE.md): add freely, rename none.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError

from directord import timeperiods
from directord.icinga.api import ApiConfig
from directord.icinga.render import Template
from directord.icinga.rules import SyncRule
from directord.icinga.sources import ImportSource

if TYPE_CHECKING:
    from directord.jobs.registry import Kinds

DEFAULT_PATHS = (Path("config.yaml"), Path("/etc/directord/config.yaml"))
DEFAULT_LISTEN = "127.0.0.1:8040"
DEFAULT_MONITOR_PORT = 20101

_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*\Z")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB|K|M|G)?\s*\Z")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
    "TiB": 1 << 40,
    "K": 1 << 10,
    "M": 1 << 20,
    "G": 1 << 30,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
}


class ConfigError(Exception):
    """A config that cannot be used. ``errors`` holds one line per problem, each with its path."""

    def __init__(self, errors: Iterable[str], source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.source}: " if self.source else ""
        if len(self.errors) == 1:
            return f"{head}{self.errors[0]}"
        lines = "\n".join(f"  {e}" for e in self.errors)
        return f"{head}{len(self.errors)} errors\n{lines}"


def unknown(what: str, name: str, known: Iterable[str], none: str = "none defined") -> str:
    """``unknown import source 'x' (known: a, b)``: the one way we say a name does not exist."""
    listed = ", ".join(sorted(known)) or none
    return f"unknown {what} {name!r} (known: {listed})"


def parse_duration(value: Any) -> float:
    """``30s``, ``5m``, ``1h``, ``1d``, ``250ms`` or plain seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (use 30s, 5m, 1h, 1d)")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a duration is 0 or more")
        return float(value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    raise ValueError(f"{value!r} is not a duration (use 30s, 5m, 1h, 1d)")


def parse_size(value: Any) -> int:
    """``256MiB``, ``1GiB``, ``500MB`` or plain bytes -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    raise ValueError(f"{value!r} is not a size (use 256MiB, 1GiB or bytes)")


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


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
    interval: Duration
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


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out or "(top level)"


# Besides what a job kind declares secret, any setting named like one of these is never shown.
SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "api_key", "credential")


def is_secret_name(name: object, declared: frozenset[str] = frozenset()) -> bool:
    text = str(name).lower()
    return name in declared or any(word in text for word in SECRET_WORDS)


def _message(error: Mapping[str, Any], secret: bool = False) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "missing":
        return "missing (required)"
    if kind == "extra_forbidden":
        return "unknown key"
    if msg.startswith("Value error, "):
        return str(msg[len("Value error, ") :])
    value = error.get("input")
    if secret:
        return f"{msg[0].lower()}{msg[1:]} (value not shown: a secret)"
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{value!r}: {msg[0].lower()}{msg[1:]}"
    return f"{msg[0].lower()}{msg[1:]}"


def validation_errors(
    exc: ValidationError,
    prefix: tuple[int | str, ...] = (),
    secret: frozenset[str] = frozenset(),
) -> list[str]:
    """One line per error: its field path and what is wrong. Values of fields that are secret
    (named in ``secret``, or named like a password or token) are not repeated."""
    return [
        f"{_loc((*prefix, *e['loc']))}: "
        f"{_message(e, any(is_secret_name(part, secret) for part in e['loc']))}"
        for e in exc.errors()
    ]


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


def load(path: str | os.PathLike[str], kinds: Kinds | None = None) -> Settings:
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
    kinds: Kinds | None = None,
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
    errors = _semantic_errors(settings)
    if kinds is not None:
        from directord.jobs.registry import validate_jobs

        errors += validate_jobs(settings, kinds)[1]
    if errors:
        raise ConfigError(errors, source)
    return settings


def build_timeperiods(
    periods: Mapping[str, TimePeriodConfig],
) -> tuple[timeperiods.Registry, list[str]]:
    """The registry of configured periods, and every error with its config path."""
    registry = timeperiods.Registry()
    errors = []
    for name, spec in periods.items():
        try:
            registry.add(
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
            errors.append(_period_error_path(name, exc))
            # A stand-in keeps the name known, so references to it are checked, not reported.
            registry.add(
                timeperiods.TimePeriod(name, {}, includes=spec.includes, excludes=spec.excludes)
            )
    errors += [_period_error_path(e.period or "?", e) for e in registry.check()]
    return registry, errors


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
    _, errors = build_timeperiods(settings.timeperiods)
    seen: dict[str, int] = {}
    for i, job in enumerate(settings.jobs):
        where = f"jobs[{i}]"
        if job.name in seen:
            errors.append(
                f"{where}.name: {job.name!r} is already the name of jobs[{seen[job.name]}]"
            )
        else:
            seen[job.name] = i
        if job.timeperiod is not None and job.timeperiod not in settings.timeperiods:
            what = unknown("time period", job.timeperiod, settings.timeperiods)
            errors.append(f"{where}.timeperiod: {what}")
        if job.interval <= 0:
            errors.append(f"{where}.interval: must be more than 0 seconds")
        for other in job.after:
            if other not in {j.name for j in settings.jobs}:
                errors.append(f"{where}.after: unknown job {other!r}")
            elif other == job.name:
                errors.append(f"{where}.after: a job cannot run after itself")
    errors.extend(_after_cycles(settings.jobs))
    for name, rule in settings.sync_rules.items():
        for i, source in enumerate(rule.sources):
            if source not in settings.import_sources:
                what = unknown("import source", source, settings.import_sources)
                errors.append(f"sync_rules.{name}.sources[{i}]: {what}")
    if settings.runner.scope == "cluster":
        errors.append(
            "runner.scope: 'cluster' needs the PostgreSQL store, which this build does not have "
            "yet; use 'node'"
        )
    listen = settings.http.listen
    if not _valid_listen(listen):
        errors.append(f"http.listen: {listen!r} is not host:port (e.g. 127.0.0.1:8040)")
    return errors


def _after_cycles(jobs: list[JobConfig]) -> list[str]:
    graph = {j.name: [a for a in j.after if a != j.name] for j in jobs}
    index = {j.name: i for i, j in enumerate(jobs)}
    state: dict[str, int] = {}
    errors: list[str] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in graph.get(name, []):
            if other not in graph:
                continue
            if state.get(other) == 1:
                cycle = " -> ".join([*path[path.index(other) :], other])
                errors.append(f"jobs[{index[other]}].after: chained jobs form a cycle: {cycle}")
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    return errors


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
    from directord.timeperiods.compare import icinga_differences

    registry, _ = build_timeperiods(settings.timeperiods)
    out = []
    for period in registry:
        for message in icinga_differences(period, today):
            out.append(Warning_(f"timeperiods.{period.name}", message))
    return out
