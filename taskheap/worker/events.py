"""What a worker says about its jobs and itself, at the levels `--log-level` picks (logs.py).

Info: the start banner, every failure with its error and what follows (a retry and when, or a
dead letter), every cancellation with its reason (and the jobs that expired unstarted), every
timeout, outcomes refused as stale, and a graceful stop's progress. Debug: each job's start and
success, and a failure's traceback (also stored with the job). Never a payload. The store's
outages are health.py's.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence

from ..backends.base import ClaimedJob, Expired, Failure
from ..logs import job_fields

log = logging.getLogger("taskheap.worker")


def started(worker_id: str, version: str, url: str, queues: Sequence[str], settings: str) -> None:
    log.info(
        "taskheap %s worker %s serving %s on %s (%s)", version, worker_id, ",".join(queues), url, settings
    )


def stopped(worker_id: str) -> None:
    log.info("worker %s stopped", worker_id)


def job_started(job: ClaimedJob) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug("job %s started (%s, attempt %d)", job.id, job.task, job.attempts, extra=job_fields(job))


def succeeded(jobs: Iterable[ClaimedJob]) -> None:
    if log.isEnabledFor(logging.DEBUG):
        for job in jobs:
            log.debug("job %s succeeded", job.id, extra=job_fields(job))


def failed(job: ClaimedJob, failure: Failure) -> None:
    """A failure the store accepted: retried (and when) or dead."""
    if failure.retry_in is None:
        log.warning(
            "job %s (%s) is dead after %d attempt(s): %s",
            job.id,
            job.task,
            job.attempts,
            failure.error,
            extra=job_fields(job, error=failure.error),
        )
    else:
        retry_at = dt.datetime.fromtimestamp(time.time() + failure.retry_in, dt.UTC)
        log.info(
            "job %s (%s) failed on attempt %d, retrying in %.1fs: %s",
            job.id,
            job.task,
            job.attempts,
            failure.retry_in,
            failure.error,
            extra=job_fields(job, error=failure.error, retry_at=retry_at.isoformat(timespec="seconds")),
        )
    if failure.traceback and log.isEnabledFor(logging.DEBUG):
        log.debug("traceback of job %s:\n%s", job.id, failure.traceback.rstrip(), extra=job_fields(job))


def cancelled(job: ClaimedJob, reason: str) -> None:
    """A cancellation the store accepted (the task raised Cancel, or the job expired)."""
    log.info(
        "job %s (%s) cancelled on attempt %d: %s",
        job.id,
        job.task,
        job.attempts,
        reason,
        extra=job_fields(job, error=reason),
    )


def expired(jobs: Sequence[Expired]) -> None:
    """Waiting jobs the maintenance cancelled: never started by their expiry."""
    log.info(
        "%d job(s) not started by their expiry, cancelled (expired): %s",
        len(jobs),
        ", ".join(job.id for job in jobs),
    )


def timed_out(job: ClaimedJob, action: str) -> None:
    log.info(
        "job %s (%s) ran past its %gs timeout: %s",
        job.id,
        job.task,
        job.timeout,
        action,
        extra=job_fields(job),
    )


def lost(ids: Iterable[str]) -> None:
    """Leases a heartbeat found gone: their jobs were taken over after expiry."""
    ids = sorted(ids)
    log.warning("lost the lease of %d job(s) (taken over after expiry): %s", len(ids), ", ".join(ids))


def refused(ids: Iterable[str]) -> None:
    """Outcomes the store refused: the heartbeat's "lost the lease" (`lost`), seen later."""
    ids = sorted(ids)
    log.warning(
        "lost the lease of %d job(s): their outcome was refused as stale (taken over after expiry): %s",
        len(ids),
        ", ".join(ids),
    )


def stopping(grace: float, given_back: int, running: Sequence[ClaimedJob]) -> None:
    if not (given_back or running):
        return
    log.info(
        "stopping: no new claims; %d unstarted job(s) given back; waiting up to %gs for %d running: %s",
        given_back,
        grace,
        len(running),
        ", ".join(f"{job.id} ({job.task})" for job in running) or "none",
    )


def still_waiting(left: float, running: Sequence[ClaimedJob]) -> None:
    log.info(
        "stopping: %.0fs of grace left for %d running job(s): %s",
        left,
        len(running),
        ", ".join(job.id for job in running),
    )


def grace_over(grace: float, running: Sequence[ClaimedJob]) -> None:
    log.warning(
        "stopping: the %gs grace is over; %d job(s) still running are failed as attempts: %s",
        grace,
        len(running),
        ", ".join(job.id for job in running),
    )
