"""Every job as the API and the jobs page show it, built at most once a second and served to
every request from there (a daemon with 1,000 jobs would otherwise spend most of each request,
and of its event loop, building the same answer again).

A rebuild takes the jobs a slice at a time (views, rows, their JSON and their table rows) and
yields to the loop between slices, so a request for ``/health`` or a job's start waits for one
slice at most, never for the whole; requests meanwhile get the last complete answer, which is at
most about a second old (the pages poll every second anyway). The answers are kept encoded: a
request for every job copies bytes, it builds nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from directord import events
from directord.web import presenters

if TYPE_CHECKING:
    import jinja2

    from directord.catalog import Catalog
    from directord.supervisor import Supervisor
    from directord.views import JobView

MAX_AGE = 1.0
# Jobs per slice: each takes a fraction of a millisecond of the loop (Jinja's rows the most).
SLICE = 20


def managed_of(supervisor: Supervisor, name: str) -> str:
    """config, store or director: where the job's definition lives."""
    return supervisor.daemon_settings.managed_by(name)


class JobsCache:
    def __init__(
        self, supervisor: Supervisor, jobs: Catalog, rows_template: jinja2.Template | None = None
    ) -> None:
        self.supervisor = supervisor
        self.catalog = jobs
        # Renders the jobs table's rows (``rows``, ``may_write``); None: the API only.
        self.rows_template = rows_template
        self.rows: list[dict[str, Any]] = []
        self.body = b'{"jobs":[]}'
        # The table rows for operators (True) and viewers (False), built while pages ask for
        # them (a daemon only watched through the API renders none).
        self._html: dict[bool, bytes] = {}
        self._wanted: set[bool] = set()
        self.built = float("-inf")
        self._task: asyncio.Task[None] | None = None
        # The definition part of each job changes only with its spec: kept by spec identity.
        self._static: dict[str, tuple[Any, dict[str, Any]]] = {}
        # A job added, changed, removed, switched off or on shows at once: answers built before
        # are not served again (``generation`` counts such changes; ``built_for`` is what the
        # answer saw).
        self.generation = 0
        self.built_for = -1
        supervisor.events.subscribe(lambda _: self.invalidate(), {events.Reloaded})

    def invalidate(self) -> None:
        """The jobs changed: the next request waits for an answer built after this."""
        self.generation += 1

    async def fresh(self, rows_for: bool | None = None) -> JobsCache:
        """Self, rebuilt in the background when a second old; rebuilt first when it never was,
        the jobs changed since, or the table rows ``rows_for`` operators (True) or viewers
        (False) are asked for and the last rebuild made none (no page asked for them then)."""
        want = rows_for if self.rows_template is not None else None
        while True:
            if want is not None:
                self._wanted.add(want)
            idle = self._task is None or self._task.done()
            outdated = self.built_for != self.generation or (
                want is not None and want not in self._html
            )
            if idle and (outdated or time.monotonic() - self.built >= MAX_AGE):
                self._task = asyncio.ensure_future(self._rebuild())
            if not outdated or self._task is None:
                return self
            await asyncio.shield(self._task)

    def rows_html(self, may_write: bool) -> bytes:
        """The jobs table's rows, encoded (after ``fresh(rows_for=may_write)``)."""
        return self._html.get(may_write, b"")

    def row(self, view: JobView, now: float) -> dict[str, Any]:
        """One job as the API shows it (the shape of ``apimodels.JobOut``)."""
        entry = self.catalog.entries.get(view.name)
        version = entry.version if entry is not None and entry.version else None
        spec_version = self.supervisor.specs[view.name].version
        return presenters.job_row(view, self._static_of(view.name), version or spec_version, now)

    def _static_of(self, name: str) -> dict[str, Any]:
        spec = self.supervisor.specs[name]
        cached = self._static.get(name)
        if cached is not None and cached[0] is spec:
            return cached[1]
        managed = managed_of(self.supervisor, name)
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
        template = self.rows_template
        # Only the rows pages asked for since the last rebuild (the jobs page polls the JSON).
        html: dict[bool, list[str]] = {w: [] for w in self._wanted}
        self._wanted = set()
        names = sorted(sup.specs)
        rows: list[dict[str, Any]] = []
        encoded: list[str] = []
        for start in range(0, len(names), SLICE):
            now = sup.clock()
            # A job removed by a reload meanwhile has no view: job_views leaves it out.
            part = [
                self.row(view, now) for view in sup.job_views(now, names[start : start + SLICE])
            ]
            if part:
                rows += part
                encoded.append(json.dumps(part, separators=(",", ":"))[1:-1])
                for may_write, out in html.items():
                    assert template is not None  # only wanted with a template
                    out.append(template.render(rows=part, may_write=may_write))
            await asyncio.sleep(0)
        self._static = {n: s for n, s in self._static.items() if n in sup.specs}
        self.rows = rows
        self.body = ('{"jobs":[' + ",".join(encoded) + "]}").encode()
        self._html = {w: "".join(parts).encode() for w, parts in html.items()}
        self.built = time.monotonic()
        self.built_for = generation
