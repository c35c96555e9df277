"""Middleware: code of yours that runs at each enqueue and around each run.

```python
class Audit(taskheap.Middleware):
    def enqueue(self, job: taskheap.Enqueueing) -> None:
        job.headers["user"] = current_user()        # stored with the job; may raise to refuse
    def before_run(self, job: taskheap.JobContext) -> None: ...
    def after_run(self, job: taskheap.JobContext, result: taskheap.RunResult) -> None: ...

app = taskheap.App(url, middleware=[Audit()])
```

`enqueue` runs in the producer, for each job of the call, in order of the list; what it puts in
`job.headers` is stored with the job (`JobInfo.headers`, `taskheap jobs show`, the dashboard)
and read back by the run (`current_job().headers`). An exception it raises refuses the call: it
reaches the caller and nothing of the call is stored.

`before_run` and `after_run` run in the worker, in the thread (or process, or event loop task)
that runs the job and in its context, so `current_job()` and any contextvar set in
`before_run` are seen by the task and by `after_run`: before in the list's order, after in the
reverse. `before_run` may decide the job without running it by raising Retry, Snooze, Fail or
Cancel, as the task could (a guard, a rate limit). Any other exception a run hook raises is
logged, and the job runs and is settled as if it had not: a middleware never takes a slot or a
job down. The hooks of a run cost nothing unless some
middleware defines them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..context import JobContext

log = logging.getLogger("taskheap.middleware")


@dataclass(slots=True)
class Enqueueing:
    """A job being enqueued, as an `enqueue` hook sees it: change `headers` only."""

    task: str
    queue: str
    priority: int
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended, as `after_run` sees it: `ok` with the task's return `value`, or the
    `exception` it raised (a Retry, Snooze, Fail or Cancel too); `seconds` it ran."""

    ok: bool
    value: Any
    exception: BaseException | None
    seconds: float


class Middleware:
    """Override the hooks you need; the others cost nothing."""

    def enqueue(self, job: Enqueueing) -> None:
        """In the producer, for each job enqueued: may add headers, or raise to refuse."""

    def before_run(self, job: JobContext) -> None:
        """In the worker, just before the task's function runs."""

    def after_run(self, job: JobContext, result: RunResult) -> None:
        """In the worker, just after it returned or raised."""


class Chain:
    """An App's middleware, in order, with the hooks each one defines."""

    def __init__(self, middleware: Sequence[Middleware] = ()) -> None:
        for m in middleware:
            if not isinstance(m, Middleware):
                raise TypeError(f"middleware must be taskheap.Middleware instances, got {m!r}")
        self._enqueue = [m for m in middleware if _defines(m, "enqueue")]
        self._before = [m for m in middleware if _defines(m, "before_run")]
        self._after = [m for m in reversed(middleware) if _defines(m, "after_run")]
        self.at_enqueue = bool(self._enqueue)
        self.around_runs = bool(self._before or self._after)

    def enqueue(self, job: Enqueueing) -> None:
        for m in self._enqueue:
            m.enqueue(job)

    def before_run(self, job: JobContext) -> None:
        for m in self._before:
            try:
                m.before_run(job)
            except Exception:
                log.exception("middleware %s failed before job %s (%s); it runs", _name(m), job.id, job.task)

    def after_run(self, job: JobContext, result: RunResult) -> None:
        for m in self._after:
            try:
                m.after_run(job, result)
            except Exception:
                log.exception("middleware %s failed after job %s (%s)", _name(m), job.id, job.task)


def _defines(m: Middleware, hook: str) -> bool:
    return getattr(type(m), hook) is not getattr(Middleware, hook)


def _name(m: Middleware) -> str:
    return type(m).__qualname__
