"""The API's kinds (each installed job kind with its settings' JSON Schema) and Icinga 2 config
deployments (newest first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import BaseModel

from directord.web import apikit, apimodels, presenters
from directord.web import keys as web_keys

if TYPE_CHECKING:
    from directord.jobs import registry


async def list_kinds(request: web.Request) -> tuple[int, BaseModel]:
    """The installed job kinds with their settings' JSON Schema"""
    kinds: registry.Kinds = request.app[web_keys.SUPERVISOR].kinds
    out = [apimodels.KindOut(**kinds.get(name).describe()) for name in kinds.names()]  # type: ignore[union-attr]
    return 200, apimodels.KindsOut(kinds=out)


async def list_deployments(request: web.Request) -> tuple[int, BaseModel]:
    """Icinga 2 config deployments, newest first"""
    limit = apikit.int_query(request, "limit", 50, 1, apikit.MAX_LIMIT)
    assert limit is not None
    found = await request.app[web_keys.SUPERVISOR].store.deployments(limit)
    return 200, apimodels.DeploymentsOut(deployments=[presenters.deployment(d) for d in found])
