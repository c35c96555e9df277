"""taskheap: a fast, lossless distributed task queue."""

from .app import App, QueueConfig
from .context import Cancel, Fail, JobContext, JobControl, Retry, Snooze, current_job
from .errors import (
    BackendError,
    ConfigError,
    JobCancelled,
    JobFailed,
    JobNotFound,
    PayloadError,
    QueueFull,
    StoreUnreachable,
    TaskheapError,
    UnknownQueue,
    UnknownTask,
)
from .handle import JobHandle
from .job import JobInfo, JobState
from .middleware import Enqueueing, Middleware, RunResult
from .retry import Backoff
from .task import JobSpec, Task

__all__ = [
    "App",
    "BackendError",
    "Backoff",
    "Cancel",
    "ConfigError",
    "Enqueueing",
    "Fail",
    "JobCancelled",
    "JobContext",
    "JobControl",
    "JobFailed",
    "JobHandle",
    "JobInfo",
    "JobNotFound",
    "JobSpec",
    "JobState",
    "Middleware",
    "PayloadError",
    "QueueConfig",
    "QueueFull",
    "Retry",
    "RunResult",
    "Snooze",
    "StoreUnreachable",
    "Task",
    "TaskheapError",
    "UnknownQueue",
    "UnknownTask",
    "current_job",
]
__version__ = "0.1.0"
