"""The JSON API under /api: jobs (read, create, replace, delete, enable, disable, run now), runs,
time periods (segments, preview), kinds, deployments, and its own OpenAPI document.

Every endpoint is declared once in ``ENDPOINTS`` with its request and response models; the
aiohttp routes and the OpenAPI paths are both made from that table. Access: the bearer token of
``http.token_file``, or a logged-in session (writes need the operator role and the session's
``X-CSRF-Token`` header). No handler answers with a traceback: an unexpected exception is logged
with a request id and answered 500 with that id only.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from loguru import logger
from pydantic import BaseModel, ValidationError

from directord import catalog, errors, interrupted, timeperiods
from directord.jobs import registry
from directord.web import apimodels, auth, presenters, svg
from directord.web import keys as web_keys

Handler = Callable[[web.Request], Awaitable[tuple[int, BaseModel | None]]]
MAX_LIMIT = 500
FORCE_VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
PREVIEW_MAX_DAYS = 400


class RawJson(Exception):
    """A handler's answer that is already serialized JSON (200)."""

    def __init__(self, body: bytes) -> None:
        super().__init__("raw json")
        self.body = body


class ApiError(Exception):
    def __init__(self, status: int, message: str, body: BaseModel | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


@dataclass(frozen=True)
class Query:
    name: str
    schema: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    write: bool = False
    query: tuple[Query, ...] = ()
    tags: tuple[str, ...] = field(default=("jobs",))


ENDPOINTS: list[Endpoint] = []
COMMON: dict[int, type[BaseModel] | None] = {
    401: apimodels.ErrorOut,
    403: apimodels.ErrorOut,
    421: apimodels.ErrorOut,
    500: apimodels.ErrorOut,
}


def endpoint(
    method: str,
    path: str,
    summary: str,
    responses: dict[int, type[BaseModel] | None],
    **extra: Any,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ENDPOINTS.append(Endpoint(method, path, handler, summary, responses, **extra))
        return handler

    return register


# -- access ------------------------------------------------------------------------------------


def _check_access(request: web.Request, write: bool) -> None:
    token: str | None = request.app[web_keys.API_TOKEN]
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, given = header.partition(" ")
        if token is None:
            raise ApiError(403, "the API token is not set: set http.token_file")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(401, "missing bearer token")
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(403, "invalid token")
        return
    session: auth.Session | None = request.get(web_keys.SESSION_KEY)
    if session is None:
        if token is None and not request.app[web_keys.WEB_USERS]:
            raise ApiError(403, "the API is disabled: set http.token_file (or web.users)")
        raise ApiError(401, "missing bearer token or session")
    if write:
        if not session.may_write:
            raise ApiError(403, f"{session.user} is a {session.role}: operators only")
        if not auth.csrf_matches(session, request.headers.get(auth.CSRF_HEADER)):
            raise ApiError(403, f"missing or wrong {auth.CSRF_HEADER} header")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def _invalid(field_errors: list[catalog.FieldError]) -> ApiError:
    body = apimodels.ValidationOut(
        errors=[apimodels.FieldErrorOut(field=e.field, message=e.message) for e in field_errors]
    )
    return ApiError(422, "invalid", body)


def _int_query(
    request: web.Request, name: str, default: int | None, lo: int, hi: int
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid([catalog.FieldError(name, f"{raw!r} is not a whole number")]) from None
    if not lo <= value <= hi:
        raise _invalid([catalog.FieldError(name, f"must be from {lo} to {hi}")])
    return value


def _instant(
    text: str | None, name: str, tz: timeperiods.TimePeriod | None, default: datetime
) -> datetime:
    if text is None or text == "":
        return default
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid([catalog.FieldError(name, f"{text!r} is not an ISO-8601 time")]) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz.tz if tz is not None else default.tzinfo)
    try:
        at.timestamp()
    except (OverflowError, ValueError):
        raise _invalid([catalog.FieldError(name, f"{text!r} is out of range")]) from None
    return at


# -- jobs ----------------------------------------------------------------------------------------


def job_out(request: web.Request, name: str) -> apimodels.JobOut:
    sup = request.app[web_keys.SUPERVISOR]
    now = sup.clock()
    views = sup.job_views(now, [name])
    if not views:
        raise ApiError(404, errors.unknown("job", name, sup.specs))
    return _present(request, views[0], now)


def managed_of(request: web.Request, name: str) -> str:
    """config, store or director: where the job's definition lives."""
    return request.app[web_keys.SUPERVISOR].daemon_settings._managed.get(name, "config")


def _present(request: web.Request, view: Any, now: float) -> apimodels.JobOut:
    return apimodels.JobOut.model_validate(request.app[web_keys.JOBS_CACHE].row(view, now))


def _not_director(request: web.Request, name: str) -> None:
    if managed_of(request, name) == "director":
        raise ApiError(409, f"job {name!r} is managed by Icinga Director; edit it there")


@endpoint(
    "GET",
    "/api/jobs",
    "Every job with its state, schedule and last result",
    {200: apimodels.JobsOut},
    query=(Query("name", {"type": "string"}, "only this job"),),
)
async def list_jobs(request: web.Request) -> tuple[int, BaseModel]:
    only = request.query.get("name")
    if only is not None:
        sup = request.app[web_keys.SUPERVISOR]
        now = sup.clock()
        views = sup.job_views(now, [only])
        return 200, apimodels.JobsOut(jobs=[_present(request, v, now) for v in views])
    # Every job: the cached answer (at most a second old), not one built per request.
    cache = await request.app[web_keys.JOBS_CACHE].fresh()
    raise RawJson(cache.body)


@endpoint(
    "POST",
    "/api/jobs",
    "Create a job (managed by the store)",
    {
        201: apimodels.JobOut,
        400: apimodels.ErrorOut,
        409: apimodels.ErrorOut,
        422: apimodels.ValidationOut,
    },
    body=apimodels.JobIn,
    write=True,
)
async def create_job(request: web.Request) -> tuple[int, BaseModel]:
    entry = await request.app[web_keys.CATALOG].create(await _body(request))
    logger.bind(action="job_created", job=entry.name).info("job created through the API")
    return 201, job_out(request, entry.name)


@endpoint(
    "GET",
    "/api/jobs/{name}",
    "One job",
    {200: apimodels.JobOut, 404: apimodels.ErrorOut},
)
async def get_job(request: web.Request) -> tuple[int, BaseModel]:
    return 200, job_out(request, request.match_info["name"])


@endpoint(
    "PUT",
    "/api/jobs/{name}",
    "Replace a store-managed job's whole definition at the version it was read",
    {
        200: apimodels.JobOut,
        400: apimodels.ErrorOut,
        404: apimodels.ErrorOut,
        409: apimodels.ErrorOut,
        422: apimodels.ValidationOut,
    },
    body=apimodels.JobUpdateIn,
    write=True,
)
async def put_job(request: web.Request) -> tuple[int, BaseModel]:
    name = request.match_info["name"]
    _not_director(request, name)
    data = await _body(request)
    version = data.pop("version", None)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        request.app[web_keys.CATALOG].get(name)  # 404 before 422
        raise _invalid([catalog.FieldError("version", "required: the version the job was read at")])
    await request.app[web_keys.CATALOG].update(name, {"name": name, **data}, version)
    logger.bind(action="job_updated", job=name).info("job replaced through the API")
    return 200, job_out(request, name)


@endpoint(
    "DELETE",
    "/api/jobs/{name}",
    "Delete a store-managed job; its runs stay",
    {204: None, 404: apimodels.ErrorOut, 409: apimodels.ErrorOut, 422: apimodels.ValidationOut},
    write=True,
    query=(Query("version", {"type": "integer", "minimum": 1}, "only at this version"),),
)
async def delete_job(request: web.Request) -> tuple[int, None]:
    name = request.match_info["name"]
    _not_director(request, name)
    version = _int_query(request, "version", None, 1, 2**62)
    await request.app[web_keys.CATALOG].delete(name, version)
    logger.bind(action="job_deleted", job=name).info("job deleted through the API")
    return 204, None


async def _set_disabled(request: web.Request, disabled: bool) -> tuple[int, BaseModel]:
    """The same switch as ``directord job disable NAME``: kept in the store, for any job,
    whatever its definition says (a definition's own ``disabled: true`` stays)."""
    sup = request.app[web_keys.SUPERVISOR]
    name = request.match_info["name"]
    if name not in sup.specs:
        raise ApiError(404, errors.unknown("job", name, sup.specs))
    await sup.store.set_job_disabled(name, disabled, sup.clock())
    sup.jobs.store_disabled = await sup.store.disabled_jobs()
    verb = "disabled" if disabled else "enabled"
    logger.bind(action=f"job_{verb}", job=name).info("job {} through the API", verb)
    return 200, job_out(request, name)


@endpoint(
    "POST",
    "/api/jobs/{name}/enable",
    "Switch a job on again (the store's switch, as directord job enable)",
    {200: apimodels.JobOut, 404: apimodels.ErrorOut},
    write=True,
)
async def enable_job(request: web.Request) -> tuple[int, BaseModel]:
    return await _set_disabled(request, False)


@endpoint(
    "POST",
    "/api/jobs/{name}/disable",
    "Switch a job off (kept in the store, as directord job disable)",
    {200: apimodels.JobOut, 404: apimodels.ErrorOut},
    write=True,
)
async def disable_job(request: web.Request) -> tuple[int, BaseModel]:
    return await _set_disabled(request, True)


@endpoint(
    "POST",
    "/api/jobs/{name}/run",
    "Run a job now, outside its schedule (a disabled job only with ?force=true)",
    {
        202: apimodels.RunQueued,
        400: apimodels.ErrorOut,
        404: apimodels.ErrorOut,
        409: apimodels.ErrorOut,
    },
    write=True,
    query=(Query("force", {"type": "boolean"}, "run a disabled job too"),),
)
async def run_job(request: web.Request) -> tuple[int, BaseModel]:
    sup = request.app[web_keys.SUPERVISOR]
    name = request.match_info["name"]
    force = FORCE_VALUES.get(request.query.get("force", "false").lower())
    if force is None:
        raise ApiError(400, "force: expected true or false")
    spec = sup.specs.get(name)
    if spec is None:
        raise ApiError(404, f"unknown job {name!r}")
    disabled = spec.job_config.disabled or name in sup.jobs.store_disabled
    if disabled and not force:
        raise ApiError(409, f"job {name!r} is disabled; add ?force=true to run it anyway")
    sup.trigger(name)
    logger.bind(action="run_requested", job=name, forced=force).info(
        "run requested through the API from {}{}", request.remote, " (forced)" if force else ""
    )
    return 202, apimodels.RunQueued(job=name, queued=True, running_now=name in sup.running)


@endpoint(
    "GET",
    "/api/jobs/{name}/runs",
    "A job's runs, newest first, a page at a time",
    {200: apimodels.RunsOut, 404: apimodels.ErrorOut, 422: apimodels.ValidationOut},
    query=(
        Query("state", {"type": "string"}, "only runs in this state"),
        Query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        Query("before", {"type": "integer", "minimum": 1}, "the next_before of the page before"),
    ),
)
async def job_runs(request: web.Request) -> tuple[int, BaseModel]:
    sup = request.app[web_keys.SUPERVISOR]
    name = request.match_info["name"]
    limit = _int_query(request, "limit", 20, 1, MAX_LIMIT)
    before = _int_query(request, "before", None, 1, 2**62)
    state = request.query.get("state") or None
    known_states = {"running", "succeeded", "failed", "timed_out", "cancelled", "interrupted"}
    if state is not None and state not in known_states:
        raise _invalid(
            [catalog.FieldError("state", errors.unknown("state", state, sorted(known_states)))]
        )
    if name not in sup.specs:
        raise ApiError(404, errors.unknown("job", name, sup.specs))
    assert limit is not None
    found = await sup.store.job_runs(name, limit=limit, before=before, state=state)
    next_before = found[-1].id if len(found) == limit else None
    # A run whose process is gone shows as interrupted before a daemon records it.
    shown = interrupted.shown_runs(found, sup.store)
    return 200, apimodels.RunsOut(runs=[presenters.run(r) for r in shown], next_before=next_before)


@endpoint(
    "GET",
    "/api/runs/{id}",
    "One run with its details and output tails",
    {200: apimodels.RunOut, 404: apimodels.ErrorOut},
    tags=("runs",),
)
async def get_run(request: web.Request) -> tuple[int, BaseModel]:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, f"no run {raw!r}")
    db = request.app[web_keys.SUPERVISOR].store
    found = await db.get_run(int(raw))
    if found is None:
        raise ApiError(404, f"no run {raw}")
    return 200, presenters.run(interrupted.shown(found, db))


# -- time periods -------------------------------------------------------------------------------


def period_out(request: web.Request, period: timeperiods.TimePeriod) -> apimodels.PeriodOut:
    sup = request.app[web_keys.SUPERVISOR]
    now = datetime.fromtimestamp(sup.clock(), period.tz)
    change = period.next_change(now)
    return apimodels.PeriodOut(
        name=period.name,
        timezone=period.timezone,
        ranges=period.ranges,
        includes=list(period.includes),
        excludes=list(period.excludes),
        prefer_includes=period.prefer_includes,
        active_now=period.is_active(now),
        next_change=None if change is None else change.isoformat(),
        jobs=sorted(n for n, s in sup.specs.items() if s.job_config.timeperiod == period.name),
    )


def segments_out(
    period: timeperiods.TimePeriod, start: datetime, end: datetime, calendars: bool, registry_: Any
) -> apimodels.SegmentsOut:
    if end <= start:
        raise _invalid([catalog.FieldError("to", "must be after from")])
    if end - start > timedelta(days=PREVIEW_MAX_DAYS):
        raise _invalid([catalog.FieldError("to", f"at most {PREVIEW_MAX_DAYS} days after from")])
    segments = period.segments(start, end)
    week_svg = month_svg = None
    if calendars:
        week_svg, month_svg = calendars_of(period, start, registry_)
    return apimodels.SegmentsOut(
        name=period.name,
        timezone=period.timezone,
        start=start.isoformat(),
        to=end.isoformat(),
        segments=[
            apimodels.SegmentOut(begin=b.isoformat(), end=e.isoformat()) for b, e in segments
        ],
        week_svg=week_svg,
        month_svg=month_svg,
    )


def calendars_of(period: timeperiods.TimePeriod, at: datetime, periods: Any) -> tuple[str, str]:
    """The week and the month around ``at`` in the period's zone, with the segments of its
    includes and excludes drawn in lanes of their own."""
    local = at.astimezone(period.tz)
    monday = (local - timedelta(days=local.weekday())).date()
    first = local.date().replace(day=1)
    lo = datetime.combine(min(monday, first), datetime.min.time(), period.tz)
    hi = lo + timedelta(days=45)
    spans = [svg.Span(b, e) for b, e in period.segments(lo, hi)]
    for names, cls in ((period.includes, "include"), (period.excludes, "exclude")):
        for name in names:
            if periods is not None and name in periods:
                spans += [svg.Span(b, e, cls) for b, e in periods.get(name).segments(lo, hi)]
    label = f"when {period.name} is active ({period.timezone})"
    return svg.week(spans, monday, period.tz, label), svg.month(spans, first, period.tz, label)


@endpoint(
    "GET",
    "/api/timeperiods",
    "Every time period",
    {200: apimodels.PeriodsOut},
    tags=("timeperiods",),
)
async def list_periods(request: web.Request) -> tuple[int, BaseModel]:
    periods = request.app[web_keys.SUPERVISOR].periods
    ordered = sorted(periods, key=lambda p: p.name)
    return 200, apimodels.PeriodsOut(timeperiods=[period_out(request, p) for p in ordered])


@endpoint(
    "GET",
    "/api/timeperiods/{name}",
    "A period's active segments between from and to (default: now and seven days later)",
    {200: apimodels.SegmentsOut, 404: apimodels.ErrorOut, 422: apimodels.ValidationOut},
    query=(
        Query(
            "from",
            {"type": "string"},
            "ISO-8601; without an offset: wall time in the period's zone",
        ),
        Query("to", {"type": "string"}),
    ),
    tags=("timeperiods",),
)
async def get_period(request: web.Request) -> tuple[int, BaseModel]:
    sup = request.app[web_keys.SUPERVISOR]
    periods = sup.periods
    name = request.match_info["name"]
    if name not in periods:
        raise ApiError(404, errors.unknown("time period", name, [p.name for p in periods]))
    period = periods.get(name)
    now = datetime.fromtimestamp(sup.clock(), period.tz)
    start = _instant(request.query.get("from"), "from", period, now)
    end = _instant(request.query.get("to"), "to", period, start + timedelta(days=7))
    return 200, segments_out(period, start, end, False, periods)


@endpoint(
    "POST",
    "/api/timeperiods/preview",
    "Segments of ranges that are not configured (yet): for the live calendar while typing",
    {200: apimodels.SegmentsOut, 400: apimodels.ErrorOut, 422: apimodels.ValidationOut},
    body=apimodels.PreviewIn,
    tags=("timeperiods",),
)
async def preview_period(request: web.Request) -> tuple[int, BaseModel]:
    sup = request.app[web_keys.SUPERVISOR]
    try:
        given = apimodels.PreviewIn.model_validate(await _body(request))
    except ValidationError as exc:
        raise _invalid(_pydantic_errors(exc)) from None
    periods = sup.periods
    missing = [n for n in (*given.includes, *given.excludes) if n not in periods]
    if missing:
        known = [p.name for p in periods]
        raise _invalid(
            [
                catalog.FieldError("includes", errors.unknown("time period", m, known))
                for m in missing
            ]
        )
    try:
        period = timeperiods.TimePeriod(
            "preview",
            given.ranges,
            given.includes,
            given.excludes,
            given.prefer_includes,
            given.timezone,
        )
    except timeperiods.TimePeriodError as exc:
        key = exc.key if exc.key is not None else exc.text
        where = f"ranges[{key!r}]" if key else "ranges"
        if "time zone" in str(exc):
            where = "timezone"
        raise _invalid([catalog.FieldError(where, str(exc))]) from None
    if given.includes or given.excludes:
        scratch = timeperiods.Registry([*(p for p in periods if p.name != "preview"), period])
        period = scratch.get("preview")
        periods = scratch
    now = datetime.fromtimestamp(sup.clock(), period.tz)
    start = _instant(given.start, "from", period, now)
    end = _instant(given.to, "to", period, start + timedelta(days=7))
    return 200, segments_out(period, start, end, given.calendars, periods)


# -- kinds and deployments ------------------------------------------------------------------------


@endpoint(
    "GET",
    "/api/kinds",
    "The installed job kinds with their settings' JSON Schema",
    {200: apimodels.KindsOut},
    tags=("kinds",),
)
async def list_kinds(request: web.Request) -> tuple[int, BaseModel]:
    kinds: registry.Kinds = request.app[web_keys.SUPERVISOR].kinds
    out = [apimodels.KindOut(**kinds.get(name).describe()) for name in kinds.names()]  # type: ignore[union-attr]
    return 200, apimodels.KindsOut(kinds=out)


@endpoint(
    "GET",
    "/api/deployments",
    "Icinga 2 config deployments, newest first",
    {200: apimodels.DeploymentsOut, 422: apimodels.ValidationOut},
    query=(Query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),),
    tags=("deployments",),
)
async def list_deployments(request: web.Request) -> tuple[int, BaseModel]:
    limit = _int_query(request, "limit", 50, 1, MAX_LIMIT)
    assert limit is not None
    found = await request.app[web_keys.SUPERVISOR].store.deployments(limit)
    return 200, apimodels.DeploymentsOut(deployments=[presenters.deployment(d) for d in found])


# -- plumbing -------------------------------------------------------------------------------------


def _pydantic_errors(exc: ValidationError) -> list[catalog.FieldError]:
    out = []
    for line in errors.validation_errors(exc):
        field_, _, message = line.partition(": ")
        out.append(catalog.FieldError(field_, message))
    return out


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
        except RawJson as raw:
            return web.Response(body=raw.body, content_type="application/json")
        except ApiError as exc:
            if exc.status == 401:
                return web.json_response(
                    {"error": exc.message},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="directord"'},
                )
            return _json(exc.status, exc.body or apimodels.ErrorOut(error=exc.message))
        except catalog.Invalid as exc:
            return _json(422, _invalid(exc.errors).body)
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
