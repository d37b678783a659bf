"""The HTTP server's edges, in-process on a real SQLite store and a real socket: the trigger API's
statuses, the Host check, connection limits and timeouts, and a fuzz run over every endpoint."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loguru import logger

from directord.supervisor import Supervisor
from directord.web import app as web_app
from tests.conftest import free_port, supervised

pytestmark = pytest.mark.anyio
TOKEN = "fuzz-token"
# Every status the HTTP surface documents (README, "Operating it").
DOCUMENTED = {200, 202, 400, 401, 403, 404, 405, 409, 413, 421, 431, 503}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


JOBS = [
    {"name": "on", "kind": "noop", "interval": "1h", "timeperiod": "never"},
    {"name": "off", "kind": "noop", "interval": "1h", "disabled": True},
]


@asynccontextmanager
async def served(
    tmp_path: Path, **http: Any
) -> AsyncIterator[tuple[Supervisor, str, web_app.ConnectionGuard]]:
    port = free_port()
    raw = {
        "database": "sqlite:///d.db",
        "node": "n",
        "http": {"listen": f"127.0.0.1:{port}", **http},
        "timeperiods": {"never": {"ranges": {"2001-01-01": "00:00-01:00"}}},
        "jobs": JOBS,
    }
    async with supervised(raw, tmp_path) as sup:
        app = web_app.create_app(sup, TOKEN)
        runner = await web_app.start(app, sup.settings.http)
        serving = asyncio.create_task(sup.serve())
        try:
            yield sup, f"127.0.0.1:{port}", app[web_app.GUARD]
        finally:
            sup.shutdown("test over")
            await asyncio.wait_for(serving, 10)
            await runner.cleanup()


async def raw_request(address: str, data: bytes, timeout: float = 10) -> bytes:
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_disabled_job_is_409_unless_forced(tmp_path: Path) -> None:
    async with served(tmp_path) as (sup, address, _), aiohttp.ClientSession() as http:
        base = f"http://{address}/api/jobs"
        async with http.post(f"{base}/off/run", headers=AUTH) as r:
            assert r.status == 409
            assert "disabled" in (await r.json())["error"]
        assert "off" not in sup.running
        async with http.post(f"{base}/off/run?force=maybe", headers=AUTH) as r:
            assert r.status == 400
        async with http.post(f"{base}/off/run?force=true", headers=AUTH) as r:
            assert r.status == 202
        for _ in range(200):
            if (await sup.store.history("off")) and not sup.running:
                break
            await asyncio.sleep(0.05)
        [run] = await sup.store.history("off")
        assert run.trigger == "manual"
        async with http.post(f"{base}/on/run", headers=AUTH) as r:
            assert r.status == 202


@pytest.mark.parametrize("name", ["nope", "a%2fb", "%00", "..%2f..%2fhealth", "off%20", "OFF"])
async def test_names_that_are_no_job_are_404(tmp_path: Path, name: str) -> None:
    async with served(tmp_path) as (_, address, _):
        request = f"POST /api/jobs/{name}/run HTTP/1.1\r\nHost: {address}\r\n"
        request += f"Authorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        assert status_of(await raw_request(address, request.encode())) == 404


async def test_a_foreign_host_header_is_refused(tmp_path: Path) -> None:
    async with served(tmp_path, hosts=["directord.example.org"]) as (_, address, _):
        port = address.rpartition(":")[2]

        async def with_host(host: str) -> int:
            request = f"GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            return status_of(await raw_request(address, request.encode()))

        assert await with_host("rebind.attacker.example") == 421
        assert await with_host(f"rebind.attacker.example:{port}") == 421
        assert await with_host(f"10.0.0.1:{port}") == 421
        for ours in (address, "127.0.0.1", f"localhost:{port}", "DirectorD.example.org:443"):
            assert await with_host(ours) == 200, ours


async def test_an_incomplete_request_is_closed(tmp_path: Path) -> None:
    async with served(tmp_path, header_timeout="500ms", idle_timeout="1s") as (_, address, _):
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(f"GET /health HTTP/1.1\r\nHost: {address}\r\nX-Slow: ".encode())
            # Slowloris: a byte now and then, never the end of the head.
            closed = False
            for _ in range(40):
                try:
                    writer.write(b"a")
                    await writer.drain()
                except ConnectionError:
                    closed = True
                    break
                try:
                    if await asyncio.wait_for(reader.read(1), 0.25) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
            assert closed, "the server kept a request head open for 10s"
        finally:
            writer.close()


async def test_idle_connections_make_room_at_the_limit(tmp_path: Path) -> None:
    async with served(tmp_path, max_connections=5) as (_, address, guard):
        host, _, port = address.rpartition(":")
        idle = [await asyncio.open_connection(host, int(port)) for _ in range(20)]
        try:
            request = f"GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
            for _ in range(5):
                assert status_of(await raw_request(address, request.encode())) == 200
            assert len(guard.conns) <= 5
            assert guard.evicted >= 15
        finally:
            for _, writer in idle:
                writer.close()


methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "BREW"])
segments = st.one_of(
    st.sampled_from(["health", "status", "metrics", "api", "jobs", "run", "on", "off", ""]),
    st.text(min_size=0, max_size=12).map(lambda s: urllib.parse.quote(s, safe="")),
    st.sampled_from(["%2f", "%00", "%ff", "%", "..", "%2e%2e", "a%2fb"]),
)
paths = st.one_of(
    st.sampled_from(
        ["/health", "/status", "/metrics", "/api/jobs/on/run", "/api/jobs/off/run"]
    ).flatmap(
        lambda p: st.sampled_from(
            [p, p + "?force=true", p + "?force=1", p + "?force=%ff", p + "?x=" + "y" * 20]
        )
    ),
    st.lists(segments, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts)),
    st.builds(lambda n: f"/api/jobs/{n}/run", segments),
)
header_names = st.sampled_from(
    ["Authorization", "Content-Type", "Accept", "X-Forwarded-For", "Transfer-Encoding", "Cookie"]
)
header_values = st.one_of(
    st.sampled_from([f"Bearer {TOKEN}", "Bearer wrong", "Basic x", "chunked", "gzip", ""]),
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=40
    ),
)
hosts = st.sampled_from(["{address}", "localhost", "evil.example", "127.0.0.1", "[::1]", ""])
bodies = st.one_of(st.just(b""), st.binary(max_size=256), st.just(b'{"force": true}'))


@st.composite
def requests(draw: Callable[..., Any]) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    return (
        draw(methods),
        draw(paths),
        draw(hosts),
        draw(st.lists(st.tuples(header_names, header_values), max_size=4)),
        draw(bodies),
    )


def test_fuzz_http_surface_ends_in_documented_statuses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[str] = []
    sink = logger.add(lambda m: errors.append(str(m)), level="ERROR")
    caplog.set_level(logging.ERROR)
    loop = asyncio.new_event_loop()
    context = served(tmp_path)
    try:
        sup, address, _ = loop.run_until_complete(context.__aenter__())
        seen: set[int] = set()

        @settings(
            max_examples=300,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(requests())
        def one(request: tuple[str, str, str, list[tuple[str, str]], bytes]) -> None:
            method, path, host, headers, body = request
            head = f"{method} {path} HTTP/1.1\r\nHost: {host.format(address=address)}\r\n"
            for name, value in headers:
                head += f"{name}: {value}\r\n"
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            response = loop.run_until_complete(raw_request(address, head.encode() + body))
            assert response, f"no answer to {head!r}"
            code = status_of(response)
            seen.add(code)
            assert code in DOCUMENTED, (code, head, response[:300])

        one()
        # The API refused and accepted: the fuzzer got past the token and the name checks.
        assert {200, 404, 421} <= seen, seen
        loop.run_until_complete(sup.flush())
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()
        logger.remove(sink)
    assert not errors, errors
    # Malformed requests are the client's business: at most a debug line of ours, never an
    # error or traceback through aiohttp's or asyncio's own loggers.
    leaked = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and not r.name.startswith("directord")
    ]
    assert not leaked, caplog.text


def test_host_check_rules() -> None:
    check = web_app.HostCheck("127.0.0.1:8041", ["Proxy.Example"])
    assert check.allows("127.0.0.1:8041")
    assert check.allows("localhost")
    assert check.allows("proxy.example.:443")
    assert check.allows(None)
    assert not check.allows("127.0.0.2:8041")
    assert not check.allows("[::1]:8041")
    assert not check.allows("attacker.example")
    anywhere = web_app.HostCheck("0.0.0.0:8041", [])
    assert anywhere.allows("192.0.2.7:8041")
    assert anywhere.allows("[2001:db8::1]:8041")
    assert not anywhere.allows("localhost.attacker.example")
    v6 = web_app.HostCheck("[::1]:8041", [])
    assert v6.allows("[::1]:8041")
    assert v6.allows("localhost:8041")
    assert json.dumps(sorted(v6.names)) == '["localhost"]'
