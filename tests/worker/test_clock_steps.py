"""SQLite workers whose wall clocks are set apart, or step, under libfaketime (Debian's faketime):
leases, delays and rescues follow the store's clock (taskheap/backends/sqlite/clock.py), so no live
lease is rescued, no lease is born expired, no delay ends early.

The boot-time clock the store's clock runs on stays true under it (tests/faketime.py), as it does
through a real step.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from taskheap.backends.sqlite.clock import boot_id
from taskheap.job import JobState

from ..conftest import sqlite_url, wait_for
from ..faketime import faked_env
from ..faketime import libfaketime as find_libfaketime
from .conftest import Lab

LEASE = 3.0
JOB_SECONDS = 4.0  # longer than the lease: only heartbeats keep these jobs leased


@pytest.fixture
def libfaketime() -> str:
    if boot_id() is None:
        pytest.skip("no boot id or CLOCK_BOOTTIME here: the SQLite store's clock is the wall clock")
    return find_libfaketime()


@pytest.fixture
def clock_lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, sqlite_url(tmp_path), lease=LEASE)
    yield lab
    lab.close()


def started_once(lab: Lab, keys: list[str]) -> dict[str, int]:
    return {key: len(lab.marks(key + ".start")) for key in keys if len(lab.marks(key + ".start")) != 1}


@pytest.mark.parametrize("offset", ["+600", "-600"])
def test_a_worker_ten_minutes_off_takes_no_live_lease_and_promotes_nothing_early(
    clock_lab: Lab, libfaketime: str, offset: str
) -> None:
    """Ahead, its Rescuer used to see every other worker's lease as expired and its Promoter every
    delay as over; behind, its own leases were born expired for the others."""
    lab = clock_lab
    off = lab.worker("--concurrency", "2", env=faked_env(lab.path, libfaketime, FAKETIME=offset))
    true = lab.worker("--concurrency", "2")
    keys = [f"long-{n}" for n in range(4)]
    long_jobs = [lab.tasks.sleepy.enqueue(key, JOB_SECONDS) for key in keys]
    delayed = [lab.tasks.add.options(delay=60).enqueue(n, 1) for n in range(3)]
    for handle in long_jobs:
        assert handle.result(timeout=60) is not None
    assert started_once(lab, keys) == {}
    assert [h.info().attempts for h in long_jobs] == [1] * 4
    assert {h.status() for h in delayed} == {JobState.SCHEDULED}
    assert "off the SQLite store's" in off.output(), off.output()
    assert "off the SQLite store's" not in true.output()


def test_a_step_of_every_workers_wall_clock_mid_run_moves_no_lease_or_delay(
    clock_lab: Lab, libfaketime: str
) -> None:
    """One host's clock jumping ten minutes ahead while jobs run: every lease used to expire at once
    and every worker rescued the others' running jobs."""
    lab = clock_lab
    offset_file = lab.path / "faketime-offset"
    offset_file.write_text("+0\n")
    env = faked_env(lab.path, libfaketime, FAKETIME_TIMESTAMP_FILE=str(offset_file), FAKETIME_NO_CACHE="1")
    workers = [lab.worker("--concurrency", "2", env=env) for _ in range(2)]
    keys = [f"stepped-{n}" for n in range(4)]
    long_jobs = [lab.tasks.sleepy.enqueue(key, JOB_SECONDS) for key in keys]
    delayed = [lab.tasks.add.options(delay=60).enqueue(n, 1) for n in range(3)]
    wait_for(lambda: all(lab.marks(key + ".start") for key in keys), timeout=30, what="every job to start")
    offset_file.write_text("+600\n")
    for handle in long_jobs:
        assert handle.result(timeout=60) is not None
    assert started_once(lab, keys) == {}
    assert [h.info().attempts for h in long_jobs] == [1] * 4
    assert {h.status() for h in delayed} == {JobState.SCHEDULED}
    wait_for(
        lambda: all("+600.0 s off the SQLite store's" in w.output() for w in workers),
        what="each worker to tell of the step",
    )
