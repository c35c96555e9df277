"""What enqueue refuses before anything is stored: arguments that could never bind to the task's
signature, and queue names no worker could serve; and how a short task name resolves."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

import taskheap
from taskheap.job import JobState
from taskheap.task import JobOptions


@pytest.fixture
def app(tmp_path: Path) -> taskheap.App:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db")
    yield app  # type: ignore[misc]
    app.close()


def stored(app: taskheap.App) -> int:
    return sum(app.admin.counts().get("default", {}).values())


def test_a_call_that_could_never_run_raises_type_error_at_enqueue_and_stores_nothing(
    app: taskheap.App,
) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    add.enqueue(1, 2)
    for args, kwargs, says in [
        ((1,), {}, "missing a required argument: 'y'"),
        ((1, 2, 3), {}, "too many positional arguments"),
        ((1,), {"y": 2, "z": 3}, "got an unexpected keyword argument 'z'"),
        ((1, 2), {"x": 2}, "multiple values for argument 'x'"),
    ]:
        with pytest.raises(TypeError, match=rf"task '.*add' cannot take these arguments: {re.escape(says)}"):
            add.enqueue(*args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot take these arguments"):
        add.options(priority=1).enqueue(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="cannot take these arguments"):  # one bad job: none stored
        app.enqueue_many([add.job(1, 2), add.job(3, 4), add.job(5)])  # type: ignore[call-arg]
    assert stored(app) == 1


def test_every_kind_of_parameter_binds_as_a_call_would(app: taskheap.App) -> None:
    @app.task
    def flexible(a: int, /, b: int = 0, *rest: int, c: int, d: int = 1, **extra: Any) -> None: ...

    ok: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((1,), {"c": 3}),
        ((1, 2, 3, 4), {"c": 3, "e": 5}),
        ((1,), {"b": 2, "c": 3, "d": 4}),
    ]
    for args, kwargs in ok:
        flexible.enqueue(*args, **kwargs)
    for args, kwargs in [((1,), {}), ((), {"a": 1, "c": 3})]:  # c is required; a is positional-only
        with pytest.raises(TypeError, match="cannot take these arguments"):
            flexible.enqueue(*args, **kwargs)
    assert stored(app) == len(ok)


def test_describing_a_job_checks_nothing_and_an_unregistered_name_is_enqueued_unchecked(
    app: taskheap.App,
) -> None:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    spec = add.job(1)  # type: ignore[call-arg]  # a workflow step may get its argument later
    assert spec.args == (1,)
    producer_only = taskheap.JobSpec("elsewhere.defined", (1, 2, 3), {}, add.defaults)
    (handle,) = app.enqueue_many([producer_only])
    assert handle.status() == JobState.QUEUED


def test_a_function_without_a_readable_signature_takes_anything(app: taskheap.App) -> None:
    task = app.task(name="builtin")(max)  # inspect.signature(max) has none to give
    task.enqueue(1, 2, 3)
    assert stored(app) == 1


@pytest.mark.parametrize("name", ["", "a,b", "a/b", "with space", "é", "x" * 65])
def test_queue_names_no_worker_could_serve_are_refused(app: taskheap.App, name: str) -> None:
    @app.task
    def f() -> None: ...

    with pytest.raises(ValueError, match=r"queue name .* is not valid"):
        f.options(queue=name).enqueue()
    with pytest.raises(ValueError, match=r"queue name .* is not valid"):
        app.queue(name)
    with pytest.raises(ValueError, match=r"queue name .* is not valid"):
        app.task(queue=name)(lambda: None)
    for fine in ("mail", "a.b:c_d-1", "x" * 64):
        f.options(queue=fine).enqueue()


def test_a_short_task_name_resolves_when_only_one_task_ends_with_it(app: taskheap.App) -> None:
    app.task(name="tasks.add")(lambda: None)
    app.task(name="billing.charge")(lambda: None)
    app.task(name="mail.charge")(lambda: None)
    assert app.task_named("add").name == "tasks.add"
    assert app.task_named("tasks.add").name == "tasks.add"
    with pytest.raises(taskheap.UnknownTask) as ambiguous:
        app.task_named("charge")
    assert str(ambiguous.value) == "task name 'charge' is ambiguous: it could be billing.charge, mail.charge"
    with pytest.raises(taskheap.UnknownTask) as unknown:
        app.task_named("ad")
    assert str(unknown.value) == "unknown task 'ad'; this app defines: billing.charge, mail.charge, tasks.add"


def test_an_expiry_is_seconds_from_enqueue_or_the_instant_of_a_datetime() -> None:
    naive = dt.datetime(2030, 1, 2, 3, 4, 5)
    aware = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert JobOptions(expires=90).expires_at(1000.0) == 1090.0
    assert JobOptions(expires=naive).expires_at(1000.0) == naive.timestamp(), "local time, as eta"
    assert JobOptions(expires=aware).expires_at(1000.0) == aware.timestamp()
    assert JobOptions().expires_at(1000.0) is None
