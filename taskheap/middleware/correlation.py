"""CorrelationId: the jobs one request (or one job) caused, found by one id."""

from __future__ import annotations

import uuid

from ..context import current_job
from . import Enqueueing, Middleware


class CorrelationId(Middleware):
    """Gives every job the header `correlation_id`: the running job's when it is enqueued from
    inside one (so a job and all it enqueues, transitively, share it), else a new one; and
    `enqueued_by`, the id of that running job. A job enqueued with the header set keeps it
    (pass a web request's id, say)."""

    def __init__(self, header: str = "correlation_id") -> None:
        self.header = header

    def enqueue(self, job: Enqueueing) -> None:
        if self.header in job.headers:
            return
        try:
            parent = current_job()
        except LookupError:
            job.headers[self.header] = uuid.uuid4().hex
            return
        job.headers[self.header] = parent.headers.get(self.header, parent.id)
        job.headers["enqueued_by"] = parent.id
