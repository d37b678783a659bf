"""The aiohttp application and its server, on the daemon's event loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from directord.web import api, status
from directord.web.metrics import Metrics

if TYPE_CHECKING:
    from directord.supervisor import Supervisor


class HttpError(Exception):
    """The HTTP server could not start (e.g. the address is taken)."""


def create_app(supervisor: Supervisor, token: str | None) -> web.Application:
    app = web.Application()
    health = status.Health(supervisor, supervisor.settings.http.stale_after)
    metrics = Metrics(supervisor)
    app.add_routes(status.routes(supervisor, health, metrics))
    app.add_routes(api.routes(supervisor, token))
    return app


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


async def start(app: web.Application, listen: str) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = split_listen(listen)
    try:
        await web.TCPSite(runner, host, port, reuse_address=True).start()
    except OSError as exc:
        await runner.cleanup()
        raise HttpError(f"http.listen {listen}: {exc.strerror or exc}") from exc
    return runner
