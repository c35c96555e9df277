"""The opt-in pytest plugin, as a user's test suite enables it: a pytest run of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USERS_TESTS = """
import taskheap
from taskheap.testing import drain, enqueued


def test_backoff_on_the_fixture_clock(taskheap_app, taskheap_clock):
    assert taskheap_app.clock is taskheap_clock
    tries = []

    @taskheap_app.task(retries=2, backoff=taskheap.Backoff(base=300.0, jitter=False))
    def flaky():
        tries.append(taskheap_clock.now())
        if len(tries) < 3:
            raise ConnectionError("down")

    flaky.enqueue()
    assert drain(taskheap_app) == {"succeeded": 1}
    assert [t - tries[0] for t in tries] == [0.0, 300.0, 900.0]


def test_each_test_has_a_store_of_its_own(taskheap_app, tmp_path):
    assert enqueued(taskheap_app) == []
    assert str(tmp_path) in taskheap_app.url
"""


def pytest_run(directory: Path, *options: str) -> subprocess.CompletedProcess[str]:
    (directory / "test_users_tasks.py").write_text(USERS_TESTS)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "test_users_tasks.py"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_plugin_gives_each_test_an_app_on_a_temporary_store(tmp_path: Path) -> None:
    run = pytest_run(tmp_path, "-p", "taskheap.testing.pytest_plugin")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_the_plugin_is_off_unless_enabled(tmp_path: Path) -> None:
    run = pytest_run(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "fixture 'taskheap_app' not found" in run.stdout
