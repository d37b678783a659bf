"""The web frontend and the JSON API on the daemon's aiohttp app: one call wires them in."""

from __future__ import annotations

import html
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from directord import __version__
from directord.web import auth, jobscache, login, rest
from directord.web import keys as web_keys

if TYPE_CHECKING:
    from directord import catalog
    from directord import config as config_mod


def install(
    app: web.Application,
    settings: config_mod.Settings,
    jobs: catalog.Catalog,
    token: str | None,
) -> None:
    """The API (always; it answers 403 until a token or users are configured) and the pages
    (only with ``web.users``: without them ``/`` says how to turn them on, and neither Jinja2
    nor argon2 is loaded: issue 14.2)."""
    app[web_keys.CATALOG] = jobs
    app[web_keys.API_TOKEN] = token
    users: dict[str, tuple[str, str]] = {
        u.name: (u.password_hash, u.role) for u in settings.web.users
    }
    app[web_keys.WEB_USERS] = users
    app[web_keys.SESSIONS] = auth.Sessions(ttl=settings.web.session_ttl)
    app[web_keys.THROTTLE] = auth.LoginThrottle()
    app.middlewares.append(login.sessions)
    app.add_routes(rest.routes())
    rows = None
    if users:
        from directord.web import pages  # noqa: PLC0415 - Jinja2 only for the pages

        rows = pages.setup(app).get_template("_job_rows.html")
    else:
        app.add_routes(login.routes())  # /login answers "see /" as it does with pages
        app.add_routes(
            [web.get("/", off_page), web.static("/static", STATIC, append_version=False)]
        )
    app[web_keys.JOBS_CACHE] = jobscache.JobsCache(app[web_keys.SUPERVISOR], jobs, rows)


STATIC = Path(__file__).parent / "static"
# templates/off.html's one placeholder, filled without Jinja2 (the page is static otherwise).
_OFF = (Path(__file__).parent / "templates" / "off.html").read_text(encoding="utf-8")


async def off_page(request: web.Request) -> web.Response:
    """``/`` without web.users: how to turn the pages on."""
    body = _OFF.replace("{{ version }}", html.escape(__version__))
    return web.Response(text=body, content_type="text/html")


def tls_context(settings: config_mod.Settings) -> ssl.SSLContext | None:
    """HTTPS from http.tls (cert and key files), else None."""
    tls = settings.http.tls
    if tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.resolve_path(tls.cert), settings.resolve_path(tls.key))
    return context
