"""Job definitions from config.yaml and from the store, one validation path, optimistic locking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from directord import catalog, errors, store
from directord import config as config_mod
from directord.jobs import registry

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


KINDS = registry.discover()
CONFIG: dict[str, Any] = {
    "timeperiods": {"nights": {"ranges": {"monday": "22:00-06:00"}}},
    "jobs": [
        {
            "name": "from-file",
            "kind": "command",
            "interval": "1h",
            "settings": {"command": ["true"]},
        }
    ],
}
GOOD = {"name": "web-made", "kind": "command", "interval": "5m", "settings": {"command": ["true"]}}


async def opened(
    tmp_path: Path, raw: dict[str, Any] = CONFIG
) -> tuple[catalog.Catalog, store.Store]:
    settings = config_mod.parse(raw, base_dir=tmp_path, kinds=KINDS)
    db = store.open_store(f"sqlite:///{tmp_path / 'd.db'}")
    await db.open()
    cat = catalog.Catalog(settings, KINDS, db)
    try:
        await cat.load()
    except BaseException:
        await db.close()  # an open aiosqlite connection's thread would keep the process alive
        raise
    return cat, db


async def test_a_store_job_is_validated_like_config_and_survives_a_restart(tmp_path: Path) -> None:
    cat, db = await opened(tmp_path)
    applied: list[config_mod.Settings] = []

    async def apply(merged: config_mod.Settings) -> None:
        applied.append(merged)

    cat.on_change(apply)
    try:
        entry = await cat.create(GOOD)
        assert (entry.managed, entry.version, entry.job.interval) == ("store", 1, 300.0)
        assert [j.name for j in applied[-1].jobs] == ["from-file", "web-made"]
        assert applied[-1].managed == {"from-file": "config", "web-made": "store"}
    finally:
        await db.close()
    again, db = await opened(tmp_path)
    try:
        assert again.get("web-made").managed is catalog.Managed.store
        assert again.get("web-made").job.settings == {"command": ["true"]}
        assert again.get("from-file").managed is catalog.Managed.config
    finally:
        await db.close()


async def test_every_bad_field_at_once(tmp_path: Path) -> None:
    cat, db = await opened(tmp_path)
    try:
        with pytest.raises(catalog.Invalid) as caught:
            await cat.create(
                {
                    "name": "x",
                    "kind": "command",
                    "interval": "5 parsecs",
                    "timeperiod": "days",
                    "settings": {},
                }
            )
        fields = {e.field: e.message for e in caught.value.errors}
        assert set(fields) == {"interval", "settings.command"}  # every bad field at once
        with pytest.raises(catalog.Invalid) as caught:
            await cat.create(
                {
                    "name": "x",
                    "kind": "command",
                    "interval": "5m",
                    "timeperiod": "days",
                    "settings": {},
                }
            )
        fields = {e.field: e.message for e in caught.value.errors}
        assert set(fields) == {"timeperiod", "settings.command"}
        assert "nights" in fields["timeperiod"]  # names the known ones
        with pytest.raises(catalog.Invalid) as caught:
            await cat.create({**GOOD, "kind": "nosuch"})
        assert [e.field for e in caught.value.errors] == ["kind"]
        assert [j.name for j in await db.list_jobs()] == []
    finally:
        await db.close()


async def test_stale_versions_and_config_jobs_are_conflicts(tmp_path: Path) -> None:
    cat, db = await opened(tmp_path)
    try:
        await cat.create(GOOD)
        changed = await cat.update("web-made", {**GOOD, "interval": "10m"}, version=1)
        assert changed.version == 2
        with pytest.raises(catalog.Conflict, match="version 2, not 1"):
            await cat.update("web-made", {**GOOD, "interval": "1m"}, version=1)
        assert cat.get("web-made").job.interval == 600.0
        with pytest.raises(
            catalog.Conflict, match=r"managed by config\.yaml; edit the file and reload"
        ):
            await cat.update("from-file", GOOD, version=1)
        with pytest.raises(catalog.Conflict, match=r"managed by config\.yaml"):
            await cat.delete("from-file")
        with pytest.raises(catalog.Conflict, match="exists"):
            await cat.create({**GOOD, "name": "from-file"})
        with pytest.raises(catalog.NotFound):
            await cat.update("nosuch", GOOD, version=1)
        with pytest.raises(catalog.Invalid, match="renamed"):
            await cat.update("web-made", {**GOOD, "name": "other"}, version=2)
    finally:
        await db.close()


async def test_a_name_in_both_places_is_an_error_naming_both(tmp_path: Path) -> None:
    cat, db = await opened(tmp_path)
    await cat.create(GOOD)
    await db.close()
    raw = {**CONFIG, "jobs": [*CONFIG["jobs"], GOOD]}
    with pytest.raises(errors.ConfigError) as caught:
        await opened(tmp_path, raw)
    message = str(caught.value)
    assert "'web-made' is defined in config.yaml and in the store" in message


async def test_deleting_keeps_the_runs(tmp_path: Path) -> None:
    cat, db = await opened(tmp_path)
    try:
        await cat.create(GOOD)
        c = store.Claim(
            job="web-made",
            kind="command",
            node="n",
            trigger=store.Trigger.manual,
            scheduled_for=1.0,
            started=1.0,
        )
        run_id = await db.claim_run(c)
        assert run_id is not None
        await db.finish_run(run_id, c, store.Outcome(store.RunState.succeeded, 2.0, "ok"))
        await cat.delete("web-made", version=1)
        with pytest.raises(catalog.NotFound):
            cat.get("web-made")
        assert [r.id for r in await db.job_runs("web-made")] == [run_id]
    finally:
        await db.close()
