"""@app.task turns a function into a Task; Task.options(...) and Task.job(...) describe jobs."""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar

from .backends.queue_limits import check_group
from .job import check_priority, check_queue_name
from .retry import Backoff

if TYPE_CHECKING:
    from .handle import JobHandle

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class JobOptions:
    """How one job runs; a Task's defaults, overridden per job by `Task.options`."""

    queue: str = "default"
    priority: int = 5
    retries: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    timeout: float | None = None
    delay: float | None = None
    eta: dt.datetime | None = None
    headers: Mapping[str, Any] | None = None  # stored with the job (`current_job().headers`)
    #: Seconds from enqueue, or a datetime (naive: local time): a job not started by then is
    #: never run; it ends cancelled, "expired". A retrying job does not expire.
    expires: float | dt.datetime | None = None
    #: At most one job with this key per queue: while one is active (unique_for None), or
    #: enqueued within the last `unique_for` seconds. `unique=True` derives the key from the task
    #: name and its arguments. A duplicate enqueue returns the existing job's handle.
    unique_key: str | None = None
    unique_for: float | None = None
    unique: bool = False
    #: Which group of its queue the job belongs to: a queue's group_concurrency bounds the jobs
    #: running per group (None: not group-limited).
    group: str | None = None

    def __post_init__(self) -> None:
        check_priority(self.priority)
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.delay is not None and self.eta is not None:
            raise ValueError("give delay or eta, not both")
        check_expires(self.expires)
        check_queue_name(self.queue)
        check_unique(self.unique_key, self.unique_for, self.unique)
        check_group(self.group)
        if self.headers is not None and not isinstance(self.headers, Mapping):
            raise TypeError(f"headers must be a mapping of names to JSON values, got {self.headers!r}")

    def with_overrides(self, overrides: dict[str, Any]) -> JobOptions:
        if "backoff" in overrides:
            overrides = {**overrides, "backoff": Backoff.coerce(overrides["backoff"])}
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown job option(s): {', '.join(sorted(unknown))}")
        return replace(self, **overrides)

    def run_at(self, now: float) -> float | None:
        """When the job becomes due; None when it is runnable at once."""
        if self.delay is not None and self.delay > 0:
            return now + self.delay
        if self.eta is not None:
            due = self.eta.timestamp()  # a naive datetime is read as local time
            return due if due > now else None
        return None

    def expires_at(self, now: float) -> float | None:
        """When the job expires unless started by then; None when it never does."""
        if self.expires is None:
            return None
        if isinstance(self.expires, dt.datetime):
            return self.expires.timestamp()  # a naive datetime is read as local time
        return now + self.expires


def check_expires(expires: object) -> None:
    if expires is None or isinstance(expires, dt.datetime):
        return
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise TypeError(
            f"expires must be seconds from enqueue or a datetime, got {type(expires).__name__}: {expires!r}"
        )
    if not 0 < expires < math.inf:
        raise ValueError(f"expires must be a number of seconds > 0, got {expires!r}")


def check_unique(key: object, unique_for: object, unique: object) -> None:
    if not isinstance(unique, bool):
        raise TypeError(f"unique must be True or False, got {unique!r}")
    if key is not None and (not isinstance(key, str) or not key):
        raise ValueError(f"unique_key must be a non-empty str, got {key!r}")
    if unique and key is not None:
        raise ValueError("give unique_key or unique=True, not both")
    if unique_for is not None:
        if key is None and not unique:
            raise ValueError("unique_for needs a unique_key (or unique=True)")
        if isinstance(unique_for, bool) or not isinstance(unique_for, int | float):
            raise TypeError(f"unique_for must be a number of seconds, got {unique_for!r}")
        if not 0 < unique_for < math.inf:
            raise ValueError(f"unique_for must be a number of seconds > 0, got {unique_for!r}")


def derived_unique_key(task: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The key of `unique=True`: the task name and a hash of its arguments' canonical JSON (sorted
    keys), so equal arguments give equal keys whatever the order of the keyword arguments."""
    text = json.dumps({"args": args, "kwargs": kwargs}, sort_keys=True, separators=(",", ":"))
    return f"{task}:{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()}"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job described but not yet enqueued: `app.enqueue_many([task.job(...), ...])`."""

    task: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: JobOptions


