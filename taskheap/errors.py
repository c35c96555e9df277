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


class ConfigError(TaskheapError, ValueError):
    """A URL, option or app path is invalid."""
