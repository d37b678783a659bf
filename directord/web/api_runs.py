"""The API's runs: a job's runs, newest first, a page at a time; one run with its details and
output tails (from the store, as ``presenters.run`` shows them)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from directord import catalog, errors, interrupted
from directord.web import apikit, apimodels, presenters
from directord.web import keys as web_keys

STATES = ("running", "succeeded", "failed", "timed_out", "cancelled", "interrupted")


async def job_runs(request: web.Request) -> tuple[int, BaseModel]:
    """A job's runs, newest first, a page at a time"""
    sup = request.app[web_keys.SUPERVISOR]
    name = request.match_info["name"]
    limit = apikit.int_query(request, "limit", 20, 1, apikit.MAX_LIMIT)
    before = apikit.int_query(request, "before", None, 1, 2**62)
    state = request.query.get("state") or None
    if state is not None and state not in STATES:
        raise apikit.invalid(
            [catalog.FieldError("state", errors.unknown("state", state, sorted(STATES)))]
        )
    if name not in sup.specs:
        raise apikit.ApiError(404, errors.unknown("job", name, sup.specs))
    assert limit is not None
    found = await sup.store.job_runs(name, limit=limit, before=before, state=state)
    next_before = found[-1].id if len(found) == limit else None
    # A run whose process is gone shows as interrupted before a daemon records it.
    shown = interrupted.shown_runs(found, sup.store)
    return 200, apimodels.RunsOut(runs=[presenters.run(r) for r in shown], next_before=next_before)


async def get_run(request: web.Request) -> tuple[int, BaseModel]:
    """One run with its details and output tails"""
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise apikit.ApiError(404, f"no run {raw!r}")
    db = request.app[web_keys.SUPERVISOR].store
    found = await db.get_run(int(raw))
    if found is None:
        raise apikit.ApiError(404, f"no run {raw}")
    return 200, presenters.run(interrupted.shown(found, db))
