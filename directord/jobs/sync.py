"""The ``sync`` kind: turn imported rows into Icinga 2 objects by a sync rule (or all)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from directord.config import unknown
from directord.icinga import pipeline
from directord.icinga.errors import SourceError
from directord.jobs.base import Job, JobContext, JobFailed, JobResult


class SyncSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str | None = None
    all: bool = False
    apply: bool = True

    @model_validator(mode="after")
    def _one(self) -> SyncSettings:
        if (self.rule is None) == (not self.all):
            raise ValueError("give either 'rule: NAME' or 'all: true'")
        return self


class Sync(Job):
    kind = "sync"
    description = "Compute Icinga 2 objects from imported rows by sync rules; apply the changes"
    Settings = SyncSettings
    suggested_interval = 900.0

    @classmethod
    def check_config(cls, settings: Any, config: Any) -> list[str]:
        if settings.rule is not None and settings.rule not in config.sync_rules:
            return [f"rule: {unknown('sync rule', settings.rule, config.sync_rules)}"]
        return []

    async def run(self, ctx: JobContext) -> JobResult:
        settings: SyncSettings = ctx.settings
        names = sorted(ctx.config.sync_rules) if settings.all else [settings.rule or ""]
        outcomes: list[pipeline.SyncOutcome] = []
        for name in names:
            rule = ctx.config.sync_rules.get(name)
            if rule is None:
                raise JobFailed(f"unknown sync rule {name!r}")
            try:
                outcome = await pipeline.run_sync(
                    name,
                    rule,
                    ctx.store,
                    to_thread=ctx.to_thread,
                    now=time.time(),
                    apply=settings.apply,
                    run_id=ctx.run_id,
                )
            except SourceError as exc:
                raise JobFailed(str(exc)) from None
            ctx.log.bind(action="sync_done").info(outcome.summary)
            outcomes.append(outcome)
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
