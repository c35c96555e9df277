"""Who may use the dashboard: optional bearer-token or HTTP basic auth, CSRF tokens on every
POST (double submit: a random cookie echoed in each form), and the bind rule."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

CSRF_COOKIE = "taskheap_csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class Auth:
    """Either or both: `Authorization: Bearer <token>`, or basic auth as `user:password`."""

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
        if self.token and scheme.lower() == "bearer" and _same(value, self.token):
            return "token"
        if self.basic and scheme.lower() == "basic":
            try:
                given = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            if _same(given, self.basic):
                return given.partition(":")[0]
        return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class AuthMiddleware:
    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            user = self.auth.user(Request(scope).headers.get("authorization", ""))
            if user is None:
                challenge = {"WWW-Authenticate": 'Basic realm="taskheap"'} if self.auth.basic else {}
                await PlainTextResponse("authentication required", 401, challenge)(scope, receive, send)
                return
            scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


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
