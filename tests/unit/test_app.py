from __future__ import annotations

from pathlib import Path

import pytest

import taskheap


def test_plain_call_runs_inline_and_touches_no_backend(tmp_path: Path) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/never.db")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    assert add(1, 2) == 3
    assert not (tmp_path / "never.db").exists()


def test_bare_and_configured_decorators_register_tasks() -> None:
    app = taskheap.App("sqlite:///unused.db")

    @app.task
    def one() -> None: ...

    @app.task(name="custom", queue="mail", priority=2, retries=0, backoff=taskheap.Backoff(0.5))
    def two() -> None: ...

    assert set(app.tasks) == {
        f"{__name__}.test_bare_and_configured_decorators_register_tasks.<locals>.one",
        "custom",
    }
    assert two.defaults.queue == "mail" and two.defaults.backoff.base == 0.5


def test_url_defaults_to_env_then_local_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKHEAP_URL", raising=False)
    assert taskheap.App().url == "sqlite:///taskheap.db"
    monkeypatch.setenv("TASKHEAP_URL", "sqlite:///other.db")
    assert taskheap.App().url == "sqlite:///other.db"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "unknown backend URL"),
        ("sqlite:///:memory:", "name a database file"),
        ("sqlite:///no/such/dir/x.db", "does not exist"),
        ("sqlite://host/x.db", "bad SQLite URL"),
    ],
)
def test_bad_urls_give_clear_errors(url: str, message: str) -> None:
    app = taskheap.App(url)
    with pytest.raises(taskheap.ConfigError, match=message):
        app.stats()


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(taskheap.BackendError, match=r"junk\.db"):
        taskheap.App(f"sqlite:///{tmp_path}/junk.db").stats()


def test_invalid_options_are_refused_at_once() -> None:
    app = taskheap.App("sqlite:///unused.db")

    @app.task
    def f() -> None: ...

    with pytest.raises(ValueError, match=r"0\.\.1000"):
        f.options(priority=5000)
    with pytest.raises(TypeError, match="unknown job option"):
        f.options(prio=1)
    with pytest.raises(ValueError, match="delay or eta"):
        import datetime as dt

        f.options(delay=1, eta=dt.datetime.now())
    with pytest.raises(ValueError):
        app.queue("q", aging=0)
    with pytest.raises(ValueError, match="max_length must be >= 1"):
        app.queue("q", max_length=0)
    with pytest.raises(TypeError, match="whole number"):
        app.queue("q", max_length=2.5)  # type: ignore[arg-type]


def test_a_queue_declared_again_without_max_length_is_no_longer_limited(tmp_path: Path) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db")
    echo = app.task(name="echo")(lambda x: x)
    app.queue("default", max_length=1)
    echo.enqueue(0)
    with pytest.raises(taskheap.QueueFull):
        echo.enqueue(1)
    app.queue("default")
    echo.enqueue(1)
    assert app.queues["default"] == taskheap.QueueConfig("default")
    app.close()


def test_queue_full_survives_pickling_with_its_fields() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(taskheap.QueueFull("q", 5, 5, 2, ("other",))))
    assert (error.queue, error.max_length, error.waiting, error.adding, error.enqueued_queues) == (
        "q",
        5,
        5,
        2,
        ("other",),
    )
    assert "the call's jobs for 'other' were enqueued" in str(error)
