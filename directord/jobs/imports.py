"""The ``import`` kind: fetch one import source (or all), keep the rows as a row set."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from directord.config import unknown
from directord.icinga import pipeline
from directord.icinga.errors import SourceError
from directord.jobs.base import Job, JobContext, JobFailed, JobResult


class ImportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = None
    all: bool = False

    @model_validator(mode="after")
    def _one(self) -> ImportSettings:
        if (self.source is None) == (not self.all):
            raise ValueError("give either 'source: NAME' or 'all: true'")
        return self


class Import(Job):
    kind = "import"
    description = "Import rows from an import source (csv, json, sql) into a new row set if changed"
    Settings = ImportSettings
    suggested_interval = 900.0

    @classmethod
    def check_config(cls, settings: Any, config: Any) -> list[str]:
        if settings.source is not None and settings.source not in config.import_sources:
            return [f"source: {unknown('import source', settings.source, config.import_sources)}"]
        return []

    async def run(self, ctx: JobContext) -> JobResult:
        settings: ImportSettings = ctx.settings
        names = sorted(ctx.config.import_sources) if settings.all else [settings.source or ""]
        outcomes: list[pipeline.ImportOutcome] = []
        for name in names:
            source = ctx.config.import_sources.get(name)
            if source is None:
                raise JobFailed(f"unknown import source {name!r}")
            try:
                outcome = await pipeline.run_import(
                    name,
                    source,
                    ctx.store,
                    base_dir=ctx.config.base_dir,
                    http=lambda: ctx.http,
                    to_thread=ctx.to_thread,
                    now=time.time(),
                    run_id=ctx.run_id,
                )
            except SourceError as exc:
                # A failing source fails the job (Director reports success here).
                raise JobFailed(str(exc), imported=len(outcomes)) from None
            ctx.log.bind(action="import_done").info(outcome.summary)
            outcomes.append(outcome)
        changed = any(not o.unchanged for o in outcomes)
        ctx.details["imports"] = [
            {"source": o.source, "rows": o.rows, "row_set": o.row_set, "unchanged": o.unchanged}
            for o in outcomes
        ]
        return JobResult.ok(
            "; ".join(o.summary for o in outcomes),
            changed=changed,
            rows=sum(o.rows for o in outcomes),
            new_row_sets=sum(not o.unchanged for o in outcomes),
        )
