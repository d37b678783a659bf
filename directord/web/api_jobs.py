"""The API's jobs: read (one, every one), create, replace, delete, switch on and off, run now.
Writes go through the catalog (one validation path with config.yaml); every answer is a job as
the jobs cache presents it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from loguru import logger
from pydantic import BaseModel

from directord import catalog, errors
from directord.web import apikit, apimodels, jobscache
from directord.web import keys as web_keys

if TYPE_CHECKING:
    from directord.views import JobView

FORCE_VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def job_out(request: web.Request, name: str) -> apimodels.JobOut:
    sup = request.app[web_keys.SUPERVISOR]
    now = sup.clock()
    views = sup.job_views(now, [name])
    if not views:
        raise apikit.ApiError(404, errors.unknown("job", name, sup.specs))
    return _present(request, views[0], now)


def _present(request: web.Request, view: JobView, now: float) -> apimodels.JobOut:
    return apimodels.JobOut.model_validate(request.app[web_keys.JOBS_CACHE].row(view, now))


def _not_director(request: web.Request, name: str) -> None:
    if jobscache.managed_of(request.app[web_keys.SUPERVISOR], name) == "director":
        raise apikit.ApiError(409, f"job {name!r} is managed by Icinga Director; edit it there")


async def set_disabled(app: web.Application, name: str, disabled: bool) -> None:
    """The same switch as ``directord job disable NAME`` (kept in the store, for any job,
    whatever its definition says), for the API and the pages: the running supervisor and the
    jobs list see it at once. KeyError: no such job."""
    await app[web_keys.SUPERVISOR].set_disabled(name, disabled)
    app[web_keys.JOBS_CACHE].invalidate()


async def list_jobs(request: web.Request) -> tuple[int, BaseModel]:
    """Every job with its state, schedule and last result"""
    only = request.query.get("name")
    if only is not None:
        sup = request.app[web_keys.SUPERVISOR]
        now = sup.clock()
        views = sup.job_views(now, [only])
        return 200, apimodels.JobsOut(jobs=[_present(request, v, now) for v in views])
    # Every job: the cached answer (at most a second old), not one built per request.
    cache = await request.app[web_keys.JOBS_CACHE].fresh()
    raise apikit.RawJson(cache.body)


async def create_job(request: web.Request) -> tuple[int, BaseModel]:
    """Create a job (managed by the store)"""
    entry = await request.app[web_keys.CATALOG].create(await apikit.body(request))
    logger.bind(action="job_created", job=entry.name).info("job created through the API")
    return 201, job_out(request, entry.name)


async def get_job(request: web.Request) -> tuple[int, BaseModel]:
    """One job"""
    return 200, job_out(request, request.match_info["name"])


async def put_job(request: web.Request) -> tuple[int, BaseModel]:
    """Replace a store-managed job's whole definition at the version it was read"""
    name = request.match_info["name"]
    _not_director(request, name)
    data = await apikit.body(request)
    version = data.pop("version", None)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        request.app[web_keys.CATALOG].get(name)  # 404 before 422
        message = "required: the version the job was read at"
        raise apikit.invalid([catalog.FieldError("version", message)])
    await request.app[web_keys.CATALOG].update(name, {"name": name, **data}, version)
    logger.bind(action="job_updated", job=name).info("job replaced through the API")
    return 200, job_out(request, name)


async def delete_job(request: web.Request) -> tuple[int, None]:
    """Delete a store-managed job; its runs stay"""
    name = request.match_info["name"]
    _not_director(request, name)
    version = apikit.int_query(request, "version", None, 1, 2**62)
    await request.app[web_keys.CATALOG].delete(name, version)
    logger.bind(action="job_deleted", job=name).info("job deleted through the API")
    return 204, None


async def _switch(request: web.Request, disabled: bool) -> tuple[int, BaseModel]:
    name = request.match_info["name"]
    try:
        await set_disabled(request.app, name, disabled)
    except KeyError:
        raise apikit.ApiError(
            404, errors.unknown("job", name, request.app[web_keys.SUPERVISOR].specs)
        ) from None
    verb = "disabled" if disabled else "enabled"
    logger.bind(action=f"job_{verb}", job=name).info("job {} through the API", verb)
    return 200, job_out(request, name)


async def enable_job(request: web.Request) -> tuple[int, BaseModel]:
    """Switch a job on again (the store's switch, as directord job enable)"""
    return await _switch(request, False)


async def disable_job(request: web.Request) -> tuple[int, BaseModel]:
    """Switch a job off (kept in the store, as directord job disable)"""
    return await _switch(request, True)


async def run_job(request: web.Request) -> tuple[int, BaseModel]:
    """Run a job now, outside its schedule (a disabled job only with ?force=true)"""
    sup = request.app[web_keys.SUPERVISOR]
    name = request.match_info["name"]
    force = FORCE_VALUES.get(request.query.get("force", "false").lower())
    if force is None:
        raise apikit.ApiError(400, "force: expected true or false")
    views = sup.job_views(sup.clock(), [name])
    if not views:
        raise apikit.ApiError(404, f"unknown job {name!r}")
    if not views[0].enabled and not force:
        raise apikit.ApiError(409, f"job {name!r} is disabled; add ?force=true to run it anyway")
    sup.trigger(name)
    logger.bind(action="run_requested", job=name, forced=force).info(
        "run requested through the API from {}{}", request.remote, " (forced)" if force else ""
    )
    return 202, apimodels.RunQueued(job=name, queued=True, running_now=name in sup.running)
