"""The dashboard's actions (POST, CSRF-checked, logged, refused when read-only): retry one dead
job (from scratch) or retrying job (now, attempts kept), purge one dead job, cancel one waiting
job (or ask a running one's worker to stop it); retry every dead or
retrying job matching a filter, or purge every dead one; purge a queue's waiting jobs (every
waiting state, or one of queued, scheduled, retrying); pause or resume a queue. Each bulk action
first shows a confirmation with the exact count and scope (GET), then acts (POST)."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from ..admin import JobFilter
from ..job import ALL_STATES, JobState
from .filters import BadFilter, parse_filter, scope
from .render import Renderer, url
from .security import csrf_ok, form_fields

log = logging.getLogger("taskheap.dashboard")
#: The bulk actions of each list page, by the state it lists; and that page.
BULK_ACTIONS = {JobState.DEAD: ("retry", "purge"), JobState.RETRYING: ("retry",)}
LIST_PAGE = {JobState.DEAD: "dead", JobState.RETRYING: "retrying"}
#: A queue's waiting jobs, which a queue purge deletes (a running job belongs to its worker).
QUEUE_PURGE_STATES = (JobState.QUEUED, JobState.SCHEDULED, JobState.RETRYING)


class Actions:
    def __init__(self, render: Renderer) -> None:
        self.render = render
        self.admin = render.admin

    async def _checked_form(self, request: Request) -> dict[str, str] | Response:
        if self.render.read_only:
            return PlainTextResponse("the dashboard is read-only", 403)
        form = await form_fields(request)
        if not csrf_ok(request, form):
            return PlainTextResponse("missing or wrong CSRF token: reload the page and try again", 403)
        return form

    def _log(self, request: Request, what: str) -> None:
        user = request.scope.get("state", {}).get("user") or "anonymous"
        client = request.client.host if request.client else "?"
        log.warning("dashboard action by %s from %s: %s", user, client, what)

    async def _unknown_queue(self, request: Request, queue: str) -> Response | None:
        """The error page when the store knows no such queue (an action never invents one)."""
        known = set(await self.render.read(self.admin.counts)) | await self.render.read(self.admin.paused)
        if queue in known:
            return None
        names = ", ".join(sorted(known)) or "none"
        return self.render.error(request, 404, f"no queue {queue!r}; known: {names}")

    async def job_action(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        job_id, action = request.path_params["job_id"], request.path_params["action"]
        if action not in ("retry", "purge", "cancel"):
            return PlainTextResponse(f"unknown action {action!r}", 404)
        if action == "retry":
            changed = await self.render.read(self.admin.replay, [job_id], state=None)
        elif action == "cancel":  # a waiting job at once; a running one gets a request
            changed = int(await self.render.read(self.admin.cancel, job_id))
        else:
            changed = await self.render.read(self.admin.purge, [job_id])
        self._log(request, f"{action} job {job_id!r}: {changed} changed")
        if not changed:
            can = {"retry": "dead or retrying", "purge": "dead", "cancel": "waiting or running"}[action]
            return self.render.error(request, 409, f"job {job_id} is not {can}")
        target = url(request, "dead") if action == "purge" else url(request, "job", job_id=job_id)
        return RedirectResponse(str(target), 303)

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
            return self.render.error(request, 400, str(exc))
        if request.method == "GET":
            count = await self.render.read(self.admin.count, where)
            return self.render.page(
                request,
                "confirm.html",
                action=action,
                count=count,
                scope=scope(asked),
                params=params,
                back=LIST_PAGE[JobState(state)],
            )
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        act = self.admin.replay_matching if action == "retry" else self.admin.purge_matching
        changed = await self.render.read(act, where)
        assert where.state is not None
        self._log(request, f"{action} every {where.state} job matching {scope(asked)}: {changed} changed")
        done = url(request, LIST_PAGE[where.state]).include_query_params(done=f"{action}: {changed} job(s)")
        return RedirectResponse(str(done), 303)

    async def queue_purge(self, request: Request) -> Response:
        """A queue's waiting jobs, `?state=` one waiting state or all of them: GET shows the
        exact count by state and a confirm button; POST deletes them."""
        queue = request.path_params["queue"]
        if unknown := await self._unknown_queue(request, queue):
            return unknown
        asked = request.query_params.get("state") or None
        if asked is not None and asked not in QUEUE_PURGE_STATES:
            names = ", ".join(QUEUE_PURGE_STATES)
            return self.render.error(
                request, 400, f"a queue purge takes a waiting state ({names}), not {asked!r}"
            )
        states = [JobState(asked)] if asked else list(QUEUE_PURGE_STATES)
        if request.method == "GET":
            counts = {
                s: await self.render.read(self.admin.count, JobFilter(queue=queue, state=s)) for s in states
            }
            return self.render.page(request, "purge_queue.html", queue=queue, state=asked, counts=counts)
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        changed = await self.render.read(self.admin.purge_waiting, queue, states)
        self._log(request, f"purge the {asked or 'waiting'} jobs of queue {queue!r}: {changed} deleted")
        done = url(request, "overview").include_query_params(done=f"purged {changed} job(s) of queue {queue}")
        return RedirectResponse(str(done), 303)

    async def queue_action(self, request: Request) -> Response:
        form = await self._checked_form(request)
        if isinstance(form, Response):
            return form
        queue, action = request.path_params["queue"], request.path_params["action"]
        if action not in ("pause", "resume"):
            return PlainTextResponse(f"unknown action {action!r}", 404)
        if unknown := await self._unknown_queue(request, queue):
            return unknown
        await self.render.read(self.admin.pause if action == "pause" else self.admin.resume, queue)
        self._log(request, f"{action} queue {queue!r}")
        return RedirectResponse(str(url(request, "overview")), 303)
