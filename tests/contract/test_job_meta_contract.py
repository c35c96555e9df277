"""The backend contract for a job's meta (a JSON object as text, None when the job has none): it
comes back verbatim from claim, expired, get and list_jobs on every backend."""

from __future__ import annotations

from dataclasses import replace

import taskheap
from taskheap.backends.base import JobQuery
from taskheap.clock import FixedClock

LEASE = 30.0
META = '{"headers": {"traceparent": "00-ab-cd-01"},\n "sig": "\\"é\\\\"}'  # quotes, \, é, a newline


def enqueue_with_and_without_meta(app: taskheap.App, clock: FixedClock) -> dict[str, str | None]:
    """Two jobs straight through the backend, the first with meta; their id -> meta."""

    @app.task(name="echo")
    def echo(x: object) -> object:
        return x

    with_meta, without = app._new_jobs([echo.job(1), echo.job(2)], clock.now())
    app.backend.enqueue([replace(with_meta, meta=META), without])
    return {with_meta.id: META, without.id: None}


def test_meta_comes_back_from_claim_get_and_list_jobs(app: taskheap.App, clock: FixedClock) -> None:
    metas = enqueue_with_and_without_meta(app, clock)
    claimed = app.backend.claim(["default"], "w1", 10, LEASE, now=clock.now())
    assert {job.id: job.meta for job in claimed} == metas
    got = [app.backend.get(job_id) for job_id in metas]
    assert {record.id: record.meta for record in got if record is not None} == metas
    assert {record.id: record.meta for record in app.backend.list_jobs(JobQuery())} == metas


def test_meta_comes_back_from_a_claim_of_jobs_already_queued(app: taskheap.App, clock: FixedClock) -> None:
    metas = enqueue_with_and_without_meta(app, clock)
    assert app.backend.counts()["default"]["queued"] == 2  # read first: the jobs wait in the queue
    claimed = app.backend.claim(["default"], "w1", 10, LEASE, now=clock.now())
    assert {job.id: job.meta for job in claimed} == metas


def test_meta_comes_back_from_expired_after_the_lease(app: taskheap.App, clock: FixedClock) -> None:
    metas = enqueue_with_and_without_meta(app, clock)
    app.backend.claim(["default"], "w1", 10, LEASE, now=clock.now())
    assert app.backend.expired(10, now=clock.now()) == []
    clock.advance(LEASE + 1)
    assert {job.id: job.meta for job in app.backend.expired(10, now=clock.now())} == metas
