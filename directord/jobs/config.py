"""The ``config`` kind: render the desired objects as Icinga 2 config and deploy it."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict

from directord import units
from directord.icinga import deploy
from directord.icinga.errors import SourceError
from directord.jobs.base import Job, JobContext, JobFailed, JobResult


class ConfigSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deploy: bool = True  # false: render into icinga.render_dir only
    deploy_when_changed: bool = True  # skip when the active stage already holds this config
    grace_period: units.Duration = 0.0  # no deployment within this long after the last one
    force: bool = False


class Config(Job):
    kind = "config"
    description = "Render objects as Icinga 2 config; deploy it through the API when it changed"
    Settings = ConfigSettings
    suggested_interval = 900.0

    async def run(self, ctx: JobContext) -> JobResult:
        settings: ConfigSettings = ctx.settings
        try:
            outcome = await deploy.render_and_deploy(
                ctx.config,
                ctx.store,
                http=lambda: ctx.http,
                to_thread=ctx.to_thread,
                now=time.time(),
                run_id=ctx.run_id,
                deploy=settings.deploy,
                deploy_when_changed=settings.deploy_when_changed,
                grace_period=settings.grace_period,
                force=settings.force,
            )
        except (deploy.DeployFailed, SourceError) as exc:
            raise JobFailed(str(exc)) from None
        ctx.log.bind(action=f"config_{outcome.action}").info(outcome.detail)
        ctx.details.update(action=outcome.action, checksum=outcome.checksum, stage=outcome.stage)
        return JobResult.ok(outcome.detail, changed=outcome.changed, objects=outcome.objects)
