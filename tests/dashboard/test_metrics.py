"""Prometheus metrics: the store-wide collector's series and values, a worker's own counters
and histograms, and `taskheap worker --metrics-port` serving both."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

import taskheap
from taskheap.metrics import WorkerMetrics, admin_registry
from taskheap.worker import Worker
from tests.conftest import sqlite_url, wait_for
from tests.dashboard.conftest import Store
from tests.ports import free_port
from tests.worker.conftest import Lab


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_scrape_reads_depth_ages_workers_and_all_time_counters_from_the_store(store: Store) -> None:
    text = scrape(admin_registry(store.app.admin))
    expected = [
        'taskheap_queue_depth{queue="default",state="queued"} 2.0',
        'taskheap_queue_depth{queue="default",state="running"} 1.0',
        'taskheap_queue_depth{queue="emails",state="dead"} 1.0',
        'taskheap_queue_depth{queue="emails",state="succeeded"} 1.0',
        "taskheap_workers 1.0",
        "taskheap_worker_slots 4.0",
        "taskheap_worker_slots_busy 1.0",
        'taskheap_jobs_enqueued_total{queue="emails",task="send"} 2.0',
        'taskheap_jobs_enqueued_total{queue="default",task="add"} 3.0',
        'taskheap_jobs_completed_total{queue="emails",task="send"} 1.0',
        'taskheap_jobs_dead_total{queue="emails",task="send"} 1.0',
        'taskheap_jobs_failed_total{queue="emails",task="send"} 1.0',
        'taskheap_jobs_retried_total{queue="emails",task="send"} 0.0',
        'taskheap_jobs_cancelled_total{queue="emails",task="send"} 0.0',
    ]
    for line in expected:
        assert line in text.splitlines(), line
    assert 'taskheap_oldest_job_age_seconds{queue="default",state="queued"}' in text
    assert 'taskheap_oldest_job_age_seconds{queue="emails",state="dead"}' in text


def run_burst(lab: Lab) -> CollectorRegistry:
    """A burst worker on the lab's app, in a thread, with its metrics in a fresh registry."""
    registry = CollectorRegistry()
    worker = Worker(lab.app, burst=True, concurrency=2, observer=WorkerMetrics(registry))
    thread = threading.Thread(target=worker.run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    return registry


def test_worker_metrics_count_its_runs_and_time_them(tmp_path: Path) -> None:
    lab = Lab(tmp_path, sqlite_url(tmp_path))
    try:
        for i in range(3):
            lab.tasks.add.enqueue(i, i)
        lab.tasks.always_fails.options(retries=0).enqueue()
        text = scrape(run_burst(lab))
    finally:
        lab.close()
    assert 'taskheap_worker_jobs_completed_total{queue="default",task="add"} 3.0' in text
    assert 'taskheap_worker_jobs_dead_total{queue="default",task="always_fails"} 1.0' in text
    assert 'taskheap_worker_jobs_failed_total{queue="default",task="always_fails"} 1.0' in text
    assert 'taskheap_job_duration_seconds_count{queue="default",task="add"} 3.0' in text
    assert 'taskheap_job_queue_wait_seconds_count{queue="default",task="add"} 3.0' in text


def test_worker_metrics_count_cancelled_runs_apart_from_failures(tmp_path: Path) -> None:
    lab = Lab(tmp_path, sqlite_url(tmp_path))
    try:

        @lab.app.task(name="obsolete")
        def obsolete() -> None:
            raise taskheap.Cancel("superseded")

        obsolete.enqueue()
        text = scrape(run_burst(lab))
        store_text = scrape(admin_registry(lab.app.admin))
    finally:
        lab.close()
    assert 'taskheap_worker_jobs_cancelled_total{queue="default",task="obsolete"} 1.0' in text
    assert 'taskheap_worker_jobs_failed_total{queue="default",task="obsolete"}' not in text
    assert 'taskheap_jobs_cancelled_total{queue="default",task="obsolete"} 1.0' in store_text
    assert 'taskheap_jobs_failed_total{queue="default",task="obsolete"} 0.0' in store_text


def test_worker_serves_metrics_on_the_given_loopback_port(tmp_path: Path) -> None:
    lab = Lab(tmp_path, sqlite_url(tmp_path))
    port = free_port()
    try:
        lab.tasks.add.enqueue(1, 2)
        lab.worker("--metrics-port", str(port))
        url = f"http://127.0.0.1:{port}/metrics"
        line = 'taskheap_worker_jobs_completed_total{queue="default",task="add"} 1.0'

        def fetch() -> str:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())

        def served() -> bool:
            try:
                return line in fetch()
            except OSError:
                return False

        wait_for(served, 20, "the worker's /metrics")
        text = fetch()
        assert 'taskheap_jobs_completed_total{queue="default",task="add"} 1.0' in text
    finally:
        lab.close()
