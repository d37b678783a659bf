"""The ``housekeeping`` kind: purge old runs, then let the database optimize itself."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from directord.icinga import deploy
from directord.icinga.api import ApiError
from directord.jobs.base import Job, JobContext, JobFailed, JobResult


class HousekeepingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_days: float = Field(30, gt=0, description="Remove finished runs older than this")
    keep_per_job: int = Field(1000, ge=1, description="Keep at most this many runs per job")
    keep_row_sets: int = Field(1, ge=1, description="Row sets kept per import source")
    keep_stages: int = Field(
        3,
        ge=0,
        description="Inactive Icinga 2 stages kept besides the "
        "active one (those of the latest deployments)",
    )


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
        imports = await ctx.store.purge_imports(settings.keep_row_sets)
        configs = await ctx.store.purge_rendered_configs(before)
        try:
            stages = await deploy.delete_old_stages(
                ctx.config, ctx.store, lambda: ctx.http, settings.keep_stages
            )
        except ApiError as exc:
            raise JobFailed(f"removed {removed} runs, but Icinga 2's stages: {exc}") from None
        tidy = await ctx.store.optimize()
        ctx.details["optimize"] = tidy
        counters = {
            "removed_runs": removed,
            "removed_row_sets": imports["row_sets"],
            "removed_rows": imports["rows"],
            "removed_rendered_configs": configs,
            "removed_stages": stages,
        }
        summary = (
            f"removed {removed} runs, {imports['row_sets']} row sets "
            f"({imports['rows']} rows), {configs} rendered configs, {stages} stages"
        )
        return JobResult.ok(
            summary + (", vacuumed" if tidy.get("vacuumed") else ""),
            changed=any(counters.values()),
            **counters,
        )
