"""The worker process: claims jobs, runs them, reports outcomes, keeps leases alive."""

from .worker import Worker

__all__ = ["Worker"]
