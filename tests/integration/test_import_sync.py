"""Import and sync runs on real files, a real SQLite database, a real PostgreSQL and a local
aiohttp server serving JSON with auth."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from directord import config as config_mod
from directord.icinga import pipeline as icinga_pipeline
from directord.icinga import rowsets, sources
from directord.jobs import registry
from directord.supervisor import Supervisor
from tests import services
from tests.helpers import Make, free_port, run, write_csv

pytestmark = pytest.mark.anyio

HOSTS = [
    {
        "hostname": "Web1.example.com",
        "ip": "192.0.2.1",
        "os": "linux",
        "env": "prod",
        "groups": "web;prod",
    },
    {
        "hostname": "Web2.example.com",
        "ip": "192.0.2.2",
        "os": "linux",
        "env": "test",
        "groups": "web",
    },
    {
        "hostname": "db1.example.com",
        "ip": "192.0.2.3",
        "os": "windows",
        "env": "prod",
        "groups": "db;prod",
    },
    {
        "hostname": "old.example.com",
        "ip": "192.0.2.4",
        "os": "linux",
        "env": "retired",
        "groups": "",
    },
]

RULE = {
    "object_type": "Host",
    "sources": ["cmdb"],
    "object_name": "${hostname}",
    "filter": "!(env=retired)",
    "properties": {
        "address": "${ip}",
        "vars.os": "${os}",
        "groups": "${groups}",
        "imports": ["generic-host"],
    },
    "update_policy": "merge",
    "purge": True,
}
CMDB = {
    "type": "csv",
    "path": "hosts.csv",
    "key_column": "hostname",
    "modifiers": [
        {"column": "hostname", "modifier": "lowercase"},
        {"column": "groups", "modifier": "split", "delimiter": ";"},
    ],
}


@pytest.fixture
def pipeline(tmp_path: Path, supervisor_factory: Make) -> Make:
    async def build(
        sources: dict[str, Any], rules: dict[str, Any], jobs: list[dict[str, Any]]
    ) -> Supervisor:
        raw = {
            "database": "sqlite:///d.db",
            "node": "n",
            "import_sources": sources,
            "sync_rules": rules,
            "jobs": jobs,
        }
        return await supervisor_factory(raw, tmp_path)

    return build


async def objects(sup: Supervisor, kind: str = "Host") -> dict[str, dict[str, Any]]:
    return {n: json.loads(p) for _, n, p, _ in await sup.store.objects(kind)}


CSV_JOBS = [
    {"name": "import", "kind": "import", "interval": "1h", "settings": {"source": "cmdb"}},
    {"name": "sync", "kind": "sync", "interval": "1h", "settings": {"rule": "hosts"}},
]


async def test_csv_import_and_sync_lifecycle(pipeline: Make, tmp_path: Path) -> None:
    write_csv(tmp_path / "hosts.csv", HOSTS)
    write_csv(tmp_path / "other.csv", [{"name": "manual1", "ip": "192.0.2.99"}])
    sup = await pipeline(
        {"cmdb": CMDB, "other": {"type": "csv", "path": "other.csv", "key_column": "name"}},
        {
            "hosts": RULE,
            "other-hosts": {
                "object_type": "Host",
                "sources": ["other"],
                "object_name": "${name}",
                "properties": {"address": "${ip}"},
                "purge": True,
            },
        },
        [
            *CSV_JOBS,
            {
                "name": "import-other",
                "kind": "import",
                "interval": "1h",
                "settings": {"source": "other"},
            },
            {
                "name": "sync-other",
                "kind": "sync",
                "interval": "1h",
                "settings": {"rule": "other-hosts"},
            },
        ],
    )
    # Rows land, objects appear (the retired host is filtered out).
    first = await run(sup, "import")
    assert first.ok, first.summary
    assert first.summary == "cmdb: 4 rows, new row set 1"
    assert first.changed is True
    assert (await run(sup, "sync")).summary == "hosts: 3 created, 0 modified, 0 deleted"
    await run(sup, "import-other")
    await run(sup, "sync-other")
    hosts = await objects(sup)
    assert set(hosts) == {"web1.example.com", "web2.example.com", "db1.example.com", "manual1"}
    assert hosts["web1.example.com"] == {
        "address": "192.0.2.1",
        "vars.os": "linux",
        "groups": ["web", "prod"],
        "imports": ["generic-host"],
    }
    assert hosts["web2.example.com"]["groups"] == ["web"]

    # Unchanged: no new row set, and a sync changes nothing.
    again = await run(sup, "import")
    assert again.summary == "cmdb: unchanged (4 rows)"
    assert again.changed is False
    assert (await run(sup, "sync")).summary == "hosts: no changes"
    conn = sqlite3.connect(tmp_path / "d.db")
    assert conn.execute("SELECT count(*) FROM row_sets WHERE source='cmdb'").fetchone() == (1,)

    # One changed row: exactly that object is modified, with before/after.
    changed = [dict(h) for h in HOSTS]
    changed[2]["ip"] = "192.0.2.33"
    write_csv(tmp_path / "hosts.csv", changed)
    assert (await run(sup, "import")).summary == "cmdb: 4 rows, new row set 3"
    # Rows are stored once and shared: the three unchanged rows are not stored again.
    assert conn.execute("SELECT count(*) FROM import_rows").fetchone() == (4 + 1 + 1,)
    report = await run(sup, "sync")
    assert report.summary == "hosts: 0 created, 1 modified, 0 deleted"
    [entry] = await sup.store.activity("hosts", limit=1)
    assert entry["changes"] == [
        {
            "action": "modify",
            "type": "Host",
            "name": "db1.example.com",
            "properties": {"address": ["192.0.2.3", "192.0.2.33"]},
        }
    ]

    # A removed row with purge: that object goes, the other rule's objects stay.
    write_csv(tmp_path / "hosts.csv", [changed[0], changed[2]])
    await run(sup, "import")
    assert (await run(sup, "sync")).summary == "hosts: 0 created, 0 modified, 1 deleted"
    hosts = await objects(sup)
    assert set(hosts) == {"web1.example.com", "db1.example.com", "manual1"}
    [entry] = await sup.store.activity("hosts", limit=1)
    assert entry["changes"][0]["action"] == "delete"
    assert entry["changes"][0]["properties"]["address"] == ["192.0.2.2", None]
    conn.close()


async def test_dry_run_computes_without_applying(pipeline: Make, tmp_path: Path) -> None:
    write_csv(tmp_path / "hosts.csv", HOSTS)
    sup = await pipeline(
        {"cmdb": CMDB},
        {"hosts": RULE},
        [
            *CSV_JOBS,
            {
                "name": "preview",
                "kind": "sync",
                "interval": "1h",
                "settings": {"rule": "hosts", "apply": False},
            },
        ],
    )
    await run(sup, "import")
    preview = await run(sup, "preview")
    assert preview.summary == "hosts: 3 would be created, 0 would be modified, 0 would be deleted"
    assert preview.changed is False
    assert await objects(sup) == {}
    assert await sup.store.activity() == []


async def test_sync_before_any_import_fails(pipeline: Make, tmp_path: Path) -> None:
    write_csv(tmp_path / "hosts.csv", HOSTS)
    sup = await pipeline({"cmdb": CMDB}, {"hosts": RULE}, CSV_JOBS)
    report = await run(sup, "sync")
    assert not report.ok
    assert "source 'cmdb' has not been imported yet" in report.summary


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"hostname": "a", "ip": "1"}, {"hostname": "A", "ip": "2"}],
            "duplicate keys in 'hostname': 'a' in rows 1, 2",
        ),
        (
            [{"hostname": "a", "ip": "1"}, {"hostname": "", "ip": "2"}],
            "key column 'hostname' is empty or missing in row(s) 2",
        ),
    ],
)
async def test_bad_keys_fail_the_job_naming_rows(
    pipeline: Make, tmp_path: Path, rows: list[dict[str, str]], message: str
) -> None:
    write_csv(tmp_path / "hosts.csv", rows)
    sup = await pipeline({"cmdb": CMDB}, {"hosts": RULE}, CSV_JOBS)
    report = await run(sup, "import")
    assert not report.ok
    assert message in report.summary


async def test_missing_file_fails_the_job(pipeline: Make, tmp_path: Path) -> None:
    sup = await pipeline({"cmdb": CMDB}, {"hosts": RULE}, CSV_JOBS)
    report = await run(sup, "import")
    assert not report.ok
    assert report.summary.startswith("cannot read ")
    assert "hosts.csv: No such file or directory" in report.summary
    [row] = await sup.store.history("import")
    assert str(row.state) == "failed"


@pytest.fixture
async def json_server(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A local aiohttp server with the hosts at /basic (basic auth) and /bearer (token)."""
    state: dict[str, Any] = {"items": [dict(h) for h in HOSTS], "fail": False}

    async def basic(request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(b"importer:pa55").decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        return web.json_response({"data": {"items": state["items"]}})

    async def bearer(request: web.Request) -> web.Response:
        if state["fail"]:
            return web.Response(status=500, text="upstream broke")
        if request.headers.get("Authorization") != "Bearer tok-123":
            return web.Response(status=401)
        return web.json_response(state["items"])

    app = web.Application()
    app.add_routes([web.get("/basic", basic), web.get("/bearer", bearer)])
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    (tmp_path / "pw").write_text("pa55\n")
    (tmp_path / "token").write_text("tok-123")
    (tmp_path / "wrong").write_text("nope")
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()


async def test_json_over_http_with_auth(
    pipeline: Make, json_server: tuple[str, dict[str, Any]]
) -> None:
    base, state = json_server
    sources = {
        "basic": {
            "type": "json",
            "url": f"{base}/basic",
            "rows_at": "data.items",
            "key_column": "hostname",
            "auth": {"type": "basic", "user": "importer", "password_file": "pw"},
        },
        "bearer": {
            "type": "json",
            "url": f"{base}/bearer",
            "key_column": "hostname",
            "auth": {"type": "bearer", "token_file": "token"},
        },
        "wrong": {
            "type": "json",
            "url": f"{base}/bearer",
            "key_column": "hostname",
            "auth": {"type": "bearer", "token_file": "wrong"},
        },
    }
    jobs = [
        {"name": n, "kind": "import", "interval": "1h", "settings": {"source": n}} for n in sources
    ]
    sup = await pipeline(sources, {}, jobs)
    assert (await run(sup, "basic")).summary == "basic: 4 rows, new row set 1"
    assert (await run(sup, "bearer")).summary == "bearer: 4 rows, new row set 2"
    wrong = await run(sup, "wrong")
    assert not wrong.ok
    assert wrong.summary == f"GET {base}/bearer: HTTP 401 Unauthorized"
    state["fail"] = True
    broken = await run(sup, "bearer")
    assert not broken.ok
    assert "HTTP 500" in broken.summary
    row_set = await sup.store.latest_row_set("basic")
    assert row_set is not None
    data = dict(await sup.store.row_set_data(row_set.id))
    assert json.loads(data["db1.example.com"])["os"] == "windows"


async def test_sql_source_on_sqlite(pipeline: Make, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "cmdb.db")
    conn.execute("CREATE TABLE hosts (hostname TEXT, ip TEXT, cores INTEGER)")
    conn.executemany(
        "INSERT INTO hosts VALUES (?, ?, ?)", [("a", "192.0.2.1", 4), ("b", "192.0.2.2", 8)]
    )
    conn.commit()
    conn.close()
    sup = await pipeline(
        {
            "db": {
                "type": "sql",
                "dsn": "sqlite:///cmdb.db",
                "key_column": "hostname",
                "query": "SELECT hostname, ip, cores FROM hosts",
            }
        },
        {
            "hosts": {
                "object_type": "Host",
                "sources": ["db"],
                "object_name": "${hostname}",
                "properties": {"address": "${ip}", "vars.cores": "${cores}"},
            }
        },
        [
            {"name": "import", "kind": "import", "interval": "1h", "settings": {"source": "db"}},
            {"name": "sync", "kind": "sync", "interval": "1h", "settings": {"all": True}},
        ],
    )
    assert (await run(sup, "import")).ok
    assert (await run(sup, "sync")).ok
    # A whole-value placeholder keeps the column's type: an integer stays an integer.
    assert (await objects(sup))["b"] == {"address": "192.0.2.2", "vars.cores": 8}


@pytest.mark.postgres
async def test_sql_source_on_postgresql(pipeline: Make, tmp_path: Path) -> None:
    with services.postgres() as pg:
        pg.psql("CREATE TABLE hosts (hostname text primary key, ip inet, tags text[])")
        pg.psql(
            "INSERT INTO hosts VALUES ('pg1', '192.0.2.10', '{a,b}'), ('pg2', '192.0.2.11', '{}')"
        )
        (tmp_path / "pgpass").write_text(pg.password)
        sup = await pipeline(
            {
                "pg": {
                    "type": "sql",
                    "dsn": pg.dsn,
                    "password_file": "pgpass",
                    "key_column": "hostname",
                    "query": "SELECT hostname, host(ip) AS ip, tags FROM hosts",
                },
                "bad": {
                    "type": "sql",
                    "dsn": pg.dsn,
                    "password_file": "pgpass",
                    "key_column": "hostname",
                    "query": "SELECT * FROM no_such_table",
                },
            },
            {
                "hosts": {
                    "object_type": "Host",
                    "sources": ["pg"],
                    "object_name": "${hostname}",
                    "properties": {"address": "${ip}", "vars.tags": "${tags}"},
                }
            },
            [
                {
                    "name": "import",
                    "kind": "import",
                    "interval": "1h",
                    "settings": {"source": "pg"},
                },
                {"name": "bad", "kind": "import", "interval": "1h", "settings": {"source": "bad"}},
                {"name": "sync", "kind": "sync", "interval": "1h", "settings": {"all": True}},
            ],
        )
        assert (await run(sup, "import")).summary == "pg: 2 rows, new row set 1"
        assert (await run(sup, "sync")).ok
        assert (await objects(sup))["pg1"] == {"address": "192.0.2.10", "vars.tags": ["a", "b"]}
        bad = await run(sup, "bad")
        assert not bad.ok
        assert 'relation "no_such_table" does not exist' in bad.summary
        assert pg.password not in bad.summary


async def test_priority_between_sources_per_property(pipeline: Make, tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [{"name": "h1", "ip": "192.0.2.1", "os": ""}])
    write_csv(
        tmp_path / "b.csv",
        [
            {"name": "h1", "ip": "192.0.2.99", "os": "linux"},
            {"name": "h2", "ip": "192.0.2.2", "os": "bsd"},
        ],
    )
    sup = await pipeline(
        {
            "a": {"type": "csv", "path": "a.csv", "key_column": "name"},
            "b": {"type": "csv", "path": "b.csv", "key_column": "name"},
        },
        {
            "hosts": {
                "object_type": "Host",
                "sources": ["a", "b"],
                "object_name": "${name}",
                "properties": {"address": "${ip}", "vars.os": "${os}"},
            }
        },
        [
            {"name": "import", "kind": "import", "interval": "1h", "settings": {"all": True}},
            {"name": "sync", "kind": "sync", "interval": "1h", "settings": {"all": True}},
        ],
    )
    assert (await run(sup, "import")).summary == (
        "a: 1 rows, new row set 1; b: 2 rows, new row set 2"
    )
    await run(sup, "sync")
    hosts = await objects(sup)
    # a wins where it has a value; b fills in what a lacks.
    assert hosts["h1"] == {"address": "192.0.2.1", "vars.os": "linux"}
    assert hosts["h2"] == {"address": "192.0.2.2", "vars.os": "bsd"}


async def test_override_and_ignore_policies(pipeline: Make, tmp_path: Path) -> None:
    write_csv(tmp_path / "hosts.csv", [{"name": "h1", "ip": "192.0.2.1", "os": "linux"}])
    base = {"object_type": "Host", "sources": ["cmdb"], "object_name": "${name}"}
    sup = await pipeline(
        {"cmdb": {"type": "csv", "path": "hosts.csv", "key_column": "name"}},
        {
            "full": {**base, "properties": {"address": "${ip}", "vars.os": "${os}"}},
            "override": {**base, "properties": {"address": "${ip}"}, "update_policy": "override"},
            "ignore": {**base, "properties": {"vars.os": "changed"}, "update_policy": "ignore"},
        },
        [
            {"name": "import", "kind": "import", "interval": "1h", "settings": {"all": True}},
            *(
                {"name": n, "kind": "sync", "interval": "1h", "settings": {"rule": n}}
                for n in ("full", "override", "ignore")
            ),
        ],
    )
    await run(sup, "import")
    await run(sup, "full")
    assert (await run(sup, "ignore")).summary == "ignore: no changes"
    assert (await objects(sup))["h1"] == {"address": "192.0.2.1", "vars.os": "linux"}
    assert (await run(sup, "override")).summary == "override: 0 created, 1 modified, 0 deleted"
    assert (await objects(sup))["h1"] == {"address": "192.0.2.1"}


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    raw = {
        "import_sources": {
            "cmdb": {
                **CMDB,
                "modifiers": [
                    {"column": "x", "modifier": "lowcase"},
                    {"column": "x", "modifier": "regex_replace", "pattern": "(unclosed"},
                ],
            },
            "web": {"type": "json", "key_column": "k"},
        },
        "sync_rules": {
            "hosts": {**RULE, "sources": ["cmdb", "nope"], "filter": "os=linux&(env=prod"}
        },
        "jobs": [
            {"name": "i", "kind": "import", "interval": "1h", "settings": {"source": "missing"}}
        ],
    }
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.parse(raw, kinds=registry.discover())
    text = "\n".join(info.value.errors)
    assert "import_sources.cmdb.csv.modifiers[0].modifier: 'lowcase': input should be" in text
    assert (
        "import_sources.cmdb.csv.modifiers[1]: pattern '(unclosed' is not a valid "
        "regular expression"
    ) in text
    assert "import_sources.web.json: give exactly one of 'path' and 'url'" in text
    assert (
        "sync_rules.hosts.filter: 'os=linux&(env=prod': unclosed '(' at 18, expected ')'"
    ) in text
    # Once the sections validate, the jobs' references are checked against them.
    valid = {
        "import_sources": {"cmdb": CMDB},
        "sync_rules": {"hosts": {**RULE, "sources": ["nope"]}},
        "jobs": raw["jobs"],
    }
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.parse(valid, kinds=registry.discover())
    assert info.value.errors == [
        "sync_rules.hosts.sources[0]: unknown import source 'nope' (known: cmdb)",
        "jobs[0] (i).settings.source: unknown import source 'missing' (known: cmdb)",
    ]


async def test_import_keeps_the_loop_responsive(
    pipeline: Make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsing, hashing and diffing run in worker threads, so the loop is never held for long.
    Which thread ran them is recorded (the real functions still do the work); how long the loop
    was held is bench/pipeline.py's question, not a timed assertion here."""
    rows = [
        {
            "hostname": f"h{i:05d}",
            "ip": f"10.0.{i // 256}.{i % 256}",
            "os": "linux",
            "env": "prod",
            "groups": "a;b",
        }
        for i in range(3000)
    ]
    write_csv(tmp_path / "hosts.csv", rows)
    sup = await pipeline({"cmdb": CMDB}, {"hosts": RULE}, CSV_JOBS)
    on_loop: dict[str, list[bool]] = {}

    def spy(module: Any, name: str) -> None:
        real = getattr(module, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            on_loop.setdefault(name, []).append(threading.current_thread() is main)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)

    main = threading.main_thread()
    for module, name in [
        (sources, "read_csv"),
        (rowsets, "prepare"),
        (icinga_pipeline, "_decode_rows"),
        (icinga_pipeline, "_plan"),
    ]:
        spy(module, name)
    assert (await run(sup, "import")).ok
    assert (await run(sup, "sync")).summary == "hosts: 3000 created, 0 modified, 0 deleted"
    assert sorted(on_loop) == ["_decode_rows", "_plan", "prepare", "read_csv"]
    assert {name: any(flags) for name, flags in on_loop.items()} == dict.fromkeys(on_loop, False)