class Enqueuer(Protocol):
    """What a Task enqueues through (an App)."""

    def enqueue(self, spec: JobSpec, *, connection: Any = None) -> JobHandle: ...
    async def aenqueue(self, spec: JobSpec, *, connection: Any = None) -> JobHandle: ...


class CallCheck:
    """Whether arguments bind to a function's signature, as a call would bind them. The common
    call (positional arguments only, within the count the signature takes) is checked without
    building a binding; any other goes through `inspect.Signature.bind`, whose TypeError names
    what is wrong. A function without a readable signature (some builtins) takes anything."""

    __slots__ = ("_fewest", "_most", "_signature")

    def __init__(self, fn: Callable[..., Any]) -> None:
        try:
            self._signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
            return
        params = list(self._signature.parameters.values())
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        required_keyword = any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in params)
        self._fewest = -1 if required_keyword else sum(1 for p in positional if p.default is p.empty)
        has_varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
        self._most = 1 << 30 if has_varargs else len(positional)

    def check(self, task: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise TypeError naming the task if a call with these arguments could never run."""
        if self._signature is None or (not kwargs and 0 <= self._fewest <= len(args) <= self._most):
            return
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"task {task!r} cannot take these arguments: {exc}") from None


ExceptionTypes = tuple[type[BaseException], ...]


def exception_types(rule: str, types: ExceptionTypes | None) -> ExceptionTypes | None:
    """`types` checked as a `retry_on` / `dont_retry_on` rule: a tuple of exception classes."""
    if types is None:
        return None
    if not isinstance(types, tuple) or not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in types
    ):
        raise TypeError(f"{rule} must be a tuple of exception classes, got {types!r}")
    return types


class Task(Generic[P, R]):
    """A declared function. Calling it runs it inline; `enqueue` runs it on a worker.

    `retry_on` (when given) lists the exceptions that may be retried, `dont_retry_on` those
    that may not: any other makes the job dead at once, whatever retries are left."""

    def __init__(
        self,
        app: Enqueuer,
        fn: Callable[P, R],
        name: str,
        options: JobOptions,
        *,
        retry_on: ExceptionTypes | None = None,
        dont_retry_on: ExceptionTypes = (),
    ) -> None:
        self.app = app
        self.fn = fn
        self.name = name
        self.defaults = options
        self.retry_on = exception_types("retry_on", retry_on)
        self.dont_retry_on = exception_types("dont_retry_on", dont_retry_on) or ()
        self.call_check = CallCheck(fn)
        #: `async def`: its jobs run on the worker's event loop (a decorated one too, if the
        #: decorator sets __wrapped__, as functools.wraps does)
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn))
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.defaults.queue}>"

    def retry_refusal(self, exc: BaseException) -> str | None:
        """Which rule makes `exc` dead without retrying, or None: it follows `retries`."""
        if isinstance(exc, self.dont_retry_on):
            return "in dont_retry_on"
        if self.retry_on is not None and not isinstance(exc, self.retry_on):
            return "not in retry_on"
        return None

    def job(self, *args: P.args, **kwargs: P.kwargs) -> JobSpec:
        """The job described, not checked: its arguments are bound when it is enqueued."""
        return JobSpec(self.name, args, kwargs, self.defaults)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        return self.app.enqueue(self.job(*args, **kwargs))

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        """`enqueue` from async code, without blocking the caller's event loop."""
        return await self.app.aenqueue(self.job(*args, **kwargs))

    def options(self, *, connection: Any = None, **overrides: Any) -> BoundOptions[P, R]:
        """Per-job overrides: queue, priority, retries, backoff, timeout, delay, eta, headers,
        expires, unique_key, unique_for, unique, group; and
        `connection`, your own open database transaction to enqueue in (see App.enqueue_many)."""
        return BoundOptions(self, self.defaults.with_overrides(overrides), connection)


class BoundOptions(Generic[P, R]):
    def __init__(self, task: Task[P, R], options: JobOptions, connection: Any = None) -> None:
        self.task = task
        self.options_ = options
        self.connection = connection

    def job(self, *args: P.args, **kwargs: P.kwargs) -> JobSpec:
        return JobSpec(self.task.name, args, kwargs, self.options_)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        return self.task.app.enqueue(self.job(*args, **kwargs), connection=self.connection)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        return await self.task.app.aenqueue(self.job(*args, **kwargs), connection=self.connection)
