"""Where job definitions come from, merged into one validated set.

Three places: config.yaml (``managed: config``, read-only through the web and the API), the store
(``managed: store``, made through the web or the API) and an Icinga Director database
(``managed: director``, read-only here). Every definition is validated by the same code as
config.yaml (``config.job_problems``: the job's fields, its references, its kind's settings
model), so a job the web accepts is a job config.yaml would accept.

A write to a store job is checked against the others, stored with optimistic locking (the
version the writer read), and handed to the running supervisor at once through ``apply``.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from directord import config as config_mod
from directord import errors, store
from directord.jobs import registry

# A definition as the API and the store hold it: the config.yaml job minus nothing.
Definition = dict[str, Any]
Apply = Callable[[config_mod.Settings], Awaitable[object]]

_JOB_PATH = re.compile(r"^jobs\[(\d+)\](?: \([^)]*\))?\.?(.*?): (.*)$", re.S)


class Managed(enum.StrEnum):
    config = "config"
    store = "store"
    director = "director"


PLACES = {
    Managed.config: "config.yaml",
    Managed.store: "the store (made in the web or the API)",
    Managed.director: "Icinga Director",
}


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class CatalogError(Exception):
    """A write the catalog refuses; ``status`` is the HTTP status that says why."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CatalogError):
    status = 404


class Conflict(CatalogError):
    status = 409


class Invalid(CatalogError):
    status = 422

    def __init__(self, field_errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in field_errors))
        self.errors = field_errors


@dataclass(frozen=True)
class Entry:
    """One job definition and where it lives."""

    job: config_mod.JobConfig
    managed: Managed
    version: int | None = None
    director_id: int | None = None

    @property
    def name(self) -> str:
        return self.job.name

    def definition(self) -> Definition:
        return self.job.model_dump(mode="json", exclude_defaults=False)


def _field_errors(problems: Iterable[str], index: int) -> list[FieldError]:
    """The problems of ``jobs[index]`` as (field, message), the field relative to the job;
    problems of other parts of the config are not this job's."""
    out = []
    for problem in problems:
        m = _JOB_PATH.match(problem)
        if m is not None and int(m.group(1)) == index:
            out.append(FieldError(m.group(2) or "name", m.group(3)))
    return out


def validate(
    settings: config_mod.Settings,
    kinds: registry.Kinds,
    definition: Mapping[str, Any],
    others: list[config_mod.JobConfig],
) -> config_mod.JobConfig:
    """``definition`` as a job beside ``others``, judged exactly as config.yaml's jobs are;
    Invalid naming every bad field at once."""
    try:
        job = config_mod.JobConfig.model_validate(dict(definition))
    except ValidationError as exc:
        found = _field_errors(errors.validation_errors(exc, ("jobs", 0)), 0)
        raise Invalid(found + _kind_errors(kinds, definition, {e.field for e in found})) from None
    jobs = [*others, job]
    problems = config_mod.job_problems(settings, kinds, jobs)
    found = _field_errors(problems, len(jobs) - 1)
    if found:
        raise Invalid(found)
    return job


def _kind_errors(
    kinds: registry.Kinds, definition: Mapping[str, Any], reported: set[str]
) -> list[FieldError]:
    """When the job's own fields fail, its kind's settings are still judged, so one answer
    names every bad field (the same messages config check gives)."""
    kind = kinds.get(str(definition.get("kind")))
    settings = definition.get("settings", {})
    if kind is None or not isinstance(settings, Mapping) or "settings" in reported:
        return []
    try:
        kind.Settings.model_validate(dict(settings))
    except ValidationError as exc:
        lines = errors.validation_errors(exc, ("jobs", 0, "settings"), kind.secret_settings)
        return _field_errors(lines, 0)
    return []


