"""Logging in and out, and the middleware that finds a request's session.

Sessions live in a cookie that is HttpOnly and SameSite=Strict (and Secure over TLS); every
form carries the session's CSRF token and every session-authenticated API write the
``X-CSRF-Token`` header. Failed logins are throttled per user and address and logged without
the password.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from aiohttp import web
from loguru import logger

from directord.web import auth
from directord.web import keys as web_keys

PUBLIC = ("/health", "/status", "/metrics", "/static/", "/login", "/api/")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _safe_next(target: str) -> str:
    """Only a path of ours, never another site (an open redirect)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/jobs"
    return target


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the logged-in session (if any); send people without one to /login."""
    store = request.app[web_keys.SESSIONS]
    session = store.get(request.cookies.get(auth.SESSION_COOKIE))
    if session is not None:
        request[web_keys.SESSION_KEY] = session
    path = request.path
    if not request.app[web_keys.WEB_USERS]:
        if path != "/" and not path.startswith(PUBLIC):
            # The pages are off without users: nothing is shown to whoever can connect.
            raise web.HTTPNotFound(text="the web pages are off: configure web.users")
        return await handler(request)
    if session is None and not path.startswith(PUBLIC):
        if request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs)}")
        raise web.HTTPForbidden(text="log in first")
    return await handler(request)


def require_writer(request: web.Request, form_token: str | None) -> auth.Session:
    """The session of a form post that changes something: operator role and CSRF token."""
    session: auth.Session | None = request.get(web_keys.SESSION_KEY)
    if session is None:
        raise web.HTTPForbidden(text="log in first")
    if not session.may_write:
        raise web.HTTPForbidden(text=f"{session.user} is a {session.role}: operators only")
    if not auth.csrf_matches(session, form_token):
        raise web.HTTPForbidden(text="missing or wrong CSRF token")
    return session


async def login_page(request: web.Request) -> web.StreamResponse:
    if not request.app[web_keys.WEB_USERS]:
        raise web.HTTPSeeOther("/")
    import aiohttp_jinja2  # noqa: PLC0415 - only with web.users (pages.setup ran)

    context = {"next": _safe_next(request.query.get("next", "/jobs")), "name": "", "error": None}
    return aiohttp_jinja2.render_template("login.html", request, {"session": None, **context})


async def login_post(request: web.Request) -> web.StreamResponse:
    users = request.app[web_keys.WEB_USERS]
    if not users:
        raise web.HTTPSeeOther("/")
    form = await request.post()
    name = str(form.get("name", ""))[:200]
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/jobs")))
    address = request.remote or "?"
    throttle = request.app[web_keys.THROTTLE]
    wait = throttle.retry_after(name, address)

    def again(error: str, status: int) -> web.Response:
        import aiohttp_jinja2  # noqa: PLC0415 - only with web.users (pages.setup ran)

        context = {"session": None, "next": target, "name": name, "error": error}
        return aiohttp_jinja2.render_template("login.html", request, context, status=status)

    if wait > 0:
        logger.bind(action="login_throttled", user=name, address=address).warning(
            "login refused: too many failures, {:.0f}s to wait", wait
        )
        return again(f"Too many failed logins: try again in {wait:.0f} seconds.", 429)
    found = users.get(name)
    if not auth.verify_password(found[0] if found else None, password):
        throttle.failed(name, address)
        logger.bind(action="login_failed", user=name, address=address).warning("login failed")
        return again("Wrong name or password.", 401)
    throttle.succeeded(name, address)
    session = request.app[web_keys.SESSIONS].create(name, auth.Role(found[1]))  # type: ignore[index]
    logger.bind(action="login", user=name, address=address).info("logged in")
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        auth.SESSION_COOKIE,
        session.id,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    session: auth.Session | None = request.get(web_keys.SESSION_KEY)
    if session is not None:
        if not auth.csrf_matches(session, str(form.get(auth.CSRF_FIELD, ""))):
            raise web.HTTPForbidden(text="missing or wrong CSRF token")
        request.app[web_keys.SESSIONS].drop(session.id)
        logger.bind(action="logout", user=session.user).info("logged out")
    response = web.HTTPSeeOther("/login")
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    raise response


def routes() -> list[web.RouteDef]:
    return [
        web.get("/login", login_page),
        web.post("/login", login_post),
        web.post("/logout", logout),
    ]
