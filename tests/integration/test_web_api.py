"""The JSON API against a real app: a real Supervisor on a real SQLite file, the catalog, the
aiohttp server on a free loopback port (aiohttp's TestServer), bearer token and sessions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import test_utils, web

from directord import catalog, store
from directord import config as config_mod
from directord.jobs import registry
from directord.supervisor import Supervisor
from directord.web import app as web_app
from directord.web import auth, frontend

pytestmark = pytest.mark.anyio
TOKEN = "t0ken-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
OPERATOR_PW = "operator-password"
VIEWER_PW = "viewer-password"
OPERATOR_HASH = auth.hash_password(OPERATOR_PW)
VIEWER_HASH = auth.hash_password(VIEWER_PW)
CONFIG: dict[str, Any] = {
    "node": "n1",
    "timeperiods": {
        "weekdays": {"timezone": "Europe/Berlin", "ranges": {"monday": "09:00-17:00"}},
    },
    "web": {
        "users": [
            {"name": "olga", "password_hash": OPERATOR_HASH, "role": "operator"},
            {"name": "vic", "password_hash": VIEWER_HASH, "role": "viewer"},
        ]
    },
    "jobs": [
        {
            "name": "from-file",
            "kind": "command",
            "interval": "1h",
            "settings": {"command": ["true"]},
        },
        {
            "name": "secretive",
            "kind": "command",
            "interval": "1h",
            "disabled": True,
            "settings": {"command": ["true"], "env": {"API_TOKEN": "hunter2"}},
        },
    ],
}
NEW = {"name": "made-here", "kind": "command", "interval": "5m", "settings": {"command": ["true"]}}
Client = test_utils.TestClient[web.Request, web.Application]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Client, Supervisor]]:
    kinds = registry.discover()
    settings = config_mod.parse(CONFIG, base_dir=tmp_path, kinds=kinds)
    db = store.open_store(f"sqlite:///{tmp_path / 'directord.db'}")
    await db.open()
    cat = catalog.Catalog(settings, kinds, db)
    sup = Supervisor(await cat.load(), db, kinds)
    cat.on_change(sup.apply_reload)
    await sup.load_state()
    app = web_app.create_app(sup, TOKEN)
    frontend.install(app, settings, cat, TOKEN)
    client: Client = test_utils.TestClient(test_utils.TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, sup
    finally:
        await client.close()
        await sup.close()
        await db.close()


async def test_reads_need_a_token_or_a_session(api: tuple[Client, Supervisor]) -> None:
    client, _ = api
    assert (await client.get("/api/jobs")).status == 401
    assert (await client.get("/api/jobs", headers={"Authorization": "Bearer nope"})).status == 403
    response = await client.get("/api/jobs", headers=BEARER)
    assert response.status == 200
    jobs = {j["name"]: j for j in (await response.json())["jobs"]}
    assert jobs["from-file"]["managed"] == "config"
    assert jobs["from-file"]["state"] == "pending"
    assert jobs["secretive"]["state"] == "disabled"
    assert "hunter2" not in str(jobs["secretive"]["definition"])
    text = await (await client.get("/api/jobs/secretive", headers=BEARER)).text()
    assert "hunter2" not in text


async def listed_enabled(client: Client, name: str) -> bool:
    """Whether GET /api/jobs (every job: the cached list) shows ``name`` enabled."""
    jobs = (await (await client.get("/api/jobs", headers=BEARER)).json())["jobs"]
    return bool(next(j["enabled"] for j in jobs if j["name"] == name))


async def test_create_edit_delete_a_store_job(api: tuple[Client, Supervisor]) -> None:
    client, sup = api
    created = await client.post("/api/jobs", json=NEW, headers=BEARER)
    assert created.status == 201, await created.text()
    body = await created.json()
    assert (body["managed"], body["version"], body["interval"]) == ("store", 1, 300.0)
    assert "made-here" in sup.specs  # the running supervisor has it at once
    again = await client.post("/api/jobs", json=NEW, headers=BEARER)
    assert again.status == 409

    stale = await client.put(
        "/api/jobs/made-here", json={**NEW, "interval": "1m", "version": 7}, headers=BEARER
    )
    assert stale.status == 409
    assert sup.specs["made-here"].job_config.interval == 300.0
    put = await client.put(
        "/api/jobs/made-here", json={**NEW, "interval": "1m", "version": 1}, headers=BEARER
    )
    assert put.status == 200, await put.text()
    assert (await put.json())["version"] == 2
    assert sup.specs["made-here"].job_config.interval == 60.0

    assert await listed_enabled(client, "made-here") is True  # the list is cached now
    disabled = await client.post("/api/jobs/made-here/disable", headers=BEARER)
    assert (await disabled.json())["enabled"] is False
    assert "made-here" in await sup.store.disabled_jobs()
    assert await listed_enabled(client, "made-here") is False  # at once, not a second later
    enabled = await client.post("/api/jobs/made-here/enable", headers=BEARER)
    assert (await enabled.json())["enabled"] is True

    gone = await client.delete("/api/jobs/made-here", headers=BEARER)
    assert gone.status == 204
    assert "made-here" not in sup.specs
    assert (await client.get("/api/jobs/made-here", headers=BEARER)).status == 404


async def test_config_jobs_are_read_only(api: tuple[Client, Supervisor]) -> None:
    client, _ = api
    for response in [
        await client.put(
            "/api/jobs/from-file", json={**NEW, "name": "from-file", "version": 1}, headers=BEARER
        ),
        await client.delete("/api/jobs/from-file", headers=BEARER),
    ]:
        assert response.status == 409
        assert (
            "managed by config.yaml; edit the file and reload" in (await response.json())["error"]
        )
    # Switching a job off is not an edit of its definition: the store's switch, as the CLI's.
    off = await client.post("/api/jobs/from-file/disable", headers=BEARER)
    assert off.status == 200
    assert (await off.json())["state"] == "disabled"
    assert (await client.post("/api/jobs/from-file/run", headers=BEARER)).status == 409
    on = await client.post("/api/jobs/from-file/enable", headers=BEARER)
    assert (await on.json())["enabled"] is True


async def test_every_bad_field_at_once(api: tuple[Client, Supervisor]) -> None:
    client, _ = api
    bad = {
        "name": "x",
        "kind": "command",
        "interval": "5 parsecs",
        "settings": {"ok_exit_codes": "zero"},
    }
    response = await client.post("/api/jobs", json=bad, headers=BEARER)
    assert response.status == 422
    fields = {e["field"] for e in (await response.json())["errors"]}
    assert fields == {"interval", "settings.command", "settings.ok_exit_codes"}
    response = await client.post(
        "/api/jobs", json={**NEW, "timeperiod": "nosuch", "after": ["ghost"]}, headers=BEARER
    )
    assert response.status == 422
    errors = {e["field"]: e["message"] for e in (await response.json())["errors"]}
    assert set(errors) == {"timeperiod", "after"}
    assert "weekdays" in errors["timeperiod"]
    assert (await client.post("/api/jobs", data=b"{nope", headers=BEARER)).status == 400
    no_version = await client.put("/api/jobs/from-file", json=NEW, headers=BEARER)
    assert no_version.status == 422


async def test_runs_pages_and_one_run(api: tuple[Client, Supervisor]) -> None:
    client, sup = api
    ids = []
    for _ in range(3):
        report = await sup.run_now("from-file")
        assert report is not None
        ids.append(report.run_id)
    first = await (await client.get("/api/jobs/from-file/runs?limit=2", headers=BEARER)).json()
    assert [r["id"] for r in first["runs"]] == ids[::-1][:2]
    after = first["next_before"]
    rest = await (
        await client.get(f"/api/jobs/from-file/runs?limit=2&before={after}", headers=BEARER)
    ).json()
    assert [r["id"] for r in rest["runs"]] == [ids[0]]
    assert rest["next_before"] is None
    one = await (await client.get(f"/api/runs/{ids[0]}", headers=BEARER)).json()
    assert one["state"] == "succeeded"
    assert "exit_code" in one["details"] or one["summary"]
    assert (await client.get("/api/runs/999999", headers=BEARER)).status == 404
    assert (await client.get("/api/jobs/from-file/runs?limit=x", headers=BEARER)).status == 422
    assert (await client.get("/api/jobs/from-file/runs?state=bogus", headers=BEARER)).status == 422
    assert (await client.get("/api/jobs/nosuch/runs", headers=BEARER)).status == 404


async def test_run_now_refuses_disabled_jobs_unless_forced(api: tuple[Client, Supervisor]) -> None:
    client, _ = api
    assert (await client.post("/api/jobs/secretive/run", headers=BEARER)).status == 409
    assert (await client.post("/api/jobs/secretive/run?force=true", headers=BEARER)).status == 202
    assert (await client.post("/api/jobs/from-file/run", headers=BEARER)).status == 202
    assert (await client.post("/api/jobs/nosuch/run", headers=BEARER)).status == 404


async def test_time_periods_segments_and_preview(api: tuple[Client, Supervisor]) -> None:
    client, _ = api
    listed = await (await client.get("/api/timeperiods", headers=BEARER)).json()
    assert [p["name"] for p in listed["timeperiods"]] == ["weekdays"]
    seg = await (
        await client.get(
            "/api/timeperiods/weekdays?from=2027-03-01T00:00&to=2027-03-08T00:00", headers=BEARER
        )
    ).json()
    assert seg["segments"] == [
        {"begin": "2027-03-01T09:00:00+01:00", "end": "2027-03-01T17:00:00+01:00"}
    ]
    assert (await client.get("/api/timeperiods/nosuch", headers=BEARER)).status == 404
    preview = await client.post(
        "/api/timeperiods/preview",
        json={
            "ranges": {"day 1": "00:00-24:00"},
            "timezone": "UTC",
            "from": "2027-01-01T00:00Z",
            "to": "2027-03-01T00:00Z",
            "calendars": True,
        },
        headers=BEARER,
    )
    body = await preview.json()
    assert [s["begin"][:10] for s in body["segments"]] == ["2027-01-01", "2027-02-01"]
    assert body["week_svg"].startswith("<svg")
    bad = await client.post(
        "/api/timeperiods/preview", json={"ranges": {"mondayy": "09:00-17:00"}}, headers=BEARER
    )
    assert bad.status == 422
    (error,) = (await bad.json())["errors"]
    assert error["field"] == "ranges['mondayy']"
    assert re.search(r"at 0\b", error["message"])


async def test_kinds_deployments_and_openapi(api: tuple[Client, Supervisor]) -> None:
    client, _ = api
    kinds = {
        k["kind"]: k
        for k in (await (await client.get("/api/kinds", headers=BEARER)).json())["kinds"]
    }
    assert "command" in kinds["command"]["settings"]["properties"]
    deployments = await (await client.get("/api/deployments", headers=BEARER)).json()
    assert deployments == {"deployments": []}
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert {"/api/jobs", "/api/jobs/{name}", "/api/runs/{id}", "/api/timeperiods/preview"} <= set(
        doc["paths"]
    )
    assert doc["paths"]["/api/jobs"]["post"]["responses"]["422"]["content"]["application/json"][
        "schema"
    ]["$ref"].endswith("ValidationOut")
    assert "JobIn" in doc["components"]["schemas"]


async def login(client: Client, name: str, password: str) -> str:
    response = await client.post(
        "/login", data={"name": name, "password": password, "next": "/jobs"}, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    cookie = response.cookies[auth.SESSION_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    page = await client.get("/jobs")
    token = re.search(r'name="csrf-token" content="([^"]+)"', await page.text())
    assert token is not None
    return token.group(1)


async def test_sessions_need_csrf_for_writes_and_viewers_cannot_write(
    api: tuple[Client, Supervisor],
) -> None:
    client, _ = api
    csrf = await login(client, "olga", OPERATOR_PW)
    assert (await client.get("/api/jobs")).status == 200
    assert (await client.post("/api/jobs", json=NEW)).status == 403  # no CSRF header
    ok = await client.post("/api/jobs", json=NEW, headers={auth.CSRF_HEADER: csrf})
    assert ok.status == 201
    client.session.cookie_jar.clear()
    csrf = await login(client, "vic", VIEWER_PW)
    assert (await client.get("/api/jobs/made-here")).status == 200
    denied = await client.post("/api/jobs/made-here/disable", headers={auth.CSRF_HEADER: csrf})
    assert denied.status == 403
    page = await (await client.get("/jobs")).text()
    assert "Run now" not in page
    assert "/jobs/new" not in page


async def test_failed_logins_are_throttled_and_not_logged_with_the_password(
    api: tuple[Client, Supervisor], capfd: pytest.CaptureFixture[str]
) -> None:
    client, _ = api
    codes = []
    for _ in range(6):
        r = await client.post(
            "/login", data={"name": "olga", "password": "wrong-pw-123"}, allow_redirects=False
        )
        codes.append(r.status)
    assert codes == [401] * 5 + [429]
    # Even the right password waits now.
    r = await client.post(
        "/login", data={"name": "olga", "password": OPERATOR_PW}, allow_redirects=False
    )
    assert r.status == 429
    assert "wrong-pw-123" not in capfd.readouterr().err


async def test_director_jobs_are_read_only(
    api: tuple[Client, Supervisor],
) -> None:
    client, sup = api
    merged = sup.daemon_settings.model_copy(
        update={
            "jobs": [
                *sup.daemon_settings.jobs,
                config_mod.JobConfig(
                    name="director:hk", kind="command", interval=60, settings={"command": ["true"]}
                ),
            ]
        }
    )
    merged._validated_jobs = None
    merged._managed = {**sup.daemon_settings.managed, "director:hk": "director"}
    await sup.apply_reload(merged)
    job = await (await client.get("/api/jobs/director:hk", headers=BEARER)).json()
    assert job["managed"] == "director"
    put = await client.put(
        "/api/jobs/director:hk", json={**NEW, "name": "director:hk", "version": 1}, headers=BEARER
    )
    assert put.status == 409
    assert "Icinga Director" in (await put.json())["error"]
    assert (await client.delete("/api/jobs/director:hk", headers=BEARER)).status == 409


async def test_jobs_page_rows_come_from_the_cache_and_run_now_posts_the_token(
    api: tuple[Client, Supervisor],
) -> None:
    client, sup = api
    csrf = await login(client, "olga", OPERATOR_PW)
    created = await client.post("/api/jobs", json=NEW, headers={auth.CSRF_HEADER: csrf})
    assert created.status == 201
    page = await (await client.get("/jobs")).text()
    # Every job a row, the one made a moment ago included (a change is never served stale).
    assert re.findall(r'<tr id="job-([^"]+)"', page) == sorted(sup.specs)
    # The rows are the same for every operator: the session's token stands once, in the form
    # every row's button submits to its own job's URL.
    token = re.search(r'<form id="run-now" method="post"><input [^>]*value="([^"]+)"', page)
    assert token is not None
    assert token.group(1) == csrf
    assert page.count(csrf) == 3  # the meta tag, the logout form, the run-now form
    action = re.search(r'form="run-now" formaction="([^"]+)" aria-label="Run made-here now"', page)
    assert action is not None
    assert action.group(1) == "/jobs/made-here/run"
    # What the button posts (the browser test sees the run it makes).
    ran = await client.post(action.group(1), data={"csrf_token": csrf}, allow_redirects=False)
    assert (ran.status, ran.headers["Location"]) == (303, "/jobs")
    assert (await client.post(action.group(1), allow_redirects=False)).status == 403

    client.session.cookie_jar.clear()
    await login(client, "vic", VIEWER_PW)
    page = await (await client.get("/jobs")).text()
    assert re.findall(r'<tr id="job-([^"]+)"', page) == sorted(sup.specs)
    assert "run-now" not in page
