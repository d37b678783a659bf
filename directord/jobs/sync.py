"""The ``sync`` kind: turn imported rows into Icinga 2 objects by a sync rule (or all)."""

from __future__ import annotations

import time
from typing import ClassVar

from directord.icinga import pipeline
from directord.icinga.rules import SyncRule
from directord.jobs.base import JobContext, JobResult
from directord.jobs.selection import Selection, SelectionJob


class SyncSettings(Selection):
    name_key: ClassVar[str] = "rule"
    what: ClassVar[str] = "sync rule"
    section: ClassVar[str] = "sync_rules"
    rule: str | None = None
    apply: bool = True


class Sync(SelectionJob[SyncRule, pipeline.SyncOutcome]):
    kind = "sync"
    description = "Compute Icinga 2 objects from imported rows by sync rules; apply the changes"
    Settings = SyncSettings
    suggested_interval = 900.0

    async def run_one(self, ctx: JobContext, name: str, item: SyncRule) -> pipeline.SyncOutcome:
        settings: SyncSettings = ctx.settings
        return await pipeline.run_sync(
            name,
            item,
            ctx.store,
            to_thread=ctx.to_thread,
            now=time.time(),
            apply=settings.apply,
            run_id=ctx.run_id,
        )

    def result(self, ctx: JobContext, outcomes: list[pipeline.SyncOutcome]) -> JobResult:
        settings: SyncSettings = ctx.settings
        totals = {
            k: sum(o.counts.get(k, 0) for o in outcomes) for k in ("created", "modified", "deleted")
        }
        ctx.details["syncs"] = [
            {
                "rule": o.rule,
                "activity": o.activity,
                **o.counts,
                "changes": [c.as_json() for c in o.changes[:50]],
            }
            for o in outcomes
        ]
        changed = settings.apply and any(o.changes for o in outcomes)
        return JobResult.ok("; ".join(o.summary for o in outcomes), changed=changed, **totals)
