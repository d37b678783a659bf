"""The ``director:`` block of config.yaml: which Director database to take jobs from, and how."""

from __future__ import annotations

import fnmatch
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from directord import units

DEFAULT_ICINGACLI = "/usr/bin/icingacli"
SCHEMES = ("postgresql", "postgres", "mysql", "mariadb")


def _names(value: object) -> object:
    return [value] if isinstance(value, str) else value


class DirectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # postgresql://user@host:5432/director or mysql://user@host:3306/director
    dsn: str
    password_file: str | None = None
    icingacli: str = DEFAULT_ICINGACLI
    # Extra environment for icingacli, e.g. ICINGAWEB_CONFIGDIR for a second Icinga Web config.
    env: dict[str, str] = Field(default_factory=dict)
    refresh: units.Duration = 30.0
    # Glob patterns on Director's job_name; none: every job.
    jobs: Annotated[list[str], BeforeValidator(_names)] = Field(default_factory=list)
    # Director has no timeout; a hung child would block every job behind it.
    timeout: units.Duration = 3600.0
    # The zone Icinga 2 evaluates periods in: the system's local zone unless given.
    timezone: str | None = None
    # Job names in directord: this prefix and Director's job_name.
    prefix: str = "director:"

    @field_validator("dsn")
    @classmethod
    def _scheme(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if scheme not in SCHEMES or "://" not in value:
            raise ValueError(
                f"{value.rsplit('@', maxsplit=1)[-1]!r}: not a PostgreSQL or MySQL URL "
                "(postgresql://user@host:5432/director or mysql://user@host:3306/director)"
            )
        return value

    @field_validator("refresh")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0 seconds")
        return value

    def selects(self, job_name: str) -> bool:
        """Whether Director's job ``job_name`` is one directord runs (the ``jobs:`` filter)."""
        return not self.jobs or any(fnmatch.fnmatchcase(job_name, p) for p in self.jobs)

    def job_name(self, director_name: str) -> str:
        return f"{self.prefix}{director_name}"
