"""Middleware on every backend, run by `taskheap.testing.drain` (the real Worker, codec and
store, in this process): headers stored at enqueue and read by the run and the admin views,
refusals, the run hooks' order and context, and hooks that fail."""

from __future__ import annotations

import contextvars
import logging
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import taskheap
from taskheap import Enqueueing, JobContext, Middleware, RunResult, current_job
from taskheap.clock import FixedClock
from taskheap.job import JobState
from taskheap.middleware.correlation import CorrelationId
from taskheap.middleware.slow_runs import SlowRuns
from taskheap.testing import drain, enqueued

MakeApp = Callable[..., taskheap.App]


@pytest.fixture
def make_app(backend_url: str, clock: FixedClock) -> Iterator[MakeApp]:
    apps: list[taskheap.App] = []

    def make(*middleware: Middleware) -> taskheap.App:
        apps.append(taskheap.App(backend_url, clock=clock, middleware=list(middleware)))
        return apps[-1]

    yield make
    for app in apps:
        app.close()


class Tenant(Middleware):
    """Stamps each job with a tenant, and refuses jobs for a blocked one."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def enqueue(self, job: Enqueueing) -> None:
        self.seen.append(dict(job.headers))
        if job.kwargs.get("tenant") == "blocked":
            raise PermissionError(f"tenant blocked, refusing {job.task}")
        job.headers["tenant"] = job.kwargs.get("tenant", "none")


def test_headers_are_stored_with_the_job_and_read_by_its_run(make_app: MakeApp) -> None:
    tenant = Tenant()
    app = make_app(tenant)
    seen: list[dict[str, Any]] = []

    @app.task
    def bill(*, tenant: str) -> None:
        seen.append(current_job().headers)

    plain = bill.enqueue(tenant="acme")
    traced = bill.options(headers={"trace": "t-1"}).enqueue(tenant="initech")

    assert tenant.seen == [{}, {"trace": "t-1"}]  # the hook sees the job's own headers first
    assert plain.info().headers == {"tenant": "acme"}
    assert traced.info().headers == {"trace": "t-1", "tenant": "initech"}
    assert drain(app) == {"succeeded": 2}
    assert sorted(seen, key=len) == [{"tenant": "acme"}, {"trace": "t-1", "tenant": "initech"}]


def test_a_refusing_enqueue_hook_stores_nothing_of_the_call(make_app: MakeApp) -> None:
    app = make_app(Tenant())
    bill = app.task(name="bill")(lambda *, tenant: None)

    with pytest.raises(PermissionError, match="tenant blocked, refusing bill"):
        app.enqueue_many([bill.job(tenant="a"), bill.job(tenant="blocked"), bill.job(tenant="b")])
    with pytest.raises(TypeError, match="job headers must be JSON-serializable"):
        bill.options(headers={"at": object()}).enqueue(tenant="a")
    with pytest.raises(TypeError, match="headers must be a mapping"):
        bill.options(headers=["not", "a", "mapping"]).enqueue(tenant="a")

    assert enqueued(app) == []


class Recorder(Middleware):
    def __init__(self, name: str, log: list[tuple[Any, ...]], var: contextvars.ContextVar[str]) -> None:
        self.name, self.log, self.var = name, log, var

    def before_run(self, job: JobContext) -> None:
        self.var.set(f"set by {self.name}")
        self.log.append(("before", self.name, job.task, job.attempt))

    def after_run(self, job: JobContext, result: RunResult) -> None:
        error = None if result.exception is None else type(result.exception).__name__
        self.log.append(("after", self.name, result.ok, result.value, error, self.var.get()))
        assert result.seconds >= 0


def test_run_hooks_wrap_each_run_in_its_context_before_in_order_after_in_reverse(make_app: MakeApp) -> None:
    log: list[tuple[Any, ...]] = []
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var")
    app = make_app(Recorder("outer", log, var), Recorder("inner", log, var))

    @app.task(retries=1, backoff=0.0)
    def flaky() -> int:
        log.append(("task", var.get()))
        if current_job().attempt == 1:
            raise taskheap.Retry(delay=5)
        return 42

    flaky.enqueue()
    assert drain(app) == {"succeeded": 1}

    assert log == [
        ("before", "outer", flaky.name, 1),
        ("before", "inner", flaky.name, 1),
        ("task", "set by inner"),
        ("after", "inner", False, None, "Retry", "set by inner"),
        ("after", "outer", False, None, "Retry", "set by inner"),
        ("before", "outer", flaky.name, 2),
        ("before", "inner", flaky.name, 2),
        ("task", "set by inner"),
        ("after", "inner", True, 42, None, "set by inner"),
        ("after", "outer", True, 42, None, "set by inner"),
    ]


class Broken(Middleware):
    def before_run(self, job: JobContext) -> None:
        raise RuntimeError("before is broken")

    def after_run(self, job: JobContext, result: RunResult) -> None:
        raise RuntimeError("after is broken")


def test_a_failing_run_hook_is_logged_and_the_job_settles_as_without_it(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(Broken())

    @app.task(retries=1, backoff=0.0)
    def fails_once() -> str:
        if current_job().attempt == 1:
            raise ConnectionError("first run fails")
        return "ok"

    add = app.task(name="add")(lambda x, y: x + y)
    handles = [fails_once.enqueue(), add.enqueue(1, 2)]

    with caplog.at_level(logging.ERROR, logger="taskheap.middleware"):
        assert drain(app) == {"succeeded": 2}

    assert handles[0].info().attempts == 2
    assert handles[0].info().failed_attempts[0].error == "ConnectionError: first run fails"
    assert handles[1].result(timeout=5) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("middleware Broken failed before job" in m for m in messages) == 3
    assert sum("middleware Broken failed after job" in m for m in messages) == 3


class Gate(Middleware):
    """Snoozes each job's first run: before_run decides it without running the task."""

    def __init__(self) -> None:
        self.turned_back: set[str] = set()

    def before_run(self, job: JobContext) -> None:
        if job.id not in self.turned_back:
            self.turned_back.add(job.id)
            raise taskheap.Snooze(60)


