"""Limits at claim with three real worker processes (a claim per worker, each with prefetch by
default) and a ledger the tasks write: the running jobs and the starts per window never exceed
the queue's limits, and with enough queued the rate is what the workers reach (>= 90%)."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for

from .conftest import EVERY_BACKEND, SQLITE_BY_DEFAULT, Lab

CONCURRENCY, RATE, PER_GROUP = 3, 20, 1
LIMITED_TASKS = f'''
import os
import time

import taskheap

app = taskheap.App()
app.queue("api", concurrency={CONCURRENCY}, rate="{RATE}/s", group_concurrency={PER_GROUP})
LEDGER = os.path.join(os.environ["TEST_OUT"], "ledger.log")


@app.task(name="call", queue="api")
def call(n, group, seconds):
    started = time.time()
    time.sleep(seconds)
    with open(LEDGER, "a") as f:
        f.write(f"{{n}} {{group}} {{started!r}} {{time.time()!r}}\\n")
'''
#: A start follows its claim within this (the claim's reply, a slot taking the job): a window of
#: one period less this, of the ledger's clock, holds starts of claims of one period at most.
START_LATENCY = 0.05


def run(lab: Lab, jobs: int, seconds: float) -> list[tuple[str, float, float]]:
    (lab.path / "limtasks.py").write_text(LIMITED_TASKS)
    tasks = lab.import_tasks("limtasks")
    tasks.app.admin.pause("api")  # until all three are up: none takes the first window alone
    groups = ["a", "b", None]
    tasks.app.enqueue_many(
        tasks.call.options(group=groups[n % 3]).job(n, groups[n % 3], seconds) for n in range(jobs)
    )
    workers = [lab.worker("-q", "api", "-c", "4", "--burst", app="limtasks:app") for _ in range(3)]
    wait_for(lambda: len(tasks.app.admin.workers()) == 3, what="three workers registered")
    tasks.app.admin.resume("api")
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.output()
    lines = (lab.path / "ledger.log").read_text().splitlines()
    assert len(lines) == jobs
    return [(group, float(start), float(end)) for _, group, start, end in (line.split() for line in lines)]


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:  # an end before a start at the same instant: (t, -1) sorts first
        running += step
        peak = max(peak, running)
    return peak


def check(ledger: list[tuple[str, float, float]]) -> None:
    assert most_at_once([(s, e) for _, s, e in ledger]) <= CONCURRENCY
    for group in ("a", "b"):
        assert most_at_once([(s, e) for g, s, e in ledger if g == group]) <= PER_GROUP
    starts = sorted(s for _, s, _ in ledger)
    for i, first in enumerate(starts):
        within = sum(1 for s in starts[i:] if s < first + 1.0 - START_LATENCY)
        assert within <= RATE, f"{within} starts within a second from {first}"
    span = starts[-1] - starts[0]
    assert len(starts) - RATE >= 0.9 * RATE * span, f"{len(starts)} starts in {span:.2f}s"


@SQLITE_BY_DEFAULT
def test_three_workers_keep_the_limits_and_reach_the_rate(lab: Lab) -> None:
    check(run(lab, jobs=3 * RATE, seconds=0.01))


@pytest.mark.slow
@pytest.mark.parametrize("backend_url", EVERY_BACKEND, indirect=True)
def test_three_workers_keep_the_limits_over_many_windows(lab: Lab) -> None:
    check(run(lab, jobs=10 * RATE, seconds=0.05))
