"""The JSON API (bearer token from http.token_file): POST /api/jobs/{name}/run[?force=true].

A disabled job is not run unless asked with ``force=true`` (409 otherwise); a name that is not a
configured job is 404, whatever it looks like once percent-decoded.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from aiohttp import web
from loguru import logger

if TYPE_CHECKING:
    from directord.supervisor import Supervisor


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def authorize(request: web.Request, token: str | None) -> web.Response | None:
    """None when the request carries the token; otherwise the 401/403 to answer with."""
    if token is None:
        return _error(403, "the API is disabled: set http.token_file")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return _error(
            401, "missing bearer token", **{"WWW-Authenticate": 'Bearer realm="directord"'}
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return _error(403, "invalid token")
    return None


FORCE_VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def routes(supervisor: Supervisor, token: str | None) -> list[web.RouteDef]:
    async def run_job(request: web.Request) -> web.Response:
        denied = authorize(request, token)
        if denied is not None:
            return denied
        name = request.match_info["name"]
        force = FORCE_VALUES.get(request.query.get("force", "false").lower())
        if force is None:
            return _error(400, "force: expected true or false")
        spec = supervisor.specs.get(name)
        if spec is None:
            return _error(404, f"unknown job {name!r}")
        if spec.config.disabled and not force:
            return _error(409, f"job {name!r} is disabled; add ?force=true to run it anyway")
        try:
            supervisor.trigger(name)
        except KeyError:
            return _error(404, f"unknown job {name!r}")
        logger.bind(action="run_requested", job=name, forced=force).info(
            "run requested through the API from {}{}", request.remote, " (forced)" if force else ""
        )
        running = name in supervisor.running
        return web.json_response({"job": name, "queued": True, "running_now": running}, status=202)

    return [web.post("/api/jobs/{name}/run", run_job)]