def test_before_run_may_decide_the_job_without_running_it(make_app: MakeApp) -> None:
    app = make_app(Gate())
    runs: list[int] = []

    @app.task
    def work() -> None:
        runs.append(current_job().attempt)

    handle = work.enqueue()
    assert drain(app) == {"succeeded": 1}
    assert runs == [1]  # snoozed unrun: the attempt was not spent
    assert handle.info().failed_attempts == []


class Obsolete(Middleware):
    """Cancels the jobs of a retired tenant before they run."""

    def before_run(self, job: JobContext) -> None:
        if job.headers.get("tenant") == "retired":
            raise taskheap.Cancel("tenant retired")


def test_before_run_may_cancel_the_job_unrun_with_its_reason(make_app: MakeApp) -> None:
    app = make_app(Tenant(), Obsolete())
    runs: list[str] = []

    @app.task
    def work(tenant: str) -> None:
        runs.append(tenant)

    retired, kept = work.enqueue(tenant="retired"), work.enqueue(tenant="kept")
    assert drain(app) == {"cancelled": 1, "succeeded": 1}
    assert runs == ["kept"]
    info = retired.info()
    assert (info.status, info.error, info.failed_attempts) == (JobState.CANCELLED, "tenant retired", [])
    assert kept.status() == JobState.SUCCEEDED


def test_correlation_id_follows_a_job_into_the_jobs_it_enqueues(make_app: MakeApp) -> None:
    app = make_app(CorrelationId())

    @app.task
    def child() -> None:
        pass

    @app.task
    def parent() -> None:
        child.enqueue()

    root = parent.enqueue()
    given = parent.options(headers={"correlation_id": "req-7"}).enqueue()
    drain(app)

    by_parent = {j.headers["enqueued_by"]: j.headers for j in enqueued(app, task=child)}
    assert len(root.info().headers["correlation_id"]) == 32
    assert by_parent[root.id]["correlation_id"] == root.info().headers["correlation_id"]
    assert by_parent[given.id]["correlation_id"] == "req-7"


def test_slow_runs_are_warned_of_with_the_job_and_its_time(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(SlowRuns(0.05))
    fast = app.task(name="fast")(lambda: None)

    @app.task(name="slow")
    def slow() -> None:
        import time

        time.sleep(0.06)

    slow_job, _ = slow.enqueue(), fast.enqueue()
    with caplog.at_level(logging.WARNING, logger="taskheap.middleware"):
        drain(app)
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "taskheap.middleware"]
    assert warning.startswith(f"slow run: job {slow_job.id} (slow, attempt 1) ran 0.")
    assert warning.endswith("over 0.05s, and returned")


def test_middleware_must_be_middleware() -> None:
    with pytest.raises(TypeError, match=r"middleware must be taskheap\.Middleware instances"):
        taskheap.App("sqlite:///unused.db", middleware=[object()])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="SlowRuns needs seconds > 0"):
        SlowRuns(0)


def test_a_job_whose_stored_meta_is_malformed_is_dead_with_the_reason(tmp_path: Any) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db", clock=FixedClock())
    seen = app.task(name="seen")(lambda: current_job().headers)
    handles = [seen.options(headers={"a": 1}).enqueue() for _ in range(3)]
    with sqlite3.connect(tmp_path / "jobs.db") as db:
        db.execute("UPDATE jobs SET meta = ? WHERE id = ?", ('{"headers": [1]}', handles[0].id))
        db.execute("UPDATE jobs SET meta = ? WHERE id = ?", ("{not json", handles[1].id))
    db.close()

    assert drain(app) == {"dead": 2, "succeeded": 1}
    assert handles[0].info().error == "malformed meta: 'headers' must be an object"
    assert handles[1].info().error.startswith("malformed meta: not JSON")
    assert handles[0].info().status is JobState.DEAD and handles[1].info().headers == {}
    assert handles[2].result(timeout=1) == {"a": 1}
    app.close()
