"""Run one claimed job's function and turn whatever happens into an Outcome; and the checks a
claimed job passes before it may take a slot."""

from __future__ import annotations

import math
import time
import traceback as tb
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..backends.base import ClaimedJob
from ..codec import decode_payload, encode_result, headers_of, oversized, printable, storable
from ..context import Cancel, Fail, JobContext, JobControl, Retry, Snooze, context_of, running_job
from ..errors import PayloadError
from ..job import MAX_PRIORITY, MIN_PRIORITY
from ..middleware import Chain, RunResult
from ..retry import Backoff
from ..task import Task

NO_MIDDLEWARE = Chain()


class Outcome(NamedTuple):
    result: str | None = None  # JSON of the return value, when it succeeded
    error: str | None = None
    traceback: str | None = None
    final: bool = False  # True: retrying cannot help (a bad payload): dead at once
    unknown_task: bool = False  # True: this worker's app does not define the task (unknown.py)
    #: Seconds until it runs again: Retry(delay)'s, instead of the backoff; or Snooze's
    delay: float | None = None
    snoozed: bool = False  # True: Snooze: given back unrun after `delay`, the attempt not spent
    cancelled: bool = False  # True: Cancel: cancelled, `error` the reason

    @property
    def ok(self) -> bool:
        return self.error is None


UNKNOWN_TASK = Outcome(error="unknown task: this worker's app does not define it", unknown_task=True)
EXPIRED = Outcome(error="expired", cancelled=True)  # claimed for its first attempt past its expiry
#: a run that did not succeed after a cancel request (`JobHandle.cancel()`): never retried
CANCEL_REQUESTED = Outcome(error="cancel requested", cancelled=True)


def refusal(job: ClaimedJob, max_payload: int) -> Outcome | None:
    """What a worker checks of a claimed job before it takes a slot, the store's row being
    trusted no more than a producer (a row may have been written by hand): a task name that is
    text, a priority in range, a payload that is text within the App's limit. None if it
    passes; else its final Outcome. An isinstance and a comparison or two: the JSON is decoded
    in the slot (`run_job`)."""
    priority, payload, task = job.priority, job.payload, job.task
    if not isinstance(task, str) or not storable(task):
        return Outcome(error=printable(f"undecodable task name: not UTF-8: {task!r}"), final=True)
    if type(priority) is not int or not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        if type(priority) is int:
            return Outcome(error=f"priority out of range: {priority}", final=True)
        return Outcome(error=f"priority not an integer: {priority!r}", final=True)
    if not isinstance(payload, str):
        return Outcome(error=f"malformed payload: {type(payload).__name__}, not text", final=True)
    size = oversized(payload, max_payload)
    if size is not None:
        return Outcome(
            error=f"payload too large: {size} bytes, over the {max_payload}-byte limit", final=True
        )
    return _settings_refusal(job)


