"""The web dashboard: a Starlette app over the admin API, server-rendered (Jinja2, autoescaped),
live by server-sent events, with Prometheus /metrics. Mount it anywhere as an ASGI sub-app.

Pages: overview, jobs (filters in the URL, keyset pages), job detail with every failed attempt,
workers, dead letters and retrying. Actions (POST, CSRF-checked, logged, refused when read-only):
retry one dead job (from scratch) or retrying job (now, attempts kept), purge one dead job; retry
every dead or retrying job matching a filter, or purge every dead one, after a confirmation
showing the exact count and scope; pause or resume a queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from anyio import to_thread
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..admin import Admin, JobFilter
from ..app import App
from ..errors import JobNotFound
from ..job import ALL_STATES, JobState, id_time
from ..metrics import admin_registry
from ..views import when
from .charts import chart
from .filters import BadFilter, kept, parse_filter, scope
from .security import CSRF_FIELD, Auth, AuthMiddleware, csrf_ok, csrf_token, form_fields, remember_csrf

log = logging.getLogger("taskheap.dashboard")
HERE = Path(__file__).parent
PAGE = 50
#: The bulk actions of each list page, by the state it lists; and that page.
BULK_ACTIONS = {JobState.DEAD: ("retry", "purge"), JobState.RETRYING: ("retry",)}
LIST_PAGE = {JobState.DEAD: "dead", JobState.RETRYING: "retrying"}
LIVE_EVERY = 1.0  # seconds between server-sent updates


def create_app(app: App, *, auth: Auth | None = None, read_only: bool = False) -> Starlette:
    site = Site(app.admin, read_only)
    routes = [
        Route("/", site.overview, name="overview"),
        Route("/live", site.live, name="live"),
        Route("/jobs", site.jobs, name="jobs"),
        Route("/jobs/{job_id}", site.job, name="job"),
        Route("/jobs/{job_id}/{action:str}", site.job_action, methods=["POST"], name="job_action"),
        Route("/dead", site.dead, name="dead"),
        Route("/retrying", site.retrying, name="retrying"),
        Route("/bulk/{action:str}", site.bulk, methods=["GET", "POST"], name="bulk"),
        Route("/queues/{queue}/{action:str}", site.queue_action, methods=["POST"], name="queue_action"),
        Route("/workers", site.workers, name="workers"),
        Route("/metrics", site.metrics, name="metrics"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(AuthMiddleware, auth=auth)] if auth else []
    return Starlette(routes=routes, middleware=middleware)


class Site:
    def __init__(self, admin: Admin, read_only: bool) -> None:
        self.admin = admin
        self.read_only = read_only
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.globals.update(when=when, id_time=id_time, states=ALL_STATES, kept=kept)
        self.registry = admin_registry(admin)

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context |= {"read_only": self.read_only, "csrf_field": CSRF_FIELD, "csrf": csrf_token(request)}
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        return remember_csrf(request, response)

    async def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Admin reads block (sqlite, redis, psycopg): run them off the event loop."""
        return await to_thread.run_sync(lambda: fn(*args, **kwargs))

    # -- pages --------------------------------------------------------------------------
    async def overview(self, request: Request) -> Response:
        overview = await self.read(self.admin.overview, time.time())
        throughput = [m.completed + m.failed for m in overview.activity]
        failure_rate = [m.failure_rate * 100 for m in overview.activity]
        return self.page(
            request,
            "overview.html",
            o=overview,
            throughput=chart(throughput),
            failures=chart(failure_rate, peak=100.0),
        )

    async def live(self, request: Request) -> Response:
        """Server-sent events: the overview's live part, re-rendered every LIVE_EVERY seconds;
        `?count=N` ends the stream after N events."""
        count = int(request.query_params.get("count", "0") or 0)
        return StreamingResponse(self._events(request, count), media_type="text/event-stream")

    async def _events(self, request: Request, count: int) -> AsyncIterator[str]:
        sent = 0
        while True:
            overview = await self.read(self.admin.overview, time.time(), activity=False)
            html = self.templates.get_template("_live.html").render(o=overview, request=request)
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
            return self.page(request, "error.html", 400, message=str(exc))
        before = params.get("before") or None
        found = await self.read(self.admin.find, where, before=before, limit=PAGE + 1)
        older = found[PAGE - 1].id if len(found) > PAGE else None
        queues = sorted((await self.read(self.admin.counts)).keys())
        return self.page(
            request,
            "jobs.html",
            title=title,
            jobs=found[:PAGE],
            params=params,
            fixed=fixed,
            older=older,
            queues=queues,
            actions=() if self.read_only or fixed is None else BULK_ACTIONS.get(fixed, ()),
        )

    async def dead(self, request: Request) -> Response:
        return await self.jobs(request, "Dead letters", JobState.DEAD)

    async def retrying(self, request: Request) -> Response:
        return await self.jobs(request, "Retrying", JobState.RETRYING)

    async def job(self, request: Request) -> Response:
        try:
            info = await self.read(self.admin.job, request.path_params["job_id"])
        except JobNotFound as exc:
            return self.page(request, "error.html", 404, message=str(exc))
        waited = ran = None
        if info.started_at is not None:
            waited = info.started_at - info.enqueued_at
            if info.finished_at is not None:
                ran = info.finished_at - info.started_at
        return self.page(request, "job.html", job=info, waited=waited, ran=ran)

    async def workers(self, request: Request) -> Response:
        overview = await self.read(self.admin.overview, time.time(), activity=False)
        return self.page(request, "workers.html", o=overview)

    async def metrics(self, request: Request) -> Response:
        body = await self.read(generate_latest, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    # -- actions ------------------------------------------------------------------------
    async def _checked_form(self, request: Request) -> dict[str, str] | Response:
        if self.read_only:
            return PlainTextResponse("the dashboard is read-only", 403)
        form = await form_fields(request)
        if not csrf_ok(request, form):
            return PlainTextResponse("missing or wrong CSRF token: reload the page and try again", 403)
        return form

    def _log(self, request: Request, what: str) -> None:
        user = request.scope.get("state", {}).get("user") or "anonymous"
        client = request.client.host if request.client else "?"
        log.warning("dashboard action by %s from %s: %s", user, client, what)

    async def job_action(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        job_id, action = request.path_params["job_id"], request.path_params["action"]
        if action not in ("retry", "purge"):
            return PlainTextResponse(f"unknown action {action!r}", 404)
        if action == "retry":
            changed = await self.read(self.admin.replay, [job_id], state=None)
        else:
            changed = await self.read(self.admin.purge, [job_id])
        self._log(request, f"{action} job {job_id}: {changed} changed")
        if not changed:
            can = "dead or retrying" if action == "retry" else "dead"
            return self.page(request, "error.html", 409, message=f"job {job_id} is not {can}")
        target = "job" if action == "retry" else "dead"
        url = request.url_for(target, **({"job_id": job_id} if target == "job" else {}))
        return RedirectResponse(str(url), 303)

    async def bulk(self, request: Request) -> Response:
        """On the dead jobs, or with `?state=retrying` the retrying ones: GET shows the exact
        count and scope and a confirm button; POST does it."""
        action = request.path_params["action"]
        state = request.query_params.get("state") or JobState.DEAD
        if state not in ALL_STATES or action not in BULK_ACTIONS.get(JobState(state), ()):
            return PlainTextResponse(f"cannot {action} every {state} job", 404)
        asked = {k: v for k, v in request.query_params.items() if k != "state"}
        params = {**asked, "state": state}
        try:
            where = parse_filter(params, time.time())
        except BadFilter as exc:
            return self.page(request, "error.html", 400, message=str(exc))
        if request.method == "GET":
            count = await self.read(self.admin.count, where)
            return self.page(
                request,
                "confirm.html",
                action=action,
                count=count,
                scope=scope(asked),
                params=params,
                back=LIST_PAGE[JobState(state)],
            )
        return await self._bulk(request, action, where, asked)

    async def _bulk(
        self, request: Request, action: str, where: JobFilter, params: dict[str, str]
    ) -> Response:
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        act = self.admin.replay_matching if action == "retry" else self.admin.purge_matching
        changed = await self.read(act, where)
        assert where.state is not None
        self._log(request, f"{action} every {where.state} job matching {scope(params)}: {changed} changed")
        url = request.url_for(LIST_PAGE[where.state]).include_query_params(done=f"{action}: {changed} job(s)")
        return RedirectResponse(str(url), 303)

    async def queue_action(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        queue, action = request.path_params["queue"], request.path_params["action"]
        if action not in ("pause", "resume"):
            return PlainTextResponse(f"unknown action {action!r}", 404)
        await self.read(self.admin.pause if action == "pause" else self.admin.resume, queue)
        self._log(request, f"{action} queue {queue}")
        return RedirectResponse(str(request.url_for("overview")), 303)
