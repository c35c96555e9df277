"""JobHandle: a job id plus where to ask about it (the App, through the admin API)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from .admin import Admin
from .backends.base import JobRecord
from .codec import decode_result
from .errors import JobCancelled, JobFailed, JobNotFound
from .job import JobInfo, JobState


class AdminSource(Protocol):
    """What a handle asks (an App): the admin API over its store, opened on first use."""

    @property
    def admin(self) -> Admin: ...


class JobHandle:
    __slots__ = ("app", "duplicate", "id")

    def __init__(self, app: AdminSource, job_id: str, duplicate: bool = False) -> None:
        self.app = app
        self.id = job_id
        #: True when the enqueue that made this handle found an existing job with the same unique
        #: key and enqueued nothing: `id` is that job's.
        self.duplicate = duplicate

    def __repr__(self) -> str:
        return f"<JobHandle {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobHandle) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def info(self) -> JobInfo:
        return self.app.admin.job(self.id)

    def status(self) -> str:
        return str(self.info().status)

    def cancel(self) -> bool:
        """Cancel the job if it has not started; if it is running, store a cancel request its
        worker acts on within about a second (`current_job().cancelled`). True for either,
        False if it had finished already."""
        return self.app.admin.cancel(self.id)

    def result(self, timeout: float | None = None, poll: float = 0.005) -> Any:
        """Wait for the job to finish; its return value, JobFailed if dead, JobCancelled
        (naming the reason, if any) if cancelled, TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        admin = self.app.admin
        while True:
            record = admin.record(self.id)
            if (succeeded := self._succeeded(record, deadline, timeout)) is not None:
                return decode_result(succeeded.result)
            time.sleep(poll)
            poll = min(poll * 1.5, 0.1)

    async def aresult(self, timeout: float | None = None, poll: float = 0.005) -> Any:
        """`result` from async code: each read of the store runs in a thread (asyncio.to_thread)
        and the waits between them are `asyncio.sleep`, so the caller's loop is never blocked."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = await asyncio.to_thread(self._record)
            if (succeeded := self._succeeded(record, deadline, timeout)) is not None:
                return decode_result(succeeded.result)
            await asyncio.sleep(poll)
            poll = min(poll * 1.5, 0.1)

    def _record(self) -> JobRecord | None:
        return self.app.admin.record(self.id)

    def _succeeded(
        self, record: JobRecord | None, deadline: float | None, timeout: float | None
    ) -> JobRecord | None:
        """The record if the job succeeded, None while it has not ended; raises if it ended
        otherwise, or when the wait is over."""
        if record is None:
            raise JobNotFound(f"job {self.id} not found (pruned after its retention?)")
        if record.state == JobState.SUCCEEDED:
            return record
        if record.state == JobState.DEAD:
            raise JobFailed(self.id, record.error, record.traceback)
        if record.state == JobState.CANCELLED:
            reason = f": {record.error}" if record.error else ""
            raise JobCancelled(f"job {self.id} was cancelled{reason}")
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"job {self.id} not finished after {timeout}s ({record.state})")
        return None
