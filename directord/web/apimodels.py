"""The JSON API's shapes as pydantic models: the handlers answer with them and
``web/openapi.py`` generates the OpenAPI document from them, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from directord import config as config_mod


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(_Out):
    error: str
    request_id: str | None = None


class FieldErrorOut(_Out):
    field: str = Field(description="the config key, relative to the job (``settings.command``)")
    message: str


class ValidationOut(_Out):
    errors: list[FieldErrorOut]


class RunningOut(_Out):
    run_id: int | None
    started: str
    elapsed: float


class JobOut(_Out):
    name: str
    kind: str
    managed: Literal["config", "store", "director"]
    version: int | None = Field(description="the definition's version, for PUT (optimistic lock)")
    director_id: int | None = None
    enabled: bool
    state: Literal["ok", "failing", "running", "pending", "disabled", "outside"]
    state_label: str
    schedule: str
    interval: float | None
    timeperiod: str | None
    in_period: bool
    timeout: float | None
    last_attempt: str | None
    last_result: str | None
    last_error: str | None
    last_success: str | None
    next_due: str | None
    overdue: bool
    running: RunningOut | None
    last_text: str = Field(description="the last result and its age, as the jobs page shows it")
    next_due_text: str
    definition: dict[str, Any] = Field(description="as in config.yaml; secrets as ***")


class JobsOut(_Out):
    jobs: list[JobOut]


class JobIn(config_mod.JobConfig):
    """A job definition exactly as under ``jobs:`` in config.yaml."""


class JobUpdateIn(config_mod.JobConfig):
    """A whole definition plus the version it was read at."""

    version: int = Field(ge=1)


class RunQueued(_Out):
    job: str
    queued: bool
    running_now: bool


class RunOut(_Out):
    id: int
    job: str
    kind: str
    node: str
    trigger: str
    attempt: int
    job_version: int | None
    scheduled_for: str
    started: str
    finished: str | None
    duration: float | None
    state: str
    summary: str | None
    counters: dict[str, Any]
    details: dict[str, Any]
    changed: bool | None


class RunsOut(_Out):
    runs: list[RunOut]
    next_before: int | None = Field(description="pass as ?before= for the next page")


class SegmentOut(_Out):
    begin: str
    end: str


class PeriodOut(_Out):
    name: str
    timezone: str
    ranges: dict[str, str]
    includes: list[str]
    excludes: list[str]
    prefer_includes: bool
    active_now: bool
    next_change: str | None
    jobs: list[str]


class PeriodsOut(_Out):
    timeperiods: list[PeriodOut]


class SegmentsOut(_Out):
    name: str
    timezone: str
    start: str = Field(alias="from")
    to: str
    segments: list[SegmentOut]
    week_svg: str | None = None
    month_svg: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ranges: dict[str, str] = Field(default_factory=dict)
    includes: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)
    prefer_includes: bool = True
    timezone: str = "UTC"
    start: str | None = Field(None, alias="from")
    to: str | None = None
    calendars: bool = Field(False, description="also return week and month SVG calendars")


class KindOut(_Out):
    kind: str
    description: str
    suggested_interval: float
    settings: dict[str, Any] = Field(description="the kind's settings as a JSON Schema")
    secret_settings: list[str]


class KindsOut(_Out):
    kinds: list[KindOut]


class DeploymentOut(_Out):
    id: int
    package: str
    checksum: str
    stage: str | None
    started: str
    finished: str | None
    ok: bool | None
    errors: list[str]


class DeploymentsOut(_Out):
    deployments: list[DeploymentOut]
