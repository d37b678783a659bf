"""The web frontend and the JSON API on the daemon's aiohttp app: one call wires them in."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from aiohttp import web

from directord.web import auth, jobscache, login, pages, rest
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
    (only with ``web.users``: without them ``/`` says how to turn them on)."""
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
    templates = pages.setup(app)
    app[web_keys.JOBS_CACHE] = jobscache.JobsCache(
        app[web_keys.SUPERVISOR], jobs, templates.get_template("_job_rows.html")
    )


def tls_context(settings: config_mod.Settings) -> ssl.SSLContext | None:
    """HTTPS from http.tls (cert and key files), else None."""
    tls = settings.http.tls
    if tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.resolve_path(tls.cert), settings.resolve_path(tls.key))
    return context
