"""The web dashboard: a Starlette app over the admin API, server-rendered (Jinja2, autoescaped),
live by server-sent events, with Prometheus /metrics. Mount it anywhere as an ASGI sub-app.

Pages: overview, jobs (filters in the URL, keyset pages), job detail with every failed attempt,
workers, the app's schedules, dead letters and retrying, the login form when a token guards it.
Actions live in actions.py; auth, CSRF and the security headers in security.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..app import App
from ..errors import BackendError, JobNotFound
from ..job import JobState
from ..metrics import admin_registry
from ..schedule import Schedule
from .actions import BULK_ACTIONS, Actions
from .charts import chart
from .filters import BadFilter, parse_filter
from .render import HERE, Renderer, url
from .security import (
    SESSION_HOURS,
    TOKEN_ENV,
    Auth,
    AuthMiddleware,
    SecurityHeaders,
    csrf_ok,
    form_fields,
    safe_next,
    session_middleware,
    with_headers,
)

log = logging.getLogger("taskheap.dashboard")
PAGE = 50
LIVE_EVERY = 1.0  # seconds between server-sent updates


def create_app(app: App, *, auth: Auth | None = None, read_only: bool = False) -> Starlette:
    render = Renderer(app.admin, read_only)
    site, actions = Site(render, auth, app.schedules), Actions(render)
    routes = [
        Route("/", site.overview, name="overview"),
        Route("/live", site.live, name="live"),
        Route("/login", site.login, methods=["GET", "POST"], name="login"),
        Route("/logout", site.logout, methods=["POST"], name="logout"),
        Route("/jobs", site.jobs, name="jobs"),
        # Job ids and queue names are `path` parameters: what another client stored may hold a `/`.
        Route("/jobs/{job_id:path}/{action:str}", actions.job_action, methods=["POST"], name="job_action"),
        Route("/jobs/{job_id:path}", site.job, name="job"),
        Route("/dead", site.dead, name="dead"),
        Route("/retrying", site.retrying, name="retrying"),
        Route("/bulk/{action:str}", actions.bulk, methods=["GET", "POST"], name="bulk"),
        Route("/queues/{queue:path}/purge", actions.queue_purge, methods=["GET", "POST"], name="queue_purge"),
        Route(
            "/queues/{queue:path}/{action:str}", actions.queue_action, methods=["POST"], name="queue_action"
        ),
        Route("/workers", site.workers, name="workers"),
        Route("/schedules", site.schedules, name="schedules"),
        Route("/metrics", site.metrics, name="metrics"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if auth and auth.token:
        middleware.append(Middleware(session_middleware, auth=auth))
    if auth:
        middleware.append(Middleware(AuthMiddleware, auth=auth))
    handlers = {BackendError: site.store_failed, Exception: server_error}
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)


async def server_error(request: Request, exc: Exception) -> Response:
    """The 500 page: sent outside the middleware, so it carries the security headers itself."""
    return with_headers(PlainTextResponse("internal error: the dashboard's log has the details\n", 500))


class Site:
    """The pages."""

    def __init__(self, render: Renderer, auth: Auth | None, schedules: Mapping[str, Schedule]) -> None:
        self.render = render
        self.declared = schedules
        self.admin = render.admin
        self.auth = auth
        self.registry = admin_registry(render.admin)

    async def overview(self, request: Request) -> Response:
        overview = await self.render.read(self.admin.overview, time.time())
        minutes = [m.minute for m in overview.activity]
        runs = [float(m.completed + m.failed) for m in overview.activity]
        failure_rate = [m.failure_rate * 100 for m in overview.activity]
        cancelled = [float(m.cancelled) for m in overview.activity]
        return self.render.page(
            request,
            "overview.html",
            o=overview,
            throughput=chart(minutes, runs),
            failures=chart(minutes, failure_rate, top=100.0, unit=lambda v: f"{v:.0f}%"),
            cancelled=chart(minutes, cancelled),
        )

    async def live(self, request: Request) -> Response:
        """Server-sent events: the overview's live part, re-rendered every LIVE_EVERY seconds;
        `?count=N` ends the stream after N events."""
        count = int(request.query_params.get("count", "0") or 0)
        return StreamingResponse(self._events(request, count), media_type="text/event-stream")

    async def _events(self, request: Request, count: int) -> AsyncIterator[str]:
        sent = 0
        live = self.render.templates.get_template("_live.html")
        while True:
            overview = await self.render.read(self.admin.overview, time.time(), activity=False)
            html = live.render(o=overview, request=request)
            yield "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
            sent += 1
            if sent == count or await request.is_disconnected():
                return
            await asyncio.sleep(LIVE_EVERY)

    async def jobs(self, request: Request, title: str = "Jobs", fixed: JobState | None = None) -> Response:
        params = dict(request.query_params)
        if fixed is not None:
            params["state"] = fixed
        try:
            where = parse_filter(params, time.time())
        except BadFilter as exc:
            return self.render.error(request, 400, str(exc))
        before = params.get("before") or None
        found = await self.render.read(self.admin.find, where, before=before, limit=PAGE + 1)
        older = found[PAGE - 1].id if len(found) > PAGE else None
        queues = sorted((await self.render.read(self.admin.counts)).keys())
        shown = found[:PAGE]
        return self.render.page(
            request,
            "jobs.html",
            title=title,
            jobs=shown,
            now=time.time(),
            params=params,
            fixed=fixed,
            older=older,
            queues=queues,
            actions=()
            if self.render.read_only or fixed is None or not shown
            else BULK_ACTIONS.get(fixed, ()),
            row_actions=not self.render.read_only and fixed in BULK_ACTIONS,
        )

    async def dead(self, request: Request) -> Response:
        return await self.jobs(request, "Dead letters", JobState.DEAD)

    async def retrying(self, request: Request) -> Response:
        return await self.jobs(request, "Retrying", JobState.RETRYING)

    async def job(self, request: Request) -> Response:
        try:
            info = await self.render.read(self.admin.job, request.path_params["job_id"])
        except JobNotFound as exc:
            return self.render.error(request, 404, str(exc))
        waited = None if info.started_at is None else info.started_at - info.enqueued_at
        return self.render.page(request, "job.html", job=info, waited=waited)

    async def workers(self, request: Request) -> Response:
        overview = await self.render.read(self.admin.overview, time.time(), activity=False)
        return self.render.page(request, "workers.html", o=overview)

    async def schedules(self, request: Request) -> Response:
        shown = await self.render.read(self.admin.schedules, self.declared.values(), time.time())
        return self.render.page(request, "schedules.html", schedules=shown)

    async def metrics(self, request: Request) -> Response:
        body = await self.render.read(generate_latest, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def store_failed(self, request: Request, exc: Exception) -> Response:
        log.warning("dashboard: the store failed: %s", exc)
        return self.render.error(request, 503, f"the store did not answer: {exc}")

    # -- login --------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        """The token in a form, for a browser: a good one starts a signed session (the cookie
        holds no token) and goes on to `next`."""
        target = safe_next(request.query_params.get("next", "/"))
        if self.auth is None or not self.auth.token:
            return RedirectResponse(str(url(request, "overview")), 303)
        if request.method == "GET":
            return self._login_page(request, 200, target)
        form = await form_fields(request)
        if not csrf_ok(request, form):
            return self._login_page(request, 403, target, "the form had expired, try again")
        if not self.auth.is_token(form.get("token", "")):
            client = request.client.host if request.client else "?"
            log.warning("dashboard: a wrong token from %s", client)
            refused = self._login_page(request, 401, target, "wrong token")
            refused.headers["WWW-Authenticate"] = self.auth.challenge()
            return refused
        request.session.clear()
        request.session["user"] = "token"
        root = request.scope.get("root_path", "")
        return RedirectResponse(root + target, 303)

    def _login_page(self, request: Request, status: int, target: str, refused: str | None = None) -> Response:
        return self.render.page(
            request, "login.html", status, target=target, env=TOKEN_ENV, hours=SESSION_HOURS, refused=refused
        )

    async def logout(self, request: Request) -> Response:
        form = await form_fields(request)
        if not csrf_ok(request, form):
            return self.render.error(
                request, 403, "missing or wrong CSRF token: reload the page and try again"
            )
        if "session" in request.scope:
            request.session.clear()
        return RedirectResponse(str(url(request, "login")), 303)
