"""What the handlers find on the application (``request.app[keys.SUPERVISOR]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from directord.web.auth import Session

if TYPE_CHECKING:
    from directord.catalog import Catalog
    from directord.supervisor import Supervisor
    from directord.web.auth import LoginThrottle, Sessions
    from directord.web.jobscache import JobsCache
    from directord.web.metrics import Metrics
    from directord.web.status import Health, StatusCache

SUPERVISOR: web.AppKey[Supervisor] = web.AppKey("supervisor")
HEALTH: web.AppKey[Health] = web.AppKey("health")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
STATUS_CACHE: web.AppKey[StatusCache] = web.AppKey("status_cache")
CATALOG: web.AppKey[Catalog] = web.AppKey("catalog")
API_TOKEN: web.AppKey[str | None] = web.AppKey("api_token")
# name -> (password hash, role) of web.users; empty: the pages are off.
WEB_USERS: web.AppKey[dict[str, tuple[str, str]]] = web.AppKey("web_users")
JOBS_CACHE: web.AppKey[JobsCache] = web.AppKey("jobs_cache")
SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions")
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("throttle")
# request[SESSION_KEY]: the logged-in session of this request, if any.
SESSION_KEY: web.RequestKey[Session] = web.RequestKey("directord_session", Session)
