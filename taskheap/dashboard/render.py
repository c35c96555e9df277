"""How the dashboard's pages are rendered: the templates and what they may call, links that
encode whatever names the store holds, and the short form of times the lists use (durations
come from `views.duration`, shared with `taskheap top`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from anyio import to_thread
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from ..admin import Admin
from ..job import ALL_STATES, JobInfo, JobState, id_time
from ..views import duration, short_id, when
from .filters import kept
from .security import CSRF_FIELD, csrf_token, remember_csrf

HERE = Path(__file__).parent
FAILED_LAST = frozenset({JobState.DEAD, JobState.RETRYING})  # states a failed attempt leaves


def url(request: Request, name: str, **params: str) -> URL:
    """`request.url_for` with each path parameter percent-encoded: a job id or queue name from
    the store may hold `/`, `?`, `#` or `%` (the routes take them as `path` parameters)."""
    return request.url_for(name, **{key: quote(str(value), safe="/") for key, value in params.items()})


@pass_context
def _url_for(context: Context, name: str, /, **params: str) -> URL:
    return url(context["request"], name, **params)


def short_when(ts: float | None, now: float) -> str:
    """A time in a list: HH:MM:SS today, else MM-DD HH:MM (`when` gives the full one)."""
    if ts is None:
        return "-"
    at, today = dt.datetime.fromtimestamp(ts), dt.datetime.fromtimestamp(now)
    return at.strftime("%H:%M:%S" if at.date() == today.date() else "%m-%d %H:%M")


def last_attempt_ran(job: JobInfo) -> float | None:
    """How long the job's last attempt ran: the store keeps that attempt's start."""
    if job.started_at is None or job.finished_at is None:
        return None
    return job.finished_at - job.started_at


def by_priority(counts: Mapping[Any, int]) -> list[tuple[Any, int]]:
    """Queued counts by priority, best first; a priority that is not a number (another client
    wrote text into SQLite's column) sorts after the numbers instead of failing the page."""
    return sorted(
        counts.items(),
        key=lambda item: (0, item[0], "") if isinstance(item[0], int) else (1, 0, str(item[0])),
    )


def breakable(name: str) -> Markup:
    """A dotted name (a task, a queue, a worker) escaped, with line-break chances after its
    separators, so a narrow table wraps `tasks.emails.send` at the dots, not mid-word."""
    text = escape(name)
    for separator in ".:/@":
        text = text.replace(separator, Markup(separator + "<wbr>"))
    return text


def failed_last(job: JobInfo) -> bool:
    """Whether the job's last attempt failed (its error is current, not history)."""
    return job.status in FAILED_LAST and bool(job.error)


def cancel_reason(job: JobInfo) -> str | None:
    """Why a cancelled job was cancelled (its task's Cancel reason, or "expired"); None when it
    was cancelled from outside, its error being its last failed attempt's."""
    if job.status != JobState.CANCELLED or not job.error:
        return None
    if job.failed_attempts and job.failed_attempts[-1].error == job.error:
        return None
    return job.error


class Renderer:
    """The templates, and the admin API's blocking reads run off the event loop."""

    def __init__(self, admin: Admin, read_only: bool) -> None:
        self.admin = admin
        self.read_only = read_only
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.filters["breakable"] = breakable
        self.templates.env.globals.update(
            url_for=_url_for,
            when=when,
            short_when=short_when,
            duration=duration,
            last_attempt_ran=last_attempt_ran,
            failed_last=failed_last,
            cancel_reason=cancel_reason,
            by_priority=by_priority,
            short_id=short_id,
            id_time=id_time,
            states=ALL_STATES,
            kept=kept,
        )

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context |= {"read_only": self.read_only, "csrf_field": CSRF_FIELD, "csrf": csrf_token(request)}
        context.setdefault("user", request.scope.get("state", {}).get("user"))
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        return remember_csrf(request, response)

    def error(self, request: Request, status: int, message: str) -> Response:
        return self.page(request, "error.html", status, message=message)

    async def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Admin reads block (sqlite, redis, psycopg): run them off the event loop."""
        return await to_thread.run_sync(lambda: fn(*args, **kwargs))
