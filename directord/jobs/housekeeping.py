"""The ``housekeeping`` kind: purge old runs, then let the database optimize itself."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from directord.jobs.base import Job, JobContext, JobResult


class HousekeepingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_days: float = Field(30, gt=0, description="Remove finished runs older than this")
    keep_per_job: int = Field(1000, ge=1, description="Keep at most this many runs per job")


class Housekeeping(Job):
    kind = "housekeeping"
    description = (
        "Purge runs older than keep_days or beyond keep_per_job, then optimize the database"
    )
    Settings = HousekeepingSettings
    suggested_interval = 86400.0

    async def run(self, ctx: JobContext) -> JobResult:
        settings: HousekeepingSettings = ctx.settings
        before = time.time() - settings.keep_days * 86400
        removed = await ctx.store.purge_runs(before, settings.keep_per_job)
        tidy = await ctx.store.optimize()
        ctx.details["optimize"] = tidy
        return JobResult.ok(
            f"removed {removed} runs" + (", vacuumed" if tidy.get("vacuumed") else ""),
            changed=removed > 0,
            removed_runs=removed,
        )
