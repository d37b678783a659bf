"""Every job as the API and the jobs page show it, built at most once a second and served to
every request from there (a daemon with 1,000 jobs would otherwise spend most of each request,
and of its event loop, building the same answer again).

A rebuild walks the jobs in slices and yields to the loop between them, so a request for
``/health`` or a job's start is never held up by it; requests meanwhile get the last complete
answer, which is at most about a second old (the pages poll every second anyway).
"""

from __future__ import annotations

import asyncio
import html
import json
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from directord import events
from directord.web import presenters

if TYPE_CHECKING:
    from directord.catalog import Catalog
    from directord.supervisor import Supervisor

MAX_AGE = 1.0
SLICE = 100
CSRF_MARK = "\x00csrf\x00"  # replaced by each session's token when a page is served


class JobsCache:
    def __init__(self, supervisor: Supervisor, jobs: Catalog) -> None:
        self.supervisor = supervisor
        self.catalog = jobs
        self.rows: list[dict[str, Any]] = []
        self.body = b'{"jobs":[]}'
        self.html: dict[bool, str] = {True: "", False: ""}
        self.built = float("-inf")
        self._task: asyncio.Task[None] | None = None
        # The definition part of each job changes only with its spec: kept by spec identity.
        self._static: dict[str, tuple[Any, dict[str, Any]]] = {}
        # A job added, changed or removed shows at once: answers built before that are not
        # served again (``generation`` counts reloads; ``built_for`` is what the answer saw).
        self.generation = 0
        self.built_for = -1
        supervisor.events.subscribe(self._reloaded, {events.Reloaded})

    def _reloaded(self, _: events.Event) -> None:
        self.generation += 1

    async def fresh(self) -> JobsCache:
        """Self, rebuilt in the background when a second old; rebuilt first when it never was
        or the jobs changed since."""
        while True:
            idle = self._task is None or self._task.done()
            outdated = self.built_for != self.generation
            if idle and (outdated or time.monotonic() - self.built >= MAX_AGE):
                self._task = asyncio.ensure_future(self._rebuild())
            if not outdated or self._task is None:
                return self
            await asyncio.shield(self._task)

    def page_rows(self, may_write: bool, csrf: str) -> str:
        return self.html[may_write].replace(CSRF_MARK, html.escape(csrf, quote=True))

    def _static_of(self, name: str) -> dict[str, Any]:
        spec = self.supervisor.specs[name]
        cached = self._static.get(name)
        if cached is not None and cached[0] is spec:
            return cached[1]
        managed = self.supervisor.daemon_settings._managed.get(name, "config")
        definition = spec.job_config.model_dump(mode="json", exclude_none=True)
        definition["settings"] = presenters.redacted(
            definition.get("settings", {}), spec.kind.secret_settings
        )
        director_id = spec.job_config.settings.get("id") if managed == "director" else None
        static = {
            "managed": managed,
            "director_id": director_id if isinstance(director_id, int) else None,
            "timeout": spec.job_config.timeout,
            "definition": definition,
        }
        self._static[name] = (spec, static)
        return static

    async def _rebuild(self) -> None:
        sup = self.supervisor
        generation = self.generation
        now = sup.clock()
        views = sup.job_views(now)
        rows: list[dict[str, Any]] = []
        for start in range(0, len(views), SLICE):
            for view in views[start : start + SLICE]:
                if view.name not in sup.specs:
                    continue  # removed by a reload meanwhile
                entry = self.catalog.entries.get(view.name)
                static = self._static_of(view.name)
                version = entry.version if entry is not None and entry.version else None
                rows.append(
                    presenters.job_row(
                        view,
                        static,
                        version or sup.specs[view.name].version,
                        now,
                    )
                )
            await asyncio.sleep(0)
        self._static = {n: s for n, s in self._static.items() if n in sup.specs}
        self.rows = rows
        self.body = json.dumps({"jobs": rows}, separators=(",", ":")).encode()
        self.html = {True: _rows_html(rows, True), False: _rows_html(rows, False)}
        self.built = time.monotonic()
        self.built_for = generation


def _rows_html(rows: list[dict[str, Any]], may_write: bool) -> str:
    esc = html.escape
    out = []
    for job in rows:
        name = esc(job["name"], quote=True)
        url = urllib.parse.quote(job["name"], safe="")
        period = job["timeperiod"]
        period_cell = (
            f'<a href="/timeperiods/{urllib.parse.quote(period, safe="")}">{esc(period)}</a>'
            if period
            else "–"
        )
        action = ""
        if may_write:
            action = (
                f'<td><form method="post" action="/jobs/{url}/run">'
                f'<input type="hidden" name="csrf_token" value="{CSRF_MARK}">'
                f'<button type="submit" aria-label="Run {name} now">Run now</button>'
                "</form></td>"
            )
        out.append(
            f'<tr id="job-{name}" data-job="{name}" class="state-{job["state"]}">'
            f'<td class="state"><span class="dot" aria-hidden="true"></span>'
            f'<span class="label">{esc(job["state_label"])}</span></td>'
            f'<td><a href="/jobs/{url}">{esc(job["name"])}</a></td>'
            f"<td>{esc(job['kind'])}</td><td>{esc(job['schedule'])}</td>"
            f"<td>{period_cell}</td>"
            f'<td class="last">{esc(job["last_text"])}</td>'
            f'<td class="next">{esc(job["next_due_text"])}</td>{action}</tr>'
        )
    return "\n".join(out)
