"""What directord reads from Director's database, as plain frozen values (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Director 1.7 (schema 167) added director_daemon_info; older schemas lack what we read.
MIN_SCHEMA = 167

HOUSEKEEPING = "Icinga\\Module\\Director\\Job\\HousekeepingJob"
IMPORT = "Icinga\\Module\\Director\\Job\\ImportJob"
SYNC = "Icinga\\Module\\Director\\Job\\SyncJob"
CONFIG = "Icinga\\Module\\Director\\Job\\ConfigJob"


@dataclass(frozen=True)
class DirectorJob:
    id: int
    name: str
    job_class: str
    disabled: bool
    run_interval: int
    timeperiod_id: int | None
    settings: dict[str, str | None] = field(default_factory=dict, compare=False, hash=False)
    last_attempt: float | None = field(default=None, compare=False)
    last_succeeded: bool | None = field(default=None, compare=False)
    last_error: str | None = field(default=None, compare=False)

    @property
    def short_class(self) -> str:
        return self.job_class.rsplit("\\", 1)[-1]


@dataclass(frozen=True)
class Range:
    key: str
    value: str
    type: str  # 'include' or 'exclude'


@dataclass(frozen=True)
class Period:
    id: int
    name: str
    object_type: str  # 'object' or 'template'
    prefer_includes: bool | None
    ranges: tuple[Range, ...] = ()
    imports: tuple[int, ...] = ()  # parents in weight order
    includes: tuple[int, ...] = ()
    excludes: tuple[int, ...] = ()


@dataclass(frozen=True)
class DaemonInfo:
    instance: str
    fqdn: str
    pid: int
    last_update: float  # epoch seconds
    stopped: float | None


@dataclass(frozen=True)
class Snapshot:
    schema_version: int
    jobs: tuple[DirectorJob, ...]
    periods: dict[int, Period]
    disable_all_jobs: bool
    daemons: tuple[DaemonInfo, ...] = ()
