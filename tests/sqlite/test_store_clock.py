"""The SQLite store's clock: anchored once per boot of the host, shared by every process on the file,
moved by no wall-clock step (taskheap/backends/sqlite/clock.py). The workers under stepped clocks
are in tests/worker/test_clock_steps.py."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

import taskheap
from taskheap.backends.sqlite import SQLiteBackend
from taskheap.backends.sqlite.clock import boot_id, boot_time

pytestmark = pytest.mark.skipif(
    boot_id() is None, reason="no boot id or CLOCK_BOOTTIME here: the wall clock decides"
)


def opened(path: Path) -> SQLiteBackend:
    backend = SQLiteBackend(f"sqlite:///{path}")
    backend.migrate()
    return backend


def set_anchor(path: Path, boot: str, offset: float, anchored_at: float) -> None:
    """What the clock table holds, written as a previous boot (or a step) left it."""
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT OR REPLACE INTO clock VALUES (1, ?, ?, ?)", (boot, offset, anchored_at))


def test_every_backend_on_the_file_in_this_boot_reads_one_anchor(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    first, second = opened(path), opened(path)
    before = time.time()
    assert abs(first.store_clock().now() - before) < 0.5
    assert second.store_clock().offset == first.store_clock().offset
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT boot_id FROM clock").fetchall() == [(boot_id(),)]
    first.close()
    second.close()


def test_a_new_boot_anchors_again_never_below_the_old_reading_and_old_leases_run_out(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    app = taskheap.App(f"sqlite:///{path}")

    @app.task(name="noop")
    def noop() -> None: ...

    handle = noop.enqueue()
    (claimed,) = app.backend.claim(["default"], "w", 1, 30.0)
    assert claimed.id == handle.id and app.backend.expired(10) == []
    # The boot before ran its store's clock to 100 s past this host's wall clock now.
    ahead = time.time() + 100
    set_anchor(path, "an-earlier-boot", ahead - 1e6, ahead)
    app.close()

    rebooted = opened(path)
    assert rebooted.store_clock().now() >= ahead
    assert [job.id for job in rebooted.expired(10)] == [handle.id]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT boot_id FROM clock").fetchall() == [(boot_id(),)]
    rebooted.close()


def test_after_a_wall_clock_step_delays_count_from_the_stores_clock_and_the_step_is_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "jobs.db"
    opened(path).close()
    # As if this host's wall clock had stepped 600 s ahead after the store took its anchor.
    store_now = time.time() - 600
    set_anchor(path, str(boot_id()), store_now - boot_time(), store_now)
    app = taskheap.App(f"sqlite:///{path}")

    @app.task(name="later")
    def later() -> None: ...

    with caplog.at_level(logging.WARNING, logger="taskheap.sqlite"):
        handle = later.options(delay=5).enqueue()
    record = app.backend.get(handle.id)
    assert record is not None and record.run_at is not None
    assert abs(record.enqueued_at - store_now) < 5 and abs(record.run_at - (store_now + 5)) < 5
    assert app.backend.promote_due() == 0 and app.backend.claim(["default"], "w", 1, 30.0) == []
    assert "+600" in caplog.text and "off the SQLite store's" in caplog.text
    assert [line for line in app.stats()["warnings"] if "sqlite-clock-step" in line]
    app.close()


def test_migrate_anchors_so_no_later_call_needs_the_write_lock_for_it(tmp_path: Path) -> None:
    """Anchoring a new boot writes; done lazily, the first call needing the time inside a
    caller's write transaction (`status` within `app.transaction(conn)`) waited for that
    transaction's lock for the whole busy timeout."""
    path = tmp_path / "jobs.db"
    opened(path).close()
    set_anchor(path, "an-earlier-boot", 0.0, 0.0)
    caller = sqlite3.connect(path, isolation_level=None)
    app = taskheap.App(f"sqlite:///{path}?timeout=0.2")
    assert app.backend.path == str(path)  # type: ignore[attr-defined]  # opening migrates and anchors
    caller.execute("BEGIN IMMEDIATE")  # the caller's transaction holds the write lock from here
    with app.transaction(caller):
        assert not [w for w in app.stats()["warnings"] if "SQLite database" in w]
        assert app.backend.store_clock().offset is not None  # type: ignore[attr-defined]
    caller.execute("ROLLBACK")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT boot_id FROM clock").fetchall() == [(boot_id(),)]
    app.close()
