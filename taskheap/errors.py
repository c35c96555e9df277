"""The exceptions taskheap raises; each names what was wrong."""

from __future__ import annotations


class TaskheapError(Exception):
    """Base class of every taskheap error."""


class JobFailed(TaskheapError):
    """The job is dead: it failed on every attempt. Carries the last error and traceback."""

    def __init__(self, job_id: str, error: str | None, traceback: str | None) -> None:
        super().__init__(f"job {job_id} is dead: {error}")
        self.job_id = job_id
        self.error = error
        self.traceback = traceback


class JobCancelled(TaskheapError):
    """The job was cancelled before it ran to completion."""


class JobNotFound(TaskheapError, KeyError):
    """No job with that id exists (it may have been pruned after its retention)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "job not found"


class PayloadError(TaskheapError, ValueError):
    """A payload is malformed or larger than the configured limit."""


class BackendError(TaskheapError):
    """The backend could not be reached or refused the operation."""


class StoreUnreachable(BackendError):
    """The store did not answer: the connection failed, or a call ran out of time (a silent
    server, a partition). Worth trying again later; the worker reports it once per outage."""


class ConfigError(TaskheapError, ValueError):
    """A URL, option or app path is invalid."""


class UnknownTask(ConfigError, LookupError):
    """The App defines no task by that name (or the short name fits more than one)."""


class UnknownQueue(TaskheapError, LookupError):
    """No queue by that name is known to the store: none of its jobs, pauses or workers."""


class QueueFull(TaskheapError):
    """A queue declared with `max_length` has no room for an enqueue: its waiting jobs (queued,
    scheduled and retrying) plus the new ones would be more than `max_length`. The enqueue is
    refused whole and nothing is evicted to make room.

    `queue`, `max_length`, `waiting` (how many waited when it was refused), `adding` (how many
    of the call's jobs were for that queue). `enqueued_queues`: the call's other queues whose
    jobs were enqueued nonetheless; always empty on SQLite and PostgreSQL (the whole call is
    refused), and on Redis for a call into one queue (a call spanning queues is atomic per queue
    there)."""

    def __init__(
        self, queue: str, max_length: int, waiting: int, adding: int, enqueued_queues: tuple[str, ...] = ()
    ) -> None:
        done = (
            f"; the call's jobs for {', '.join(map(repr, enqueued_queues))} were enqueued"
            " (on Redis a call spanning queues is atomic per queue)"
            if enqueued_queues
            else "; nothing was enqueued"
        )
        super().__init__(
            f"queue {queue!r} is full: {waiting} jobs wait and its max_length is {max_length},"
            f" no room for {adding} more{done}"
        )
        self.queue = queue
        self.max_length = max_length
        self.waiting = waiting
        self.adding = adding
        self.enqueued_queues = enqueued_queues

    def __reduce__(self) -> tuple[type[QueueFull], tuple[str, int, int, int, tuple[str, ...]]]:
        return QueueFull, (self.queue, self.max_length, self.waiting, self.adding, self.enqueued_queues)
