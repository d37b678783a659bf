"""Import and sync runs: fetch -> modify -> row set; row sets -> desired objects -> change set.

The I/O edge of the icinga room: it reads sources and the store; every CPU-heavy step (parsing,
hashing, diffing tens of thousands of rows) runs in a worker thread, so the event loop stays
free for the status endpoint and the other jobs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from directord import store
from directord.icinga import objects, rowsets, sources
from directord.icinga.errors import SourceError
from directord.icinga.rules import CompiledRule, SyncRule

if TYPE_CHECKING:
    import aiohttp  # the session is the caller's; no client is made here

T = TypeVar("T")
ToThread = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class ImportOutcome:
    source: str
    rows: int
    checksum: str
    row_set: int
    unchanged: bool

    @property
    def summary(self) -> str:
        if self.unchanged:
            return f"{self.source}: unchanged ({self.rows} rows)"
        return f"{self.source}: {self.rows} rows, new row set {self.row_set}"


@dataclass(frozen=True)
class SyncOutcome:
    rule: str
    changes: list[objects.Change]
    applied: bool
    activity: int | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        c = self.counts
        verb = "" if self.applied else "would be "
        if not self.changes:
            return f"{self.rule}: no changes"
        return (
            f"{self.rule}: {c['created']} {verb}created, {c['modified']} {verb}modified, "
            f"{c['deleted']} {verb}deleted"
        )


async def fetch(
    name: str,
    source: sources.ImportSource,
    base_dir: Path,
    http: Callable[[], aiohttp.ClientSession],
    to_thread: ToThread,
) -> list[sources.Row]:
    if isinstance(source, sources.CsvSource):
        rows: list[sources.Row] = await to_thread(sources.read_csv, source, base_dir)
        return rows
    if isinstance(source, sources.JsonSource):
        return await sources.fetch_json(source, base_dir, http, to_thread)
    return await sources.fetch_sql(source, base_dir)


async def run_import(
    name: str,
    source: sources.ImportSource,
    db: store.Store,
    *,
    base_dir: Path,
    http: Callable[[], aiohttp.ClientSession],
    to_thread: ToThread,
    now: float,
    run_id: int | None = None,
) -> ImportOutcome:
    """Fetch a source and keep its rows as a row set, unless they equal the last one."""
    raw = await fetch(name, source, base_dir, http, to_thread)
    prepared: rowsets.PreparedRows = await to_thread(rowsets.prepare, raw, source, name)
    last = await db.latest_row_set(name)
    if last is not None and last.checksum == prepared.checksum:
        return ImportOutcome(name, len(prepared), prepared.checksum, last.id, unchanged=True)
    row_set = await db.save_row_set(
        name, prepared.checksum, prepared.rows, prepared.columns, now, run_id
    )
    return ImportOutcome(name, len(prepared), prepared.checksum, row_set, unchanged=False)


def _decode_rows(data: list[tuple[str, str]]) -> list[sources.Row]:
    return [json.loads(d) for _, d in data]


def _plan(
    compiled: CompiledRule,
    rows: list[list[sources.Row]],
    stored: list[tuple[str, str, str, str | None]],
) -> list[objects.Change]:
    wanted = objects.desired(compiled, rows)
    existing = {
        name: objects.StoredObject(kind, name, json.loads(props), rule)
        for kind, name, props, rule in stored
    }
    return objects.diff(compiled, wanted, existing)


async def run_sync(
    name: str,
    rule: SyncRule,
    db: store.Store,
    *,
    to_thread: ToThread,
    now: float,
    apply: bool = True,
    run_id: int | None = None,
) -> SyncOutcome:
    """Compute the rule's change set from the latest row sets of its sources; apply it unless
    ``apply`` is false (a dry run)."""
    compiled = CompiledRule.build(name, rule)
    row_lists = []
    for source in rule.sources:
        latest = await db.latest_row_set(source)
        if latest is None:
            raise SourceError(
                f"sync rule {name!r}: source {source!r} has not been imported yet "
                "(run its import job first)"
            )
        data = await db.row_set_data(latest.id)
        row_lists.append(await to_thread(_decode_rows, data))
    stored = await db.objects(rule.object_type)
    changes: list[objects.Change] = await to_thread(_plan, compiled, row_lists, stored)
    counts = objects.counts(changes)
    if not apply or not changes:
        return SyncOutcome(name, changes, applied=apply, counts=counts)
    entry = store.ObjectChanges(
        rule=name,
        run_id=run_id,
        created=now,
        creates=[
            (c.type, c.name, json.dumps(c.after, sort_keys=True))
            for c in changes
            if c.action == "create"
        ],
        updates=[
            (c.type, c.name, json.dumps(c.after, sort_keys=True))
            for c in changes
            if c.action == "modify"
        ],
        deletes=[(c.type, c.name) for c in changes if c.action == "delete"],
        changes=[c.as_json() for c in changes],
    )
    activity = await db.apply_object_changes(entry)
    return SyncOutcome(name, changes, applied=True, activity=activity, counts=counts)
