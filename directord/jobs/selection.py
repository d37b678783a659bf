"""The base of the kinds that work on one named thing or on all of them (``import``: an import
source; ``sync``: a sync rule): choosing the names, checking the name against the config, running
each in turn, failing with the first one's error."""

from __future__ import annotations

import abc
import contextvars
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from directord import errors
from directord.icinga.errors import SourceError
from directord.jobs.base import Job, JobContext, JobFailed, JobResult


class Summarized(Protocol):
    @property
    def summary(self) -> str: ...


Item = TypeVar("Item")
Outcome = TypeVar("Outcome", bound=Summarized)

# Where a caller that shows every outcome in full collects them (``directord sync run`` prints
# each change; the run's details keep a bounded summary): set around the run, None otherwise.
collected: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "selection_outcomes", default=None
)


class Selection(BaseModel):
    """``<name_key>: NAME`` or ``all: true``, NAME one of the config's ``<section>``; the
    subclass declares the name field."""

    model_config = ConfigDict(extra="forbid")

    # The setting that names one thing (``source``, ``rule``): part of the config contract.
    name_key: ClassVar[str]
    # What the names name, for messages ("import source"), and the config's section of them.
    what: ClassVar[str]
    section: ClassVar[str]
    all: bool = False

    @property
    def name(self) -> str | None:
        value = getattr(self, self.name_key)
        return value if isinstance(value, str) else None

    @model_validator(mode="after")
    def _one(self) -> Selection:
        if (self.name is None) == (not self.all):
            raise ValueError(f"give either '{self.name_key}: NAME' or 'all: true'")
        return self


class SelectionJob(Job, Generic[Item, Outcome]):
    """Runs :meth:`run_one` for the selected name, or for every configured one in name order;
    logs ``<kind>_done`` with each one's summary."""

    Settings: ClassVar[type[Selection]]

    @classmethod
    def catalog(cls, config: Any) -> Mapping[str, Item]:
        """The configured things by name (``config.import_sources``)."""
        known: Mapping[str, Item] = getattr(config, cls.Settings.section)
        return known

    @classmethod
    def check_config(cls, settings: Any, config: Any) -> list[str]:
        name = settings.name
        known = cls.catalog(config)
        if name is not None and name not in known:
            return [f"{settings.name_key}: {errors.unknown(settings.what, name, known)}"]
        return []

    @abc.abstractmethod
    async def run_one(self, ctx: JobContext, name: str, item: Item) -> Outcome:
        """Do the work for one; raise SourceError to fail the job with its message."""

    def summary(self, outcome: Outcome) -> str:
        """The one-line summary of one outcome."""
        return outcome.summary

    @abc.abstractmethod
    def result(self, ctx: JobContext, outcomes: list[Outcome]) -> JobResult:
        """The job's result from the outcomes of every selected one."""

    def failed(self, done: list[Outcome]) -> dict[str, Any]:
        """Counters for a run that failed after ``done`` succeeded."""
        return {}

    async def run(self, ctx: JobContext) -> JobResult:
        settings: Selection = ctx.settings
        known = self.catalog(ctx.config)
        names = sorted(known) if settings.all else [settings.name or ""]
        outcomes: list[Outcome] = []
        for name in names:
            item = known.get(name)
            if item is None:
                raise JobFailed(errors.unknown(settings.what, name, known))
            try:
                outcome = await self.run_one(ctx, name, item)
            except SourceError as exc:
                raise JobFailed(str(exc), **self.failed(outcomes)) from None
            ctx.log.bind(action=f"{self.kind}_done").info(self.summary(outcome))
            outcomes.append(outcome)
        sink = collected.get()
        if sink is not None:
            sink.extend(outcomes)
        return self.result(ctx, outcomes)
