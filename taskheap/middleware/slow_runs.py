"""SlowRuns: a warning for each run that took longer than it should."""

from __future__ import annotations

import logging

from ..context import JobContext
from . import Middleware, RunResult

log = logging.getLogger("taskheap.middleware")


class SlowRuns(Middleware):
    """Logs a warning (logger `taskheap.middleware`) naming the job, its task and how long it
    ran, for each run of at least `seconds`, whatever its outcome."""

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"SlowRuns needs seconds > 0, got {seconds!r}")
        self.seconds = seconds

    def after_run(self, job: JobContext, result: RunResult) -> None:
        if result.seconds >= self.seconds:
            outcome = "returned" if result.ok else f"raised {type(result.exception).__name__}"
            log.warning(
                "slow run: job %s (%s, attempt %d) ran %.3fs, over %gs, and %s",
                job.id,
                job.task,
                job.attempt,
                result.seconds,
                self.seconds,
                outcome,
            )
