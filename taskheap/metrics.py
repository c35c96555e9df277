"""Prometheus metrics, built on the admin API.

`AdminCollector` reads the store on every scrape: queue depth and oldest-job age by queue and
state, workers and their busy/total slots, and all-time job counters by queue and task (from the
per-minute counters, so every replica reports the same). `WorkerMetrics` is a Worker observer:
this process's own counters and its job duration and queue-wait histograms. Each registry is
built per dashboard or per worker: nothing registers in prometheus_client's global registry.

Counters: `enqueued` counts new jobs (store-wide only: workers enqueue nothing); `completed`,
`retried`, `dead` and `cancelled` count runs by outcome (`cancelled` also the jobs that expired
before their first start); `failed` = retried + dead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .admin import Admin
from .backends.base import ClaimedJob
from .job import id_time
from .worker.tally import Settled

OUTCOMES = ("completed", "failed", "retried", "dead", "cancelled")
STORE_COUNTERS = {"enqueued": "Jobs enqueued", **{outcome: f"Job runs {outcome}" for outcome in OUTCOMES}}
WAIT_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class AdminCollector(Collector):
    def __init__(self, admin: Admin, clock: Callable[[], float] = time.time) -> None:
        self.admin = admin
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # no store reads at registration

    def collect(self) -> Iterator[Metric]:
        overview = self.admin.overview(self.clock(), activity=False)
        depth = GaugeMetricFamily(
            "taskheap_queue_depth", "Jobs per queue and state.", labels=["queue", "state"]
        )
        for queue, by_state in overview.counts.items():
            for state, n in by_state.items():
                depth.add_metric([queue, state], n)
        oldest = GaugeMetricFamily(
            "taskheap_oldest_job_age_seconds",
            "Seconds since the oldest job of the queue in that state was enqueued.",
            labels=["queue", "state"],
        )
        for (queue, state), age in sorted(overview.oldest.items()):
            oldest.add_metric([queue, state], age)
        busy, total = overview.slots
        yield depth
        yield oldest
        yield GaugeMetricFamily("taskheap_workers", "Live workers.", value=len(overview.workers))
        yield GaugeMetricFamily("taskheap_worker_slots", "Job slots of the live workers.", value=total)
        yield GaugeMetricFamily("taskheap_worker_slots_busy", "Slots running a job.", value=busy)
        yield from self._counters()

    def _counters(self) -> Iterator[Metric]:
        totals = self.admin.totals()
        for counter, meaning in STORE_COUNTERS.items():
            family = CounterMetricFamily(
                f"taskheap_jobs_{counter}", f"{meaning}, all apps and workers.", labels=["queue", "task"]
            )
            for row in totals:
                family.add_metric([row.queue, row.task], getattr(row, counter))
            yield family


class WorkerMetrics:
    """A Worker observer: what this worker process ran."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = {
            outcome: Counter(
                f"taskheap_worker_jobs_{outcome}",
                f"Job runs {outcome}, this worker.",
                ["queue", "task"],
                registry=registry,
            )
            for outcome in OUTCOMES
        }
        self.duration = Histogram(
            "taskheap_job_duration_seconds",
            "How long job functions ran.",
            ["queue", "task"],
            registry=registry,
        )
        self.wait = Histogram(
            "taskheap_job_queue_wait_seconds",
            "From enqueue to the first attempt's start (any delay included).",
            ["queue", "task"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )

    def started(self, job: ClaimedJob) -> None:
        if job.attempts == 1:
            self.wait.labels(job.queue, job.task).observe(max(0.0, time.time() - id_time(job.id)))

    def settled(self, run: Settled) -> None:
        labels = (run.job.queue, run.job.task)
        self.outcomes[run.verdict].labels(*labels).inc()
        if run.verdict in ("retried", "dead"):
            self.outcomes["failed"].labels(*labels).inc()
        if run.ran is not None:
            self.duration.labels(*labels).observe(run.ran)


def admin_registry(admin: Admin) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AdminCollector(admin))
    return registry


def serve_worker_metrics(admin: Admin, port: int) -> tuple[WorkerMetrics, WSGIServer]:
    """Start /metrics on 127.0.0.1:port (a daemon thread): this worker's metrics and the store's."""
    registry = admin_registry(admin)
    metrics = WorkerMetrics(registry)
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    return metrics, server
