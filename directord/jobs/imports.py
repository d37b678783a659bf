"""The ``import`` kind: fetch one import source (or all), keep the rows as a row set."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from directord.icinga import pipeline
from directord.icinga.sources import ImportSource
from directord.jobs.base import JobContext, JobResult
from directord.jobs.selection import Selection, SelectionJob


class ImportSettings(Selection):
    name_key: ClassVar[str] = "source"
    what: ClassVar[str] = "import source"
    section: ClassVar[str] = "import_sources"
    source: str | None = None


class Import(SelectionJob[ImportSource, pipeline.ImportOutcome]):
    kind = "import"
    description = "Import rows from an import source (csv, json, sql) into a new row set if changed"
    Settings = ImportSettings
    suggested_interval = 900.0

    async def run_one(
        self, ctx: JobContext, name: str, item: ImportSource
    ) -> pipeline.ImportOutcome:
        # A failing source fails the job (Director reports success here).
        return await pipeline.run_import(
            name,
            item,
            ctx.store,
            base_dir=ctx.config.base_dir,
            http=lambda: ctx.http,
            to_thread=ctx.to_thread,
            now=time.time(),
            run_id=ctx.run_id,
        )

    def failed(self, done: list[pipeline.ImportOutcome]) -> dict[str, Any]:
        return {"imported": len(done)}

    def result(self, ctx: JobContext, outcomes: list[pipeline.ImportOutcome]) -> JobResult:
        ctx.details["imports"] = [
            {"source": o.source, "rows": o.rows, "row_set": o.row_set, "unchanged": o.unchanged}
            for o in outcomes
        ]
        return JobResult.ok(
            "; ".join(o.summary for o in outcomes),
            changed=any(not o.unchanged for o in outcomes),
            rows=sum(o.rows for o in outcomes),
            new_row_sets=sum(not o.unchanged for o in outcomes),
        )
