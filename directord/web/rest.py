"""The JSON API under /api: jobs (read, create, replace, delete, enable, disable, run now), runs,
time periods (segments, preview), kinds, deployments, and its own OpenAPI document.

Every endpoint is declared once in ``ENDPOINTS`` with its request and response models; the
aiohttp routes and the OpenAPI paths are both made from that table (the handlers live in one
module per resource: ``api_jobs``, ``api_runs``, ``api_periods``, ``api_kinds``). Access: the
bearer token of ``http.token_file``, or a logged-in session (writes need the operator role and the
session's ``X-CSRF-Token`` header). No handler answers with a traceback: an unexpected exception
is logged with a request id and answered 500 with that id only.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from loguru import logger
from pydantic import BaseModel

from directord import catalog
from directord.web import api_jobs, api_kinds, api_periods, api_runs, apikit, apimodels, auth
from directord.web import keys as web_keys
from directord.web.apikit import Endpoint, Query

JOB, ERROR, INVALID = apimodels.JobOut, apimodels.ErrorOut, apimodels.ValidationOut
IN_ITS_ZONE = "wall time in the period's zone"
LIMIT = Query("limit", {"type": "integer", "minimum": 1, "maximum": apikit.MAX_LIMIT})
SWITCHED: dict[int, type[BaseModel] | None] = {200: JOB, 404: ERROR}
COMMON: dict[int, type[BaseModel] | None] = {401: ERROR, 403: ERROR, 421: ERROR, 500: ERROR}
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/api/jobs",
        api_jobs.list_jobs,
        {200: apimodels.JobsOut},
        query=(Query("name", {"type": "string"}, "only this job"),),
    ),
    Endpoint(
        "POST",
        "/api/jobs",
        api_jobs.create_job,
        {201: JOB, 400: ERROR, 409: ERROR, 422: INVALID},
        body=apimodels.JobIn,
        write=True,
    ),
    Endpoint("GET", "/api/jobs/{name}", api_jobs.get_job, {200: JOB, 404: ERROR}),
    Endpoint(
        "PUT",
        "/api/jobs/{name}",
        api_jobs.put_job,
        {200: JOB, 400: ERROR, 404: ERROR, 409: ERROR, 422: INVALID},
        body=apimodels.JobUpdateIn,
        write=True,
    ),
    Endpoint(
        "DELETE",
        "/api/jobs/{name}",
        api_jobs.delete_job,
        {204: None, 404: ERROR, 409: ERROR, 422: INVALID},
        write=True,
        query=(Query("version", {"type": "integer", "minimum": 1}, "only at this version"),),
    ),
    Endpoint("POST", "/api/jobs/{name}/enable", api_jobs.enable_job, SWITCHED, write=True),
    Endpoint("POST", "/api/jobs/{name}/disable", api_jobs.disable_job, SWITCHED, write=True),
    Endpoint(
        "POST",
        "/api/jobs/{name}/run",
        api_jobs.run_job,
        {202: apimodels.RunQueued, 400: ERROR, 404: ERROR, 409: ERROR},
        write=True,
        query=(Query("force", {"type": "boolean"}, "run a disabled job too"),),
    ),
    Endpoint(
        "GET",
        "/api/jobs/{name}/runs",
        api_runs.job_runs,
        {200: apimodels.RunsOut, 404: ERROR, 422: INVALID},
        query=(
            Query("state", {"type": "string"}, "only runs in this state"),
            LIMIT,
            Query(
                "before", {"type": "integer", "minimum": 1}, "the next_before of the page before"
            ),
        ),
    ),
    Endpoint("GET", "/api/runs/{id}", api_runs.get_run, {200: apimodels.RunOut, 404: ERROR}),
    Endpoint("GET", "/api/timeperiods", api_periods.list_periods, {200: apimodels.PeriodsOut}),
    Endpoint(
        "GET",
        "/api/timeperiods/{name}",
        api_periods.get_period,
        {200: apimodels.SegmentsOut, 404: ERROR, 422: INVALID},
        query=(
            Query("from", {"type": "string"}, "ISO-8601; without an offset: " + IN_ITS_ZONE),
            Query("to", {"type": "string"}),
        ),
    ),
    Endpoint(
        "POST",
        "/api/timeperiods/preview",
        api_periods.preview_period,
        {200: apimodels.SegmentsOut, 400: ERROR, 422: INVALID},
        body=apimodels.PreviewIn,
    ),
    Endpoint("GET", "/api/kinds", api_kinds.list_kinds, {200: apimodels.KindsOut}),
    Endpoint(
        "GET",
        "/api/deployments",
        api_kinds.list_deployments,
        {200: apimodels.DeploymentsOut, 422: INVALID},
        query=(LIMIT,),
    ),
]


def _check_access(request: web.Request, write: bool) -> None:
    token: str | None = request.app[web_keys.API_TOKEN]
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, given = header.partition(" ")
        if token is None:
            raise apikit.ApiError(403, "the API token is not set: set http.token_file")
        if scheme.lower() != "bearer" or not given.strip():
            raise apikit.ApiError(401, "missing bearer token")
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise apikit.ApiError(403, "invalid token")
        return
    session: auth.Session | None = request.get(web_keys.SESSION_KEY)
    if session is None:
        if token is None and not request.app[web_keys.WEB_USERS]:
            raise apikit.ApiError(403, "the API is disabled: set http.token_file (or web.users)")
        raise apikit.ApiError(401, "missing bearer token or session")
    if write:
        if not session.may_write:
            raise apikit.ApiError(403, f"{session.user} is a {session.role}: operators only")
        if not auth.csrf_matches(session, request.headers.get(auth.CSRF_HEADER)):
            raise apikit.ApiError(403, f"missing or wrong {auth.CSRF_HEADER} header")


def _json(status: int, body: BaseModel | None) -> web.Response:
    if body is None:
        return web.Response(status=status)
    return web.json_response(text=body.model_dump_json(by_alias=True), status=status)


def _wrap(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            _check_access(request, ep.write)
            status, body = await ep.handler(request)
            return _json(status, body)
        except apikit.RawJson as raw:
            return web.Response(body=raw.body, content_type="application/json")
        except apikit.ApiError as exc:
            if exc.status == 401:
                return web.json_response(
                    {"error": exc.message},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="directord"'},
                )
            return _json(exc.status, exc.body or apimodels.ErrorOut(error=exc.message))
        except catalog.Invalid as exc:
            return _json(422, apikit.invalid(exc.errors).body)
        except catalog.CatalogError as exc:
            return _json(exc.status, apimodels.ErrorOut(error=exc.message))
        except Exception as exc:  # the contract: never a traceback in a response
            request_id = secrets.token_hex(8)
            logger.bind(action="api_error", request_id=request_id, path=request.path).opt(
                exception=exc
            ).error("{} {} failed", request.method, request.path)
            return _json(500, apimodels.ErrorOut(error="internal error", request_id=request_id))

    return handle


async def openapi(request: web.Request) -> web.Response:
    from directord.web import openapi as openapi_mod  # noqa: PLC0415 - only when asked for

    return web.json_response(openapi_mod.document(ENDPOINTS, COMMON))


def routes() -> list[web.RouteDef]:
    out = [web.route(ep.method, ep.path, _wrap(ep)) for ep in ENDPOINTS]
    out.append(web.get("/api/openapi.json", openapi))
    return out
