"""App: the task registry and the enqueue API. Owns one Backend, opened on first use."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ParamSpec, Protocol, TypeVar, overload

from .admin import Admin
from .backends import open_backend
from .backends.base import NewJob
from .backends.protocols import FullBackend, TransactionalEnqueue
from .backends.queue_limits import QueueLimits
from .clock import Clock, SystemClock
from .codec import DEFAULT_MAX_PAYLOAD, encode_meta, encode_payload
from .errors import ConfigError, UnknownTask
from .handle import JobHandle
from .job import IdGenerator, check_queue_name
from .middleware import Chain, Enqueueing, Middleware
from .retry import Backoff
from .schedule import MISFIRE_GRACE, Schedule, make_schedule
from .task import JobOptions, JobSpec, Task, derived_unique_key

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_URL = "sqlite:///taskheap.db"
DEFAULT_RESULT_TTL = 7 * 24 * 3600.0
DEFAULT_WORKER_TTL = 300.0


class TaskDecorator(Protocol):
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A queue's ranking rule and its limit. With `aging` (seconds), rank = enqueue time +
    priority × aging, so a job waiting `aging` seconds overtakes one a priority step better:
    nothing starves. With `max_length`, an enqueue that would take the queue past that many
    waiting jobs (queued, scheduled, retrying) is refused with QueueFull (backpressure)."""

    name: str
    aging: float | None = None
    max_length: int | None = None
    #: Limits the store enforces at claim (concurrency, rate, group_concurrency).
    limits: QueueLimits = field(default_factory=QueueLimits)

    def rank(self, priority: int, enqueued_at: float) -> float:
        if self.aging is None:
            return float(priority)
        return enqueued_at + priority * self.aging


_STRICT = QueueConfig("")  # the rule of every queue declared without aging

# What a job's options decide: queue, priority, rank, run_at, retries, stored backoff, timeout,
# expires_at, group.
_Shape = tuple[str, int, float, float | None, int, str | None, float | None, float | None, str | None]


@lru_cache(maxsize=256)
def _stored_backoff(backoff: Backoff) -> str | None:
    """What a job stores of its backoff: None for the default (one comparison per distinct policy)."""
    return None if backoff == Backoff() else backoff.to_json()


