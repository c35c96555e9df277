"""Who may use the dashboard and what the browser may do with it: bearer-token or HTTP basic
auth, a login form whose session cookie stands in for the token in a browser, CSRF tokens on
every POST (double submit: a random cookie echoed in each form), the security headers on every
response, and the bind rule."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, quote

from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "taskheap_csrf"
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "taskheap_session"
SESSION_HOURS = 12  # a login lasts a working day; the signature carries its time
TOKEN_ENV = "TASKHEAP_DASHBOARD_TOKEN"
BASIC_ENV = "TASKHEAP_DASHBOARD_BASIC_AUTH"
#: Reachable without auth: the login form, and the package's own CSS and JS (public files).
OPEN_PATHS = ("/login", "/static/")

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class Auth:
    """Either or both: a token (`Authorization: Bearer <token>`, or the login form), or basic
    auth as `user:password`."""

    token: str | None = None
    basic: str | None = None

    def __post_init__(self) -> None:
        if not self.token and not self.basic:
            raise ValueError("auth needs a token or user:password")
        if self.basic is not None and ":" not in self.basic:
            raise ValueError("basic auth must be given as user:password")

    def user(self, header: str) -> str | None:
        """The authenticated user for this Authorization header, else None."""
        scheme, _, value = header.partition(" ")
        if self.token and scheme.lower() == "bearer" and self.is_token(value):
            return "token"
        if self.basic and scheme.lower() == "basic":
            try:
                given = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            if _same(given, self.basic):
                return given.partition(":")[0]
        return None

    def is_token(self, given: str) -> bool:
        return bool(self.token) and _same(given, self.token or "")

    def session_key(self) -> str:
        """The key that signs session cookies, derived from the token: a cookie never holds the
        token, sessions outlive a restart and hold across replicas, and a new token ends them."""
        assert self.token
        return hmac.new(self.token.encode(), b"taskheap dashboard session", hashlib.sha256).hexdigest()

    def challenge(self) -> str:
        """The WWW-Authenticate value: every scheme this dashboard accepts."""
        schemes = ['Bearer realm="taskheap"'] if self.token else []
        return ", ".join([*schemes, *(['Basic realm="taskheap"'] if self.basic else [])])


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def route_path(scope: Scope) -> str:
    """The path inside the dashboard (without the prefix it is mounted under)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class AuthMiddleware:
    """Lets in a request with a good Authorization header or a logged-in session; sends a
    browser asking for a page to the login form, and anything else a 401 with the challenge."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope).startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        user = self.auth.user(connection.headers.get("authorization", ""))
        if user is None and "session" in scope:
            user = scope["session"].get("user")
        if user is None:
            await self.refusal(connection)(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)

    def refusal(self, connection: HTTPConnection) -> Response:
        wants_page = "text/html" in connection.headers.get("accept", "")
        if self.auth.token and wants_page and connection.scope["method"] == "GET":
            here = route_path(connection.scope) + (f"?{connection.url.query}" if connection.url.query else "")
            root = connection.scope.get("root_path", "")
            return RedirectResponse(f"{root}/login?next={quote(here, safe='')}", 303)
        how = (
            [f"Authorization: Bearer <token> (the token of --auth-token / ${TOKEN_ENV})"]
            if self.auth.token
            else []
        )
        if self.auth.basic:
            how.append(f"HTTP basic auth (--basic-auth / ${BASIC_ENV})")
        message = "authentication required: send " + " or ".join(how)
        return PlainTextResponse(message + "\n", 401, {"WWW-Authenticate": self.auth.challenge()})


def session_middleware(app: ASGIApp, auth: Auth) -> ASGIApp:
    """Starlette's signed-cookie session (HttpOnly, SameSite=Strict), keyed by the token."""
    return SessionMiddleware(
        app,
        secret_key=auth.session_key(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="strict",
    )


def safe_next(target: str) -> str:
    """Where the login form may send the browser on: a path inside the dashboard, nothing else
    (no other host, no scheme)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response that passes through (pages, API, static files,
    errors, 401s); `with_headers` does the same for the 500 page, which is sent outside."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def csrf_token(request: Request) -> str:
    """This browser's token: the cookie's, or a new one that `remember_csrf` will set."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def remember_csrf(request: Request, response: Response) -> Response:
    new = getattr(request.state, "new_csrf", None)
    if new:
        path = request.scope.get("root_path") or "/"
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", path=path)
    return response


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form body (all the dashboard's forms are), last value of each field."""
    body = (await request.body()).decode(errors="replace")
    return {name: values[-1] for name, values in parse_qs(body).items()}


def csrf_ok(request: Request, form: Mapping[str, str]) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and _same(form.get(CSRF_FIELD, ""), cookie)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
