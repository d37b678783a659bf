"""The aiohttp application and its server, on the daemon's event loop.

The server shares the process's file descriptors with the jobs, so it keeps them on a leash
(issue 9.11): a connection that sends no complete request head within ``http.header_timeout`` or
sits idle longer than ``http.idle_timeout`` is closed, and at most ``http.max_connections`` are open
while at least ``http.fd_reserve`` descriptors stay free. At the limit the connection idle the
longest makes room for the new one, so /health stays reachable however many idle clients there
are. Requests must name the listen address or one of ``http.hosts`` in Host (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import resource
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import http_exceptions, web
from loguru import logger

from directord import catalog
from directord.web import frontend, keys, status
from directord.web.metrics import Metrics

if TYPE_CHECKING:
    from directord import config as config_mod
    from directord.supervisor import Supervisor

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Connections allowed whatever the descriptor count: at the limit idle ones make room for new.
MIN_CONNECTIONS = 4


class HttpError(Exception):
    """The HTTP server could not start (e.g. the address is taken)."""


class _ServerLog(logging.Handler):
    """aiohttp's server log, into ours: a malformed request is the client's business (one debug
    line, no traceback); anything else is a bug of ours and logged as an error."""

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, http_exceptions.HttpProcessingError):
            reason = str(exc.message).strip().splitlines()[0] if exc.message else ""
            logger.bind(action="http_bad_request").debug(
                "{} ({} {})", record.getMessage(), exc.code, reason
            )
        elif record.levelno >= logging.WARNING:
            logger.bind(action="http_error").opt(exception=record.exc_info).error(
                record.getMessage()
            )


SERVER_LOG = logging.getLogger("directord.http")
SERVER_LOG.propagate = False
SERVER_LOG.setLevel(logging.DEBUG)
SERVER_LOG.addHandler(_ServerLog())


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class HostCheck:
    """Which Host headers are ours: the listen address (any address of the machine when it listens
    on all of them), ``localhost`` for a loopback listener, and the configured names. A name
    that resolves to us only because an attacker's DNS says so (rebinding) is refused."""

    def __init__(self, listen: str, names: list[str]) -> None:
        host, _ = split_listen(listen)
        self.listen_ip = _ip(host)
        self.names = {n.lower().rstrip(".") for n in names}
        self._seen: dict[str, bool] = {}
        if self.listen_ip is None:
            self.names.add(host.lower())
        elif self.listen_ip.is_loopback:
            self.names.add("localhost")

    def allows(self, header: str | None) -> bool:
        if header is None:
            return True  # HTTP/1.0 without Host: nothing a browser would send
        # Clients send the same few Host values again and again, and parsing an address costs
        # more than the rest of /health; bounded, so random Host values cannot grow it.
        known = self._seen.get(header)
        if known is None:
            known = self._allows(header)
            if len(self._seen) < 256:
                self._seen[header] = known
        return known

    def _allows(self, header: str) -> bool:
        value = header.strip().lower()
        if value.startswith("["):
            host = value[1 : value.find("]")] if "]" in value else value
        else:
            host = value.rpartition(":")[0] if value.count(":") == 1 else value
        if host.rstrip(".") in self.names:
            return True
        given = _ip(host)
        if given is None or self.listen_ip is None:
            return False
        return self.listen_ip.is_unspecified or given == self.listen_ip


@dataclass(eq=False)
class _Conn:
    transport: asyncio.Transport
    last: float  # monotonic: opened, or the end of its last request
    busy: int = 0
    requests: int = 0
    head_timer: asyncio.TimerHandle | None = None


def free_fds() -> int | None:
    """File descriptors this process may still open, or None where that cannot be counted."""
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return soft - used