class App:
    def __init__(
        self,
        url: str | None = None,
        *,
        lease: float = 30.0,
        result_ttl: float = DEFAULT_RESULT_TTL,
        worker_ttl: float = DEFAULT_WORKER_TTL,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        clock: Clock | None = None,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        """`lease`: seconds a claimed job is a worker's without a heartbeat. `result_ttl`:
        seconds finished jobs (succeeded, cancelled) are kept. `worker_ttl`: seconds a worker
        that stopped sending heartbeats stays listed (as lost) before it is forgotten.
        `middleware`: hooks at each enqueue and around each run (taskheap.middleware)."""
        if lease <= 0:
            raise ValueError(f"lease must be > 0 seconds, got {lease}")
        if worker_ttl <= 0:
            raise ValueError(f"worker_ttl must be > 0 seconds, got {worker_ttl}")
        self._url = url
        self.lease = lease
        self.result_ttl = result_ttl
        self.worker_ttl = worker_ttl
        self.max_payload = max_payload
        self.middleware = Chain(middleware)
        self.clock = clock or SystemClock()  # enqueue times, and the labels of counted minutes
        self._explicit_clock = clock is not None
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.queues: dict[str, QueueConfig] = {}
        self.schedules: dict[str, Schedule] = {}  # name -> schedule, fired by every worker
        self._limits: dict[str, int] = {}  # queue -> max_length, of the queues declared with one
        self._ids = IdGenerator()
        self._backend: FullBackend | None = None
        self._backend_lock = threading.Lock()
        self._transaction: ContextVar[Any] = ContextVar(f"taskheap-transaction-{id(self)}", default=None)

    @property
    def url(self) -> str:
        """The explicit URL, else $TASKHEAP_URL, else the local SQLite file; read when used, so
        a module-level App picks up the environment of the process that uses it."""
        return self._url or os.environ.get("TASKHEAP_URL") or DEFAULT_URL

    @url.setter
    def url(self, value: str) -> None:
        if self._backend is not None:
            raise RuntimeError("the backend is already open: set the URL before first use")
        self._url = value

    def __repr__(self) -> str:
        return f"<App {self.url}>"

    @property
    def backend(self) -> FullBackend:
        if self._backend is None:
            with self._backend_lock:
                if self._backend is None:
                    backend = open_backend(self.url)
                    if self.declared_limits:
                        backend.declare_queues(self.declared_limits)
                    self._backend = backend
        return self._backend

    @property
    def declared_limits(self) -> dict[str, QueueLimits]:
        """The limits at claim of every queue declared with `app.queue`, the unlimited ones too:
        opening the App stores that they are (a limit removed from the code is cleared)."""
        return {name: config.limits for name, config in self.queues.items()}

    def store_time(self) -> float | None:
        """The `now` this App passes to every backend call that decides by time: the reading of
        the clock it was given, or None without one, so the store's own clock decides (one
        clock for every worker and producer; docs/architecture.md says which per backend)."""
        return self.clock.now() if self._explicit_clock else None

    @property
    def admin(self) -> Admin:
        return Admin(self.backend, self.store_time)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    # -- declaring ----------------------------------------------------------------------
    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...
    @overload
    def task(
        self,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int = 5,
        retries: int = 3,
        backoff: float | Backoff = 1.0,
        timeout: float | None = None,
        retry_on: tuple[type[BaseException], ...] | None = None,
        dont_retry_on: tuple[type[BaseException], ...] = (),
        unique_key: str | None = None,
        unique_for: float | None = None,
        unique: bool = False,
    ) -> TaskDecorator: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        queue: str = "default",
        priority: int = 5,
        retries: int = 3,
        backoff: float | Backoff = 1.0,
        timeout: float | None = None,
        retry_on: tuple[type[BaseException], ...] | None = None,
        dont_retry_on: tuple[type[BaseException], ...] = (),
        unique_key: str | None = None,
        unique_for: float | None = None,
        unique: bool = False,
    ) -> Any:
        """Declare a task. An exception it raises that is not in `retry_on` (when given), or
        is in `dont_retry_on`, makes the job dead at once, whatever retries are left."""
        options = JobOptions(
            queue,
            priority,
            retries,
            Backoff.coerce(backoff),
            timeout,
            unique_key=unique_key,
            unique_for=unique_for,
            unique=unique,
        )

        def register(fn: Callable[..., Any]) -> Task[Any, Any]:
            task_name = name or f"{fn.__module__}.{fn.__qualname__}"
            if task_name in self.tasks and self.tasks[task_name].fn is not fn:
                raise ValueError(f"task name {task_name!r} is already registered")
            task = Task(self, fn, task_name, options, retry_on=retry_on, dont_retry_on=dont_retry_on)
            self.tasks[task_name] = task
            return task

        return register(fn) if fn is not None else register

    def periodic(
        self,
        *,
        cron: str | None = None,
        every: float | None = None,
        tz: str | None = None,
        misfire_grace: float = MISFIRE_GRACE,
        **task_options: Any,
    ) -> Callable[[Callable[..., Any]], Task[Any, Any]]:
        """Declare a task (`task_options` as for `task`) and a schedule named after it."""

        def register(fn: Callable[..., Any]) -> Task[Any, Any]:
            task: Task[Any, Any] = self.task(**task_options)(fn)
            self.schedule(task, cron=cron, every=every, tz=tz, misfire_grace=misfire_grace)
            return task

        return register

    def schedule(
        self,
        task: Task[Any, Any],
        *,
        cron: str | None = None,
        every: float | None = None,
        tz: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
        misfire_grace: float = MISFIRE_GRACE,
    ) -> Schedule:
        """Fire `task` on a schedule: `cron` (5 fields, read in `tz`, default UTC) or `every`
        seconds (at the multiples of it since the epoch). A fire missed while no worker ran
        runs once if at most `misfire_grace` seconds late; older ones are skipped."""
        schedule_name = name or task.name
        if task.defaults.unique_key is not None or task.defaults.unique:
            raise ValueError(
                f"schedule {schedule_name!r}: task {task.name!r} declares a unique key; a scheduled"
                " task may not, each fire is unique under the key of its schedule and fire time"
            )
        if schedule_name in self.schedules:
            raise ValueError(f"schedule name {schedule_name!r} is already registered")
        schedule = make_schedule(
            task,
            name=schedule_name,
            cron=cron,
            every=every,
            tz=tz,
            args=args,
            kwargs=kwargs or {},
            misfire_grace=misfire_grace,
        )
        self.schedules[schedule_name] = schedule
        return schedule

    def queue(
        self,
        name: str,
        *,
        aging: float | None = None,
        max_length: int | None = None,
        concurrency: int | None = None,
        rate: str | None = None,
        group_concurrency: int | None = None,
    ) -> QueueConfig:
        """Configure a queue's ranking and limits. Every producer of that queue must declare the
        same config: the store enforces the `max_length` each producer passes with its enqueue
        (an enqueue from an App that did not declare it is not limited).

        `concurrency` (jobs running at once), `rate` (starts per period: "100/s", "600/m",
        "10000/h", a sliding window) and `group_concurrency` (jobs running per `group`) hold
        across every worker: opening the App stores them (the last App opened wins) and every
        claim enforces what the store holds; a worker whose App declares other limits than the
        stored ones logs a warning. A queue declared without limits is unlimited: opening the
        App clears limits stored for it (`taskheap queues limits NAME --clear` clears those of a
        queue no code declares any more)."""
        check_queue_name(name)
        limits = QueueLimits.declared(concurrency, rate, group_concurrency)
        if aging is not None and aging <= 0:
            raise ValueError(f"aging must be > 0 seconds, got {aging}")
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)):
            raise TypeError(f"max_length must be a whole number of jobs, got {max_length!r}")
        if max_length is not None and max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        config = QueueConfig(name, aging, max_length, limits)
        self.queues[name] = config
        if self._backend is not None:
            self._backend.declare_queues({name: limits})
        if max_length is None:
            self._limits.pop(name, None)
        else:
            self._limits[name] = max_length
        return config

    def task_named(self, name: str) -> Task[Any, Any]:
        """The task registered as `name`, or the one task whose name ends in `.name` (`add` for
        `tasks.add`); UnknownTask if there is none, or more than one."""
        if name in self.tasks:
            return self.tasks[name]
        fits = sorted(full for full in self.tasks if full.endswith("." + name))
        if len(fits) == 1:
            return self.tasks[fits[0]]
        if fits:
            raise UnknownTask(f"task name {name!r} is ambiguous: it could be {', '.join(fits)}")
        defined = ", ".join(sorted(self.tasks)) or "no tasks"
        raise UnknownTask(f"unknown task {name!r}; this app defines: {defined}")

    # -- enqueueing ---------------------------------------------------------------------
    def enqueue(self, spec: JobSpec, *, connection: Any = None) -> JobHandle:
        (handle,) = self.enqueue_many([spec], connection=connection)
        return handle

    def enqueue_many(self, specs: Iterable[JobSpec], *, connection: Any = None) -> list[JobHandle]:
        """Enqueue many jobs in one round trip; nothing is enqueued if any is invalid.

        With `connection` (or inside `app.transaction(connection)`), the jobs are inserted with
        that database connection in its open transaction: a psycopg connection for PostgreSQL,
        a sqlite3 connection to the same file for SQLite. They exist only if it commits.

        Arguments are bound against the signature of each task this App registers: a call that
        could never run raises TypeError, and nothing is enqueued (a task name this App does not
        register, as in a producer-only App, is enqueued unchecked).

        A queue declared with `max_length` (`app.queue`) that has no room for its jobs of the
        call raises QueueFull and nothing of the call is enqueued (on Redis, a call spanning
        queues is refused per queue: the error names the queues whose jobs went in).

        A job with a unique key (`unique_key`, `unique=True`) whose key is held in its queue is
        not enqueued: its handle is the holder's, `duplicate` True (also for a later job of the
        call with the key of an earlier one).
        """
        jobs = self._new_jobs(list(specs), self.clock.now())
        connection = self._transaction.get() if connection is None else connection
        if not jobs:
            return []
        limits = self._limits_of(jobs) if self._limits else None
        if connection is None:
            duplicates = self.backend.enqueue(jobs, limits or None, self.store_time())
        else:
            duplicates = self._transactional_backend().enqueue_in(
                connection, jobs, limits or None, self.store_time()
            )
        if not duplicates:
            return [JobHandle(self, job.id) for job in jobs]
        return [
            JobHandle(self, duplicates[job.id], True) if job.id in duplicates else JobHandle(self, job.id)
            for job in jobs
        ]

    async def aenqueue(self, spec: JobSpec, *, connection: Any = None) -> JobHandle:
        (handle,) = await self.aenqueue_many([spec], connection=connection)
        return handle

    async def aenqueue_many(self, specs: Iterable[JobSpec], *, connection: Any = None) -> list[JobHandle]:
        """`enqueue_many` from async code: its round trip runs in a thread (asyncio.to_thread),
        not on the caller's event loop. With a `connection` (or inside `app.transaction`) it
        runs in the calling thread, the connection's own (drivers' connections are not shared
        across threads): it then blocks the loop for the insert."""
        specs = list(specs)
        if connection is None and self._transaction.get() is None:
            return await asyncio.to_thread(self.enqueue_many, specs)
        return self.enqueue_many(specs, connection=connection)

    def _limits_of(self, jobs: list[NewJob]) -> dict[str, int]:
        """The max_length of each limited queue among the jobs' queues."""
        if len(jobs) == 1:  # one by one: no set built
            queue = jobs[0].queue
            return {queue: self._limits[queue]} if queue in self._limits else {}
        return {queue: self._limits[queue] for queue in {j.queue for j in jobs} if queue in self._limits}

    @contextmanager
    def transaction(self, connection: Any) -> Iterator[None]:
        """Within the block, every enqueue in this thread goes into `connection`'s transaction."""
        token = self._transaction.set(connection)
        try:
            yield
        finally:
            self._transaction.reset(token)

    def _transactional_backend(self) -> TransactionalEnqueue:
        backend = self.backend
        if not isinstance(backend, TransactionalEnqueue):
            raise ConfigError(
                f"{self.url.split(':', 1)[0]} cannot enqueue inside your own database transaction;"
                " use PostgreSQL or SQLite for that"
            )
        return backend

    def _new_jobs(self, specs: list[JobSpec], now: float) -> list[NewJob]:
        """The records to store; what a job's options decide is worked out once per options."""
        shapes: dict[int, _Shape] = {}
        jobs = []
        tasks = self.tasks
        bound: set[tuple[str, int]] = set()  # (task, positional count) of calls without kwargs that bind
        hooked = self.middleware.at_enqueue
        for spec, job_id in zip(specs, self._ids.new_many(len(specs)), strict=True):
            call = None if spec.kwargs else (spec.task, len(spec.args))
            if call is None or call not in bound:  # a bulk of one task checks its first job only
                task = tasks.get(spec.task)
                if task is not None:  # an error raised here leaves nothing stored: none is yet
                    task.call_check.check(spec.task, spec.args, spec.kwargs)
                if call is not None:
                    bound.add(call)
            o = spec.options
            shape = shapes.get(id(o))  # the specs hold their options alive: ids stay unique
            if shape is None:
                shape = shapes[id(o)] = self._shape(o, now)
            queue, priority, rank, run_at, retries, backoff, timeout, expires_at, group = shape
            payload = encode_payload(spec.task, spec.args, spec.kwargs, self.max_payload)
            meta = self._meta(spec, queue, priority) if hooked or o.headers else None
            key = derived_unique_key(spec.task, spec.args, spec.kwargs) if o.unique else o.unique_key
            jobs.append(
                NewJob(
                    job_id,
                    spec.task,
                    queue,
                    priority,
                    rank,
                    payload,
                    now,
                    run_at,
                    retries,
                    backoff,
                    timeout,
                    meta,
                    expires_at=expires_at,
                    unique_key=key,
                    unique_for=None if key is None or o.unique_for is None else float(o.unique_for),
                    group=group,
                )
            )
        return jobs

    def _meta(self, spec: JobSpec, queue: str, priority: int) -> str | None:
        """The job's meta: its headers, from its options and then the middleware's enqueue hooks."""
        job = Enqueueing(spec.task, queue, priority, spec.args, spec.kwargs, dict(spec.options.headers or {}))
        self.middleware.enqueue(job)
        return encode_meta(job.headers)

    def _shape(self, o: JobOptions, now: float) -> _Shape:
        rank = (self.queues.get(o.queue) or _STRICT).rank(o.priority, now)
        backoff = _stored_backoff(o.backoff)
        shape = (o.queue, o.priority, rank, o.run_at(now), o.retries, backoff, o.timeout, o.expires_at(now))
        return (*shape, o.group)

    # -- reading ------------------------------------------------------------------------
    def get_job(self, job_id: str) -> JobHandle:
        return JobHandle(self, job_id)

    def stats(self) -> dict[str, Any]:
        """Counts by queue and state, and the workers: the JSON of `taskheap status --json`."""
        return self.admin.stats()