def _settings_refusal(job: ClaimedJob) -> Outcome | None:
    """How the job retries and times out, as a failure of it would read them."""
    retries, timeout, attempts = job.retries, job.timeout, job.attempts
    if type(retries) is not int or retries < 0:
        return Outcome(error=printable(f"retries not a whole number >= 0: {retries!r}"), final=True)
    if type(attempts) is not int or attempts < 1:
        return Outcome(error=printable(f"attempts not a whole number >= 1: {attempts!r}"), final=True)
    if not (isinstance(job.enqueued_at, int | float) and math.isfinite(job.enqueued_at)):
        return Outcome(
            error=printable(f"enqueued_at not a number of seconds: {job.enqueued_at!r}"), final=True
        )
    if timeout is not None and not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
        return Outcome(error=printable(f"timeout not a number of seconds > 0: {timeout!r}"), final=True)
    if job.backoff is not None:
        try:
            Backoff.from_json(job.backoff)
        except (TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            return Outcome(error=printable(f"malformed backoff {job.backoff!r}: {exc}"), final=True)
    return None


def run_job(tasks: Mapping[str, Any], job: ClaimedJob, middleware: Chain = NO_MIDDLEWARE) -> Outcome:
    """Whatever the task raises, BaseException included (SystemExit, say), is its failed
    Outcome, and so is a payload (or meta) that cannot be decoded: no job takes its slot down
    with it. The middleware's run hooks run around the function, in this context."""
    call = _call(tasks, job)
    if isinstance(call, Outcome):
        return call
    task, args, kwargs, headers = call
    running = running_job.set(job)
    try:
        begun = _before(middleware, task, job, headers) if middleware.around_runs else None
        if isinstance(begun, Outcome):
            return begun
        try:
            value = task.fn(*args, **kwargs)
        except BaseException as exc:
            return _raised(middleware, task, begun, exc)
        return _returned(middleware, begun, value)
    finally:
        running_job.reset(running)


async def run_async_job(
    tasks: Mapping[str, Any], job: ClaimedJob, middleware: Chain = NO_MIDDLEWARE
) -> Outcome:
    """`run_job` for an `async def` task, awaited on the worker's event loop in the job's own
    asyncio Task: the context `current_job()` and the middleware's run hooks see."""
    call = _call(tasks, job)
    if isinstance(call, Outcome):
        return call
    task, args, kwargs, headers = call
    running_job.set(job)  # in the asyncio Task's own context, which ends with it
    begun = _before(middleware, task, job, headers) if middleware.around_runs else None
    if isinstance(begun, Outcome):
        return begun
    try:
        value = await task.fn(*args, **kwargs)
    except BaseException as exc:
        return _raised(middleware, task, begun, exc)
    return _returned(middleware, begun, value)


#: A task, the arguments to call it with, and the job's headers (read once, for the run hooks)
_Call = tuple[Task[Any, Any], list[Any], dict[str, Any], dict[str, Any]]


def _call(tasks: Mapping[str, Any], job: ClaimedJob) -> _Call | Outcome:
    """The task, the arguments to call it with and the job's headers, or the Outcome of a job
    that cannot run."""
    task = tasks.get(job.task)
    if task is None:  # the worker checked: a child process whose app differs (changed on disk)
        return UNKNOWN_TASK
    try:
        args, kwargs = decode_payload(job.payload)
        headers = headers_of(job.meta)
    except PayloadError as exc:
        return Outcome(error=str(exc), final=True)
    return task, args, kwargs, headers


#: The context the run hooks see and when the function began; None without run hooks.
_Begun = tuple[JobContext, float] | None


def _before(
    middleware: Chain, task: Task[Any, Any], job: ClaimedJob, headers: dict[str, Any]
) -> _Begun | Outcome:
    """Run the before_run hooks: the run's context and start, or the Outcome a hook decided."""
    context = context_of(job, headers)
    try:
        middleware.before_run(context)
    except JobControl as exc:  # a middleware decided the job without running it
        return failed(task, exc)
    return context, time.perf_counter()


def _raised(middleware: Chain, task: Task[Any, Any], begun: _Begun, exc: BaseException) -> Outcome:
    """The Outcome of a function that raised `exc`, after the after_run hooks (called in the
    except block, for the traceback)."""
    outcome = failed(task, exc)
    if begun is not None:
        middleware.after_run(begun[0], RunResult(False, None, exc, time.perf_counter() - begun[1]))
    return outcome


def _returned(middleware: Chain, begun: _Begun, value: Any) -> Outcome:
    """The Outcome of a function that returned `value`, after the after_run hooks."""
    if begun is not None:
        middleware.after_run(begun[0], RunResult(True, value, None, time.perf_counter() - begun[1]))
    return succeeded(value)


def succeeded(value: Any) -> Outcome:
    """The Outcome of a run that returned `value`: dead if it cannot be stored as JSON."""
    try:
        return Outcome(result=encode_result(value))
    except TypeError as exc:
        return Outcome(error=str(exc), final=True)


def failed(task: Task[Any, Any], exc: BaseException) -> Outcome:
    """The Outcome of a run that raised `exc` (called in its except block, for the traceback):
    a JobControl says what becomes of the job; the task's `retry_on` / `dont_retry_on` whether
    any other exception may be retried."""
    if isinstance(exc, Snooze):
        return Outcome(delay=exc.delay, snoozed=True)
    if isinstance(exc, Retry):
        return Outcome(error=f"Retry: {exc}", traceback=_traceback(), delay=exc.delay)
    if isinstance(exc, Cancel):
        return Outcome(error=printable(str(exc.reason)), cancelled=True)
    if isinstance(exc, Fail):
        return Outcome(error=printable(f"Fail: {exc.reason}"), traceback=_traceback(), final=True)
    error = printable(f"{type(exc).__name__}: {exc}")
    rule = task.retry_refusal(exc)
    if rule is not None:
        return Outcome(error=f"{error} ({rule}: dead without retrying)", traceback=_traceback(), final=True)
    return Outcome(error=error, traceback=_traceback())


def _traceback() -> str:
    return printable(tb.format_exc())
