"""The one read/admin API over a backend: the CLI, `taskheap top`, the dashboard and metrics
all go through it, so they show the same thing from the durable store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .backends.base import Backend, JobQuery, JobRecord
from .codec import decode_payload, decode_result
from .errors import JobNotFound, PayloadError
from .job import ACTIVE, ALL_STATES, JobInfo, JobState

if TYPE_CHECKING:
    from .app import App

PURGEABLE = frozenset({JobState.DEAD, JobState.SUCCEEDED, JobState.CANCELLED})
_EVERYTHING = 1 << 62


class Admin:
    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def backend(self) -> Backend:
        return self.app.backend

    # -- reads --------------------------------------------------------------------------
    def job(self, job_id: str) -> JobInfo:
        record = self.backend.get(job_id)
        if record is None:
            raise JobNotFound(f"job {job_id} not found")
        return to_info(record)

    def jobs(
        self,
        *,
        queue: str | None = None,
        state: JobState | str | None = None,
        task: str | None = None,
        limit: int = 100,
    ) -> list[JobInfo]:
        """Newest first."""
        query = JobQuery(queue=queue, state=_state(state), task=task, limit=limit)
        return [to_info(r) for r in self.backend.list_jobs(query)]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per queue, every state with its count (zeros included)."""
        return {
            queue: {str(s): by_state.get(s, 0) for s in ALL_STATES}
            for queue, by_state in sorted(self.backend.counts().items())
        }

    def active_count(self, queues: Sequence[str] | None = None) -> int:
        return sum(
            n
            for queue, by_state in self.backend.counts().items()
            if queues is None or queue in queues
            for state, n in by_state.items()
            if state in ACTIVE
        )

    def queued_by_priority(self) -> dict[str, dict[int, int]]:
        return self.backend.queued_by_priority()

    def workers(self) -> list[dict[str, Any]]:
        return [asdict(w) for w in self.backend.workers()]

    def stats(self) -> dict[str, Any]:
        return {"queues": self.counts(), "workers": self.workers()}

    # -- writes -------------------------------------------------------------------------
    def replay(self, ids: Sequence[str] | None = None, *, queue: str | None = None) -> int:
        """Dead letters run again from scratch; all of them (in `queue`) when no ids are given."""
        query = JobQuery(
            ids=tuple(ids) if ids is not None else None,
            queue=queue,
            state=JobState.DEAD,
            limit=_EVERYTHING,
        )
        return self.backend.replay(query)

    def purge(
        self,
        ids: Sequence[str] | None = None,
        *,
        queue: str | None = None,
        state: JobState | str = JobState.DEAD,
    ) -> int:
        """Delete finished jobs (dead by default); active jobs are never purged."""
        target = _state(state)
        if target not in PURGEABLE:
            raise ValueError(f"only finished jobs can be purged, not {target}")
        query = JobQuery(
            ids=tuple(ids) if ids is not None else None,
            queue=queue,
            state=target,
            limit=_EVERYTHING,
        )
        return self.backend.purge(query)

    def cancel(self, job_id: str) -> bool:
        return self.backend.cancel(job_id)

    def pause(self, queue: str) -> None:
        self.backend.set_paused(queue, True)

    def resume(self, queue: str) -> None:
        self.backend.set_paused(queue, False)


def _state(state: JobState | str | None) -> JobState | None:
    if state is None:
        return None
    try:
        return JobState(state)
    except ValueError:
        names = ", ".join(ALL_STATES)
        raise ValueError(f"unknown job state {state!r}; expected one of {names}") from None


def to_info(record: JobRecord) -> JobInfo:
    try:
        args, kwargs = decode_payload(record.payload)
    except PayloadError:
        args, kwargs = [], {}
    try:
        result = decode_result(record.result)
    except ValueError:
        result = None
    return JobInfo(
        id=record.id,
        task=record.task,
        queue=record.queue,
        priority=record.priority,
        status=record.state,
        attempts=record.attempts,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        error=record.error,
        worker=record.worker,
        args=args,
        kwargs=kwargs,
        retries=record.retries,
        run_at=record.run_at,
        result=result,
        traceback=record.traceback,
    )