class Catalog:
    """The merged job set of one daemon (or one CLI command)."""

    def __init__(
        self, settings: config_mod.Settings, kinds: registry.Kinds, db: store.Store
    ) -> None:
        self.settings = settings
        self.kinds = kinds
        self.store = db
        self.entries: dict[str, Entry] = {}
        self.problems: list[str] = []
        self._apply: Apply | None = None
        self._director: list[Entry] = []

    def on_change(self, apply: Apply) -> None:
        """``apply(merged settings)`` after every change (the supervisor's reload)."""
        self._apply = apply

    # -- reading -------------------------------------------------------------------------------

    async def load(self) -> config_mod.Settings:
        """Read the store's jobs and merge them with config.yaml's (and Director's). A store job
        whose name config.yaml also uses is a ConfigError naming both places; a store job that
        no longer validates (its kind was uninstalled, its time period removed) is skipped with
        a problem listed in ``problems`` (it stays in the store, to be fixed in the web)."""
        records = [r for r in await self.store.list_jobs() if r.managed_by == Managed.store]
        entries = {j.name: Entry(j, Managed.config) for j in self.settings.jobs}
        clashes = [
            f"jobs: {r.name!r} is defined in config.yaml and in {PLACES[Managed.store]}; "
            "rename or delete one of them"
            for r in records
            if r.name in entries
        ]
        if clashes:
            raise errors.ConfigError(clashes, self.settings.source)
        for entry in self._director:
            if entry.name in entries:
                raise errors.ConfigError(
                    [
                        f"jobs: {entry.name!r} is defined in config.yaml and in "
                        f"{PLACES[Managed.director]} (job id {entry.director_id})"
                    ],
                    self.settings.source,
                )
            entries[entry.name] = entry
        self.problems = []
        accepted = [e.job for e in entries.values()]
        for record in records:
            try:
                definition = {**record.definition, "name": record.name, "kind": record.kind}
                job = validate(self.settings, self.kinds, definition, accepted)
            except Invalid as exc:
                self.problems.append(f"store job {record.name!r} is not loaded: {exc.message}")
                continue
            accepted.append(job)
            entries[job.name] = Entry(job, Managed.store, record.version)
        self.entries = dict(sorted(entries.items()))
        return self.merged()

    def merged(self) -> config_mod.Settings:
        """The config with every loaded job in it, and which place each job comes from."""
        merged = self.settings.model_copy(update={"jobs": [e.job for e in self.entries.values()]})
        merged._validated_jobs = None
        merged._managed = {n: str(e.managed) for n, e in self.entries.items()}
        return merged

    def get(self, name: str) -> Entry:
        entry = self.entries.get(name)
        if entry is None:
            raise NotFound(errors.unknown("job", name, self.entries))
        return entry

    # -- changes -------------------------------------------------------------------------------

    async def reload_config(self, settings: config_mod.Settings) -> config_mod.Settings:
        """config.yaml changed (SIGHUP): merge again with the stored jobs."""
        self.settings = settings
        return await self.load()

    async def set_director_jobs(self, entries: list[Entry]) -> None:
        """The jobs an Icinga Director database holds now (its refresher calls this)."""
        self._director = entries
        await self._changed(await self.load())

    async def create(self, definition: Mapping[str, Any]) -> Entry:
        name = str(definition.get("name", ""))
        if name in self.entries:
            raise Conflict(self._managed_message(self.entries[name], f"a job {name!r} exists"))
        job = validate(self.settings, self.kinds, definition, self._others(name))
        record = await self.store.create_job(
            job.name, job.kind, _stored(job), Managed.store, time.time()
        )
        if record is None:
            raise Conflict(f"a job {job.name!r} exists")
        entry = Entry(job, Managed.store, record.version)
        self.entries = dict(sorted({**self.entries, job.name: entry}.items()))
        await self._changed(self.merged())
        return entry

    async def update(self, name: str, definition: Mapping[str, Any], version: int) -> Entry:
        current = self._writable(name)
        if str(definition.get("name", name)) != name:
            raise Invalid([FieldError("name", "a job cannot be renamed; create a new one")])
        if current.version != version:
            raise Conflict(
                f"job {name!r} is at version {current.version}, not {version}: it was changed "
                "since it was read; read it again"
            )
        job = validate(self.settings, self.kinds, {**definition, "name": name}, self._others(name))
        record = await self.store.update_job(name, job.kind, _stored(job), version, time.time())
        if record is None:
            raise Conflict(f"job {name!r} was changed since it was read; read it again")
        entry = Entry(job, Managed.store, record.version)
        self.entries = {**self.entries, name: entry}
        await self._changed(self.merged())
        return entry

    async def delete(self, name: str, version: int | None = None) -> None:
        current = self._writable(name)
        if version is not None and current.version != version:
            raise Conflict(f"job {name!r} is at version {current.version}, not {version}")
        if not await self.store.delete_job(name, version):
            raise Conflict(f"job {name!r} was changed since it was read; read it again")
        self.entries = {n: e for n, e in self.entries.items() if n != name}
        await self._changed(self.merged())

    def _writable(self, name: str) -> Entry:
        entry = self.get(name)
        if entry.managed is not Managed.store:
            raise Conflict(self._managed_message(entry, f"job {name!r} is read-only here"))
        return entry

    @staticmethod
    def _managed_message(entry: Entry, head: str) -> str:
        if entry.managed is Managed.config:
            return f"{head}: managed by config.yaml; edit the file and reload"
        if entry.managed is Managed.director:
            return f"{head}: managed by Icinga Director (job id {entry.director_id}); edit it there"
        return head

    def _others(self, name: str) -> list[config_mod.JobConfig]:
        return [e.job for n, e in self.entries.items() if n != name]

    async def _changed(self, merged: config_mod.Settings) -> None:
        if self._apply is not None:
            await self._apply(merged)


def _stored(job: config_mod.JobConfig) -> Definition:
    return job.model_dump(mode="json", exclude={"name", "kind"})
