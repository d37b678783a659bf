"""Job specs: a job's validated definition, its kind, its kind's settings and its plan; built
from a config, compared across a reload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from directord import config as config_mod
from directord import config_secrets, errors, job_schedule, redact, scheduler, store, timeperiods
from directord.jobs import base, registry


@dataclass(frozen=True)
class JobSpec:
    """One configured job, ready to run: ``job_config`` is its entry under ``jobs:``,
    ``kind_settings`` its ``settings:`` validated by the kind, ``plan`` what the scheduler needs,
    ``version`` the stored definition's version (None until stored)."""

    job_config: config_mod.JobConfig
    kind: type[base.Job]
    kind_settings: Any
    plan: scheduler.Plan
    version: int | None = None

    @property
    def name(self) -> str:
        return self.job_config.name

    @property
    def config(self) -> config_mod.JobConfig:
        """Deprecated name of ``job_config``."""
        return self.job_config

    @property
    def settings(self) -> Any:
        """Deprecated name of ``kind_settings``."""
        return self.kind_settings


def build_specs(
    settings: config_mod.Settings, kinds: registry.Kinds
) -> tuple[dict[str, JobSpec], timeperiods.Registry]:
    """Job specs from a validated config; ConfigError lists every problem with its path."""
    periods, errors = config_mod.build_timeperiods(settings.timeperiods)
    validated, kind_errors = registry.validate_jobs(settings, kinds)
    errors += kind_errors
    if errors:
        raise config_mod.ConfigError(errors, settings.source)
    specs = {}
    for job in settings.jobs:
        plan = scheduler.Plan(
            name=job.name,
            interval=job.interval or 0.0,  # None with at/cron: the schedule decides
            schedule=job_schedule.job_schedule(job, settings),
            catch_up=job_schedule.job_catch_up(job),
            period=periods.get(job.timeperiod) if job.timeperiod else None,
            disabled=job.disabled,
            retry_attempts=job.retry.attempts,
            retry_backoff=job.retry.backoff,
            after=tuple(job.after),
            only_if_changed=job.only_if_changed,
        )
        kind = kinds.get(job.kind)
        assert kind is not None  # validate_jobs reported unknown kinds
        specs[job.name] = JobSpec(job, kind, validated[job.name], plan)
    return specs, periods


def one_off(
    name: str,
    kind_name: str,
    kind_settings: dict[str, Any],
    settings: config_mod.Settings,
    kinds: registry.Kinds,
) -> JobSpec:
    """The spec of a run that is not one of the config's jobs (``import run SOURCE``): the kind's
    settings validated and checked against the config like a job's; no schedule, no timeout."""
    kind = kinds.get(kind_name)
    if kind is None:
        raise config_mod.ConfigError([errors.unknown("job kind", kind_name, kinds.names())])
    try:
        validated = kind.Settings.model_validate(kind_settings)
    except pydantic.ValidationError as exc:
        raise config_mod.ConfigError(errors.validation_errors(exc, ("settings",))) from None
    problems = kind.check_config(validated, settings)
    if problems:
        raise config_mod.ConfigError(problems, settings.source)
    # Not validated as a job name: it is made of a source's or a rule's name, which may be any.
    job = config_mod.JobConfig.model_construct(name=name, kind=kind_name, settings=kind_settings)
    return JobSpec(job, kind, validated, scheduler.Plan(name=name, interval=0.0))


def followers_of(specs: dict[str, JobSpec]) -> dict[str, list[scheduler.Plan]]:
    """For each job, the plans of the jobs that run after it: looked up after every run."""
    out: dict[str, list[scheduler.Plan]] = {}
    for spec in specs.values():
        for leader in spec.job_config.after:
            out.setdefault(leader, []).append(spec.plan)
    return out


def definition(job: config_mod.JobConfig, secret: frozenset[str] = frozenset()) -> dict[str, Any]:
    """What is stored as a config-managed job's definition (its version changes with it), with
    its secret settings as ``***``."""
    # The calendar fields only when set: a job without them keeps the definition (and version)
    # it had before they existed.
    unset = {k for k in ("at", "cron", "timezone", "catch_up") if getattr(job, k) is None}
    dumped = job.model_dump(mode="json", exclude={"name", "kind", *unset})
    dumped["settings"] = redact.secret_fields(dumped["settings"], secret)
    return dict(redact.current().value(dumped))


def load(
    settings: config_mod.Settings, kinds: registry.Kinds
) -> tuple[dict[str, JobSpec], timeperiods.Registry]:
    """``build_specs`` for the daemon: also installs the config's redactor (it reads the secret
    files, and warns about readable ones)."""
    built = build_specs(settings, kinds)
    redact.install(config_secrets.redactor(settings))
    return built


def changes(
    old: dict[str, JobSpec],
    new: dict[str, JobSpec],
    old_periods: timeperiods.Registry,
    new_periods: timeperiods.Registry,
) -> list[str]:
    """What a reload changes, one line each: jobs added, removed or changed (which fields),
    time periods added, removed or changed."""
    out = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before is None:
            out.append(f"job {name!r} added")
        elif after is None:
            out.append(f"job {name!r} removed")
        elif before.job_config != after.job_config:
            fields = [
                k
                for k in type(after.job_config).model_fields
                if getattr(before.job_config, k) != getattr(after.job_config, k)
            ]
            out.append(f"job {name!r} changed: {', '.join(fields)}")
    before_periods = {p.name: (p.ranges, p.includes, p.excludes, p.timezone) for p in old_periods}
    after_periods = {p.name: (p.ranges, p.includes, p.excludes, p.timezone) for p in new_periods}
    for name in sorted(set(before_periods) | set(after_periods)):
        if before_periods.get(name) != after_periods.get(name):
            verb = (
                "added"
                if name not in before_periods
                else "removed"
                if name not in after_periods
                else "changed"
            )
            out.append(f"time period {name!r} {verb}")
    return out


async def store_definitions(
    db: store.Store, specs: dict[str, JobSpec], managed: Mapping[str, str], now: float
) -> dict[str, int]:
    """Store the definitions of the jobs not ``managed`` by the store (job -> where it is
    managed); returns each job's stored version."""
    # Store-managed definitions are the store's own: only the others are synced from here.
    await db.sync_config_jobs(
        [
            (s.name, s.job_config.kind, definition(s.job_config, s.kind.secret_settings))
            for s in specs.values()
            if managed.get(s.name) != "store"
        ],
        now,
    )
    return {r.name: r.version for r in await db.list_jobs()}
