"""The pages for the people who run directord: jobs, a job with its history and timeline, the
job form, runs, time periods with their calendars, deployments. Server-rendered (Jinja2); the
pages read the same presenters as the JSON API and write through the same catalog."""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
import markupsafe
import yaml
from aiohttp import web
from loguru import logger

from directord import __version__, catalog, interrupted
from directord.web import api_jobs, api_periods, apikit, auth, forms, login, presenters, svg
from directord.web import keys as web_keys

HERE = Path(__file__).parent
PAGE = 50
TIMELINE_RUNS = 100
ROWS_MARK = "\x00rows\x00"


def setup(app: web.Application) -> jinja2.Environment:
    """Templates and the pages' routes on ``app``; returns the templates' environment."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        auto_reload=False,  # they are the package's files: no stat() of each one per page
    )
    env.filters["urlencode"] = lambda text: urllib.parse.quote(str(text), safe="")
    app.add_routes(login.routes())
    app.add_routes(
        [
            web.get("/", index),
            web.get("/jobs", jobs_page),
            web.get("/jobs/new", new_job_page),
            web.post("/jobs/new", new_job_post),
            web.get("/jobs/{name}", job_page),
            web.get("/jobs/{name}/edit", edit_job_page),
            web.post("/jobs/{name}/edit", edit_job_post),
            web.post("/jobs/{name}/{action:run|enable|disable|delete}", job_action),
            web.get("/runs/{id:\\d{1,18}}", run_page),
            web.get("/timeperiods", periods_page),
            web.get("/timeperiods/preview", preview_page),
            web.post("/timeperiods/preview", preview_post),
            web.get("/timeperiods/{name}", period_page),
            web.get("/deployments", deployments_page),
            web.static("/static", HERE / "static", append_version=False),
        ]
    )
    return env


def _context(request: web.Request) -> dict[str, Any]:
    """What every page shows: who is logged in (aiohttp_jinja2's context processors would keep
    this under a plain string key on the request)."""
    return {"session": request.get(web_keys.SESSION_KEY), "version": __version__}


def _render(
    request: web.Request, template: str, section: str, status: int = 200, **context: Any
) -> web.Response:
    return aiohttp_jinja2.render_template(
        template, request, {**_context(request), "section": section, **context}, status=status
    )


def _require_operator(request: web.Request) -> None:
    session: auth.Session | None = request.get(web_keys.SESSION_KEY)
    if session is None or not session.may_write:
        raise web.HTTPForbidden(text="operators only")


async def index(request: web.Request) -> web.StreamResponse:
    if not request.app[web_keys.WEB_USERS]:
        return aiohttp_jinja2.render_template("off.html", request, _context(request))
    raise web.HTTPSeeOther("/jobs")


async def jobs_page(request: web.Request) -> web.Response:
    """The page around the cache's rows: only the page's frame is rendered per request, the
    rows (most of its bytes) are copied in as they are."""
    session: auth.Session | None = request.get(web_keys.SESSION_KEY)
    may_write = session is not None and session.may_write
    cache = await request.app[web_keys.JOBS_CACHE].fresh(rows_for=may_write)
    context = {**_context(request), "section": "jobs", "rows_html": markupsafe.Markup(ROWS_MARK)}
    # The last mark is the rows' (what comes after them holds nothing a user wrote).
    head, _, tail = aiohttp_jinja2.render_string("jobs.html", request, context).rpartition(
        ROWS_MARK
    )
    body = b"".join((head.encode(), cache.rows_html(may_write), tail.encode()))
    return web.Response(body=body, content_type="text/html", charset="utf-8")


def _job_or_404(request: web.Request, name: str) -> Any:
    try:
        return api_jobs.job_out(request, name)
    except apikit.ApiError as exc:
        raise web.HTTPNotFound(text=exc.message) from None


async def job_page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    job = _job_or_404(request, name)
    sup = request.app[web_keys.SUPERVISOR]
    before = request.query.get("before")
    before_id = int(before) if before and before.isdigit() and len(before) < 18 else None
    # A run whose process is gone shows as interrupted before a daemon records it.
    runs = interrupted.shown_runs(
        await sup.store.job_runs(name, limit=PAGE, before=before_id), sup.store
    )
    recent = interrupted.shown_runs(await sup.store.job_runs(name, limit=TIMELINE_RUNS), sup.store)
    now = sup.clock()
    bars = [
        svg.RunBar(r.id, str(r.state), r.started, r.finished, r.summary or "", f"/runs/{r.id}")
        for r in recent
    ]
    entry = request.app[web_keys.CATALOG].entries.get(name)
    managed = str(entry.managed) if entry else "config"
    shown = {
        "name": job.name,
        "state": job.state,
        "state_label": job.state_label,
        "kind": job.kind,
        "interval": job.schedule,
        "timeperiod": job.timeperiod,
        "timeout": presenters.duration_text(job.timeout) if job.timeout else None,
        "next_due": job.next_due_text,
        "enabled": job.enabled,
        "managed": managed,
        "managed_label": catalog.PLACES[catalog.Managed(managed)],
        "settings_yaml": yaml.safe_dump(job.definition.get("settings", {}), sort_keys=True).strip(),
    }
    rows = [
        {
            "id": r.id,
            "state": str(r.state),
            "trigger": r.trigger,
            "node": r.node,
            "started": presenters.iso(r.started),
            "duration": "running" if r.finished is None else f"{r.finished - r.started:.1f}s",
            "summary": r.summary or "",
        }
        for r in runs
    ]
    older = runs[-1].id if len(runs) == PAGE else None
    return _render(
        request,
        "job.html",
        "jobs",
        job=shown,
        runs=rows,
        older=older,
        timeline=svg.timeline(bars, now, f"the last {len(bars)} runs of {name}"),
        timeline_count=len(bars),
    )


async def run_page(request: web.Request) -> web.Response:
    db = request.app[web_keys.SUPERVISOR].store
    found = await db.get_run(int(request.match_info["id"]))
    if found is None:
        raise web.HTTPNotFound(text="no such run")
    out = presenters.run(interrupted.shown(found, db))
    details = dict(out.details)
    outputs = [(k, str(details.pop(k))) for k in ("stdout", "stderr", "output") if k in details]
    shown = {
        **out.model_dump(),
        "duration": "running" if out.duration is None else f"{out.duration:.1f}s",
        "outputs": outputs,
        "details": yaml.safe_dump(details, sort_keys=True).strip() if details else "",
    }
    return _render(request, "run.html", "jobs", run=shown)


# -- the job form --------------------------------------------------------------------------------


def _kind_model(request: web.Request, kind: str | None) -> tuple[Any, frozenset[str]]:
    kinds = request.app[web_keys.SUPERVISOR].kinds
    found = kinds.get(kind) if kind else None
    if found is None:
        return None, frozenset()
    return found.Settings, found.secret_settings


def _form_page(
    request: web.Request,
    definition: dict[str, Any],
    *,
    editing: bool,
    version: int | None = None,
    posted: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    sup = request.app[web_keys.SUPERVISOR]
    kinds = sup.kinds.names()
    kind = (posted or {}).get("kind") or definition.get("kind") or (kinds[0] if kinds else None)
    model, secret = _kind_model(request, kind)
    fields = forms.job_fields(
        {**definition, "kind": kind},
        kinds,
        sorted(p.name for p in sup.periods),
        model,
        secret,
        editing,
    )
    if posted is not None:
        fields = forms.form_values(posted, fields)
    name = definition.get("name", "")
    action = f"/jobs/{name}/edit" if editing else "/jobs/new"
    return _render(
        request,
        "job_form.html",
        "jobs",
        fields=fields,
        form={"name": name, "version": version},
        editing=editing,
        action=action,
        errors=errors or {},
        status=status,
    )


async def new_job_page(request: web.Request) -> web.Response:
    _require_operator(request)
    kind = request.query.get("kind")
    return _form_page(request, {"kind": kind} if kind else {}, editing=False)


def _posted(form: Any) -> dict[str, str]:
    return {k: str(v) for k, v in form.items()}


def _refused(exc: catalog.CatalogError, field: str) -> tuple[dict[str, str], int]:
    """The form's errors by field, and the page's status: bad fields are shown next to each
    (200: the form again); anything else (a conflict) next to ``field``, with its status."""
    if isinstance(exc, catalog.Invalid):
        return {e.field: e.message for e in exc.errors}, 200
    return {field: exc.message}, exc.status


async def new_job_post(request: web.Request) -> web.Response:
    posted = _posted(await request.post())
    login.require_writer(request, posted.get(auth.CSRF_FIELD))
    model, secret = _kind_model(request, posted.get("kind"))
    definition = forms.definition_from_form(posted, model, secret)
    try:
        entry = await request.app[web_keys.CATALOG].create(definition)
    except catalog.CatalogError as exc:
        errors, status = _refused(exc, "name")
        return _form_page(request, {}, editing=False, posted=posted, errors=errors, status=status)
    logger.bind(action="job_created", job=entry.name).info("job created in the web")
    raise web.HTTPSeeOther(f"/jobs/{entry.name}")


def _store_entry(request: web.Request, name: str) -> catalog.Entry:
    entry = request.app[web_keys.CATALOG].entries.get(name)
    if entry is None:
        raise web.HTTPNotFound(text=f"no job {name!r}")
    if entry.managed is not catalog.Managed.store:
        raise web.HTTPConflict(text=f"job {name!r} is managed by {catalog.PLACES[entry.managed]}")
    return entry


async def edit_job_page(request: web.Request) -> web.Response:
    _require_operator(request)
    entry = _store_entry(request, request.match_info["name"])
    return _form_page(request, entry.definition(), editing=True, version=entry.version)


async def edit_job_post(request: web.Request) -> web.Response:
    posted = _posted(await request.post())
    login.require_writer(request, posted.get(auth.CSRF_FIELD))
    name = request.match_info["name"]
    entry = _store_entry(request, name)
    model, secret = _kind_model(request, posted.get("kind"))
    definition = forms.definition_from_form(
        {**posted, "name": name}, model, secret, entry.definition()
    )
    version = int(posted["version"]) if posted.get("version", "").isdigit() else 0
    try:
        await request.app[web_keys.CATALOG].update(name, definition, version)
    except catalog.CatalogError as exc:
        errors, status = _refused(exc, "")
        return _form_page(
            request,
            entry.definition(),
            editing=True,
            version=version,
            posted=posted,
            errors=errors,
            status=status,
        )
    logger.bind(action="job_updated", job=name).info("job edited in the web")
    raise web.HTTPSeeOther(f"/jobs/{name}")


async def job_action(request: web.Request) -> web.Response:
    posted = _posted(await request.post())
    login.require_writer(request, posted.get(auth.CSRF_FIELD))
    name, action = request.match_info["name"], request.match_info["action"]
    try:
        if action == "run":
            request.app[web_keys.SUPERVISOR].trigger(name)
        elif action == "delete":
            await request.app[web_keys.CATALOG].delete(name)
            raise web.HTTPSeeOther("/jobs")
        else:
            await api_jobs.set_disabled(request.app, name, action == "disable")
    except KeyError:
        raise web.HTTPNotFound(text=f"no job {name!r}") from None
    except catalog.CatalogError as exc:
        raise web.HTTPConflict(text=exc.message) from None
    logger.bind(action=f"job_{action}", job=name).info("{} in the web", action)
    raise web.HTTPSeeOther((request.headers.get("Referer") and f"/jobs/{name}") or "/jobs")


# -- time periods and deployments ----------------------------------------------------------------


async def periods_page(request: web.Request) -> web.Response:
    rows = [
        api_periods.period_out(request, p)
        for p in sorted(request.app[web_keys.SUPERVISOR].periods, key=lambda p: p.name)
    ]
    shown = [
        {
            "name": p.name,
            "timezone": p.timezone,
            "active": p.active_now,
            "next_change": p.next_change,
            "jobs": p.jobs,
        }
        for p in rows
    ]
    return _render(request, "timeperiods.html", "timeperiods", periods=shown)


def _period_context(request: web.Request, period: Any, editable: bool) -> dict[str, Any]:
    sup = request.app[web_keys.SUPERVISOR]
    now = datetime.fromtimestamp(sup.clock(), period.tz)
    week, month = api_periods.calendars_of(period, now, sup.periods)
    monday = now.date().toordinal() - now.weekday()
    return {
        "period": {
            "name": period.name,
            "timezone": period.timezone,
            "ranges": sorted(period.ranges.items()),
            "ranges_text": "\n".join(f"{k} = {v}" for k, v in period.ranges.items()),
            "includes": list(period.includes),
            "excludes": list(period.excludes),
            "active": period.is_active(now),
        },
        "editable": editable,
        "week": week,
        "month": month,
        "week_label": datetime.fromordinal(monday).date().isoformat(),
        "month_label": now.strftime("%B %Y"),
    }


async def period_page(request: web.Request) -> web.Response:
    periods = request.app[web_keys.SUPERVISOR].periods
    name = request.match_info["name"]
    if name not in periods:
        raise web.HTTPNotFound(text=f"no time period {name!r}")
    return _render(
        request,
        "timeperiod.html",
        "timeperiods",
        **_period_context(request, periods.get(name), False),
    )


async def preview_page(request: web.Request) -> web.Response:
    from directord import timeperiods  # noqa: PLC0415 - only this page makes a period

    period = timeperiods.TimePeriod(
        "new period", {"monday - friday": "09:00-17:00"}, timezone="UTC"
    )
    return _render(
        request, "timeperiod.html", "timeperiods", **_period_context(request, period, True)
    )


async def preview_post(request: web.Request) -> web.Response:
    """The calendar preview while typing: the API's preview, but a parse error is an answer
    (200 with ``errors``), not a failed request the browser would log."""
    session: auth.Session | None = request.get(web_keys.SESSION_KEY)
    if session is None or not auth.csrf_matches(session, request.headers.get(auth.CSRF_HEADER)):
        raise web.HTTPForbidden(text="missing or wrong CSRF token")
    try:
        _, found = await api_periods.preview_period(request)
    except apikit.ApiError as exc:
        if exc.body is None:
            return web.json_response({"errors": [{"field": "", "message": exc.message}]})
        return web.json_response(text=exc.body.model_dump_json())
    assert found is not None  # the preview always answers with segments
    return web.json_response(text=found.model_dump_json(by_alias=True))


async def deployments_page(request: web.Request) -> web.Response:
    found = await request.app[web_keys.SUPERVISOR].store.deployments(100)
    shown = [
        {
            "started": presenters.iso(d.started),
            "checksum": d.checksum[:12],
            "stage": d.stage,
            "ok": d.ok,
            "errors": d.error or "",
        }
        for d in found
    ]
    return _render(request, "deployments.html", "deployments", deployments=shown)
