"""pytest fixtures for testing tasks, opt-in: enable with `-p taskheap.testing.pytest_plugin`
or `pytest_plugins = ["taskheap.testing.pytest_plugin"]` in a conftest.py.

- `taskheap_clock`: a FixedClock, moved only by the test (or by `drain`, to the next due job);
- `taskheap_app`: an App on a SQLite store of its own in the test's temporary directory, on
  that clock, closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..app import App
from ..clock import FixedClock


@pytest.fixture
def taskheap_clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def taskheap_app(tmp_path: Path, taskheap_clock: FixedClock) -> Iterator[App]:
    app = App(f"sqlite:///{tmp_path / 'taskheap.db'}", clock=taskheap_clock)
    yield app
    app.close()
