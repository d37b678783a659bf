"""What the handlers find on the application (``request.app[keys.SUPERVISOR]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from directord.supervisor import Supervisor
    from directord.web.metrics import Metrics
    from directord.web.status import Health, StatusCache

SUPERVISOR: web.AppKey[Supervisor] = web.AppKey("supervisor")
HEALTH: web.AppKey[Health] = web.AppKey("health")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
STATUS_CACHE: web.AppKey[StatusCache] = web.AppKey("status_cache")
