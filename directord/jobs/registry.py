"""Job kinds, discovered through the entry-point group ``directord.jobs`` (built-ins too)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from directord import errors
from directord.jobs.base import Job

if TYPE_CHECKING:
    from directord.config import Settings as DaemonSettings

GROUP = "directord.jobs"


@dataclass(frozen=True)
class BrokenKind:
    """An entry point that could not be loaded: reported, never fatal for the other kinds."""

    name: str
    target: str
    error: str


class Kinds:
    """The kinds by name. Entry points given as ``pending`` are imported when their name is
    first asked for (issue 14.2: ``jobs list`` on a config of command jobs does not import the
    Icinga kinds); ``kinds``, ``broken`` and ``names`` load every one first."""

    def __init__(
        self,
        kinds: Mapping[str, type[Job]] | None = None,
        broken: list[BrokenKind] | None = None,
        *,
        pending: Mapping[str, list[EntryPoint]] | None = None,
    ) -> None:
        self._kinds: dict[str, type[Job]] = dict(kinds or {})
        self._broken: list[BrokenKind] = list(broken or [])
        self._pending: dict[str, list[EntryPoint]] = dict(pending or {})

    def _load(self, name: str) -> None:
        for ep in self._pending.pop(name, ()):
            try:
                obj = ep.load()
            except Exception as exc:  # a plugin that fails to import must not take the daemon down
                self._broken.append(BrokenKind(ep.name, ep.value, f"{type(exc).__name__}: {exc}"))
                continue
            problem = _check(ep.name, obj)
            if problem:
                self._broken.append(BrokenKind(ep.name, ep.value, problem))
            else:
                self._kinds[ep.name] = obj

    def _load_all(self) -> None:
        for name in list(self._pending):
            self._load(name)

    @property
    def kinds(self) -> dict[str, type[Job]]:
        self._load_all()
        return self._kinds

    @property
    def broken(self) -> list[BrokenKind]:
        self._load_all()
        return self._broken

    def get(self, name: str) -> type[Job] | None:
        if name in self._pending:
            self._load(name)
        return self._kinds.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def names(self) -> list[str]:
        return sorted(self.kinds)


@functools.cache
def discover() -> Kinds:
    """The installed kinds; looked up once per process (entry points do not change while it
    runs), so the config validated against them is not validated again. Each kind's module is
    imported when the kind is first used."""
    pending: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=GROUP):
        pending.setdefault(ep.name, []).append(ep)
    return Kinds(pending=pending)


def _check(name: str, obj: Any) -> str | None:
    if not (isinstance(obj, type) and issubclass(obj, Job)):
        return "not a subclass of directord.jobs.base.Job"
    if getattr(obj, "kind", None) != name:
        return f"declares kind {getattr(obj, 'kind', None)!r}, registered as {name!r}"
    if not isinstance(getattr(obj, "description", None), str):
        return "has no description"
    if not (isinstance(obj.Settings, type) and issubclass(obj.Settings, BaseModel)):
        return "Settings is not a pydantic model"
    return None


def validate_jobs(
    settings: DaemonSettings,
    kinds: Kinds,
    *,
    skip: Collection[int] = (),
    names: Mapping[int, str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Each job's kind settings, validated by its kind's model; errors carry the field path
    (``jobs[2].settings.command: missing (required)``), unknown kinds name the known ones.

    Done once per loaded config: ``config.load(kinds=...)`` validates, and later callers with
    the same kinds (building the job specs) get that result, not a second validation. Jobs in
    ``skip`` (their kind or settings already failed) are left out."""
    cached = settings._validated_jobs
    jobs = tuple(settings.jobs)
    if (
        cached is not None
        and not skip
        and cached[0] is kinds
        and len(cached[1]) == len(jobs)
        and all(a is b for a, b in zip(cached[1], jobs, strict=True))
    ):
        return dict(cached[2]), list(cached[3])
    if names is None:
        names = {i: job.name for i, job in enumerate(settings.jobs)}
    validated: dict[str, Any] = {}
    problems: list[str] = []
    for i, job in enumerate(settings.jobs):
        if i in skip:
            continue
        where = errors.job_where(i, names)
        kind = kinds.get(job.kind)
        if kind is None:
            what = errors.unknown("job kind", job.kind, kinds.names(), none="none installed")
            problems.append(f"{where}.kind: {what}")
            continue
        try:
            validated[job.name] = kind.Settings.model_validate(job.settings)
        except ValidationError as exc:
            secret = kind.secret_settings
            problems += errors.validation_errors(exc, ("jobs", i, "settings"), secret, names)
            continue
        problems += [
            f"{where}.settings.{problem}"
            for problem in kind.check_config(validated[job.name], settings)
        ]
    if not skip:
        settings._validated_jobs = (kinds, jobs, validated, problems)
    return dict(validated), list(problems)