@dataclass
class ConnectionGuard:
    max_connections: int
    fd_reserve: int
    header_timeout: float
    conns: dict[asyncio.BaseTransport, _Conn] = field(default_factory=dict)
    refused: int = 0
    evicted: int = 0

    def _full(self) -> bool:
        """Whether one more connection would be one too many."""
        if len(self.conns) >= self.max_connections:
            return True
        if len(self.conns) < MIN_CONNECTIONS:
            return False  # however tight descriptors are, /health gets through
        free = free_fds()
        return free is not None and free <= self.fd_reserve

    def _evict_one(self) -> bool:
        idle = [c for c in self.conns.values() if c.busy == 0]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.last)
        self.evicted += 1
        self.closed(oldest.transport)
        oldest.transport.abort()  # idle: nothing to flush
        return True

    async def room(self) -> None:
        """Return once one more connection may be accepted. The one idle the longest is closed
        to make room; while every one is busy the kernel's backlog holds the newcomers (no
        descriptor is spent on them until then)."""
        waited = False
        while self._full():
            if self._evict_one():
                # abort() frees the descriptor on the loop's next turns.
                for _ in range(3):
                    await asyncio.sleep(0)
                continue
            if not waited:
                waited = True
                self.refused += 1
                logger.bind(action="http_full").warning(
                    "{} connections open, every one busy (http.max_connections {}, "
                    "http.fd_reserve {}): new ones wait",
                    len(self.conns),
                    self.max_connections,
                    self.fd_reserve,
                )
            await asyncio.sleep(0.05)

    def opened(self, transport: asyncio.Transport) -> None:
        conn = _Conn(transport, time.monotonic())
        self.conns[transport] = conn
        loop = asyncio.get_running_loop()
        conn.head_timer = loop.call_later(self.header_timeout, self._head_late, conn)

    def _head_late(self, conn: _Conn) -> None:
        conn.head_timer = None
        if conn.requests == 0 and conn.transport in self.conns:
            self.closed(conn.transport)
            conn.transport.abort()

    def closed(self, transport: asyncio.BaseTransport) -> None:
        conn = self.conns.pop(transport, None)
        if conn is not None and conn.head_timer is not None:
            conn.head_timer.cancel()
            conn.head_timer = None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        conn = self.conns.get(request.transport) if request.transport else None
        if conn is None:
            return await handler(request)
        conn.busy += 1
        conn.requests += 1
        if conn.head_timer is not None:
            conn.head_timer.cancel()
            conn.head_timer = None
        try:
            return await handler(request)
        finally:
            conn.busy -= 1
            conn.last = time.monotonic()


class _Tracked(asyncio.Protocol):
    """aiohttp's protocol for one connection, seen by the guard when it opens and closes."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self.inner = inner
        self.guard = guard
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.inner.connection_made(transport)
        self.guard.opened(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.guard.closed(self.transport)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _GuardedSite(web.BaseSite):
    """A TCP site that accepts a connection only when the guard has room for it (asyncio's own
    server accepts a whole backlog at once, descriptors or not)."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None = None,
    ):
        super().__init__(runner)
        self.host, self.port, self.guard = host, port, guard
        self.ssl_context = ssl_context
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._sock = socket.create_server((self.host, self.port), family=family, backlog=128)
        self._sock.setblocking(False)
        self._task = asyncio.create_task(self._accept(self._sock), name="directord-http-accept")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        await super().stop()

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        guard = self.guard

        def factory() -> asyncio.Protocol:
            return _Tracked(server(), guard)

        while True:
            await guard.room()
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    logger.bind(action="http_accept_failed").warning(
                        "cannot accept a connection: {}", exc.strerror
                    )
                    await asyncio.sleep(0.1)
                continue  # ECONNABORTED and friends: the client gave up
            conn.setblocking(False)
            try:
                await loop.connect_accepted_socket(factory, conn, ssl=self.ssl_context)
            except OSError:
                conn.close()


GUARD: web.AppKey[ConnectionGuard] = web.AppKey("connection_guard", ConnectionGuard)


def create_app(supervisor: Supervisor, token: str | None) -> web.Application:
    http = supervisor.settings.http
    guard = ConnectionGuard(http.max_connections, http.fd_reserve, http.header_timeout)
    hosts = HostCheck(http.listen, http.hosts)

    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not hosts.allows(request.headers.get("Host")):
            return web.json_response(
                {"error": "unknown Host: not the listen address nor one of http.hosts"},
                status=421,
            )
        return await handler(request)

    app = web.Application(middlewares=[guard.middleware, check_host], client_max_size=64 << 10)
    app[GUARD] = guard
    app[keys.SUPERVISOR] = supervisor
    app[keys.HEALTH] = status.Health(supervisor, http.stale_after)
    app[keys.METRICS] = Metrics(supervisor)
    app[keys.STATUS_CACHE] = status.StatusCache(supervisor)
    app.add_routes(status.routes())
    # The JSON API (POST /api/jobs/{name}/run among it) and, with web.users, the pages.
    jobs = supervisor.catalog or catalog.Catalog(
        supervisor.settings, supervisor.kinds, supervisor.store
    )
    frontend.install(app, supervisor.settings, jobs, token)
    return app


async def start(
    app: web.Application, http: config_mod.HttpConfig, ssl_context: ssl.SSLContext | None = None
) -> web.AppRunner:
    """Serve ``app`` on ``http.listen`` with the connection guard of ``create_app``."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=http.idle_timeout,
        logger=SERVER_LOG,
    )
    await runner.setup()
    host, port = split_listen(http.listen)
    try:
        await _GuardedSite(runner, host, port, app[GUARD], ssl_context).start()
    except OSError as exc:
        await runner.cleanup()
        raise HttpError(f"http.listen {http.listen}: {exc.strerror or exc}") from exc
    return runner
