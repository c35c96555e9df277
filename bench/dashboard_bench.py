"""Dashboard benchmark: the overview and jobs pages over a SQLite store of 1M jobs.

Fills a store the way a busy day leaves it (mostly succeeded jobs, a backlog, dead letters and
retrying jobs over 4 queues and 8 tasks, created over the last 24 hours, an hour of per-minute
counters), then times each page through Starlette's TestClient, the whole ASGI stack in process.

    python bench/dashboard_bench.py [--jobs 1000000] [--requests 40] [--db PATH]

The store is built once per path and reused (building 1M jobs takes about a minute).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

import taskheap
from taskheap.backends.base import ALL_TIME, MinuteCount
from taskheap.backends.sqlite import SQLiteBackend
from taskheap.codec import encode_payload
from taskheap.dashboard.web import create_app
from taskheap.job import encode_id

QUEUES = ("default", "emails", "reports", "billing")
TASKS = tuple(f"app.tasks.task_{n}" for n in range(8))
# (state, share of the jobs)
STATES = (("succeeded", 0.955), ("queued", 0.03), ("dead", 0.005), ("retrying", 0.005), ("scheduled", 0.005))
BATCH = 50_000
DAY = 24 * 3600.0


def fill(path: Path, jobs: int, seed: int = 1) -> None:
    backend = SQLiteBackend(f"sqlite:///{path}")
    backend.migrate()
    rng = random.Random(seed)
    now = time.time()
    start_ms = int((now - DAY) * 1000)
    step_ms = max(1, int(DAY * 1000 / jobs))
    conn = backend._conn().conn
    for first in range(0, jobs, BATCH):
        rows = [_row(rng, n, start_ms + n * step_ms) for n in range(first, min(first + BATCH, jobs))]
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, attempts, retries,"
            " enqueued_at, run_at, started_at, finished_at, result, error)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.execute("COMMIT")
    backend.record_minutes(_minutes(rng, now))
    backend.close()


def _row(rng: random.Random, n: int, ms: int) -> tuple[object, ...]:
    state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
    task, queue, priority = rng.choice(TASKS), rng.choice(QUEUES), rng.randrange(10)
    at = ms / 1000
    payload = encode_payload(task, (n, f"customer-{rng.randrange(100_000)}"), {}, 10_000)
    finished = at + 0.5 if state in ("succeeded", "dead") else None
    error = "ValueError: the report is not ready" if state in ("dead", "retrying") else None
    run_at = at + 60 if state in ("retrying", "scheduled") else None
    started = at + 0.1 if state != "queued" and state != "scheduled" else None
    return (
        encode_id(ms, n),
        task,
        queue,
        priority,
        float(priority),
        state,
        payload,
        1 if started else 0,
        3,
        at,
        run_at,
        started,
        finished,
        "null" if state == "succeeded" else None,
        error,
    )


def _minutes(rng: random.Random, now: float) -> list[MinuteCount]:
    this_minute = int(now // 60 * 60)
    rows = []
    for queue in QUEUES:
        for task in TASKS:
            for back in range(60):
                done, failed = rng.randrange(50, 200), rng.randrange(0, 10)
                rows.append(MinuteCount(this_minute - back * 60, queue, task, done, failed, failed // 5))
            rows.append(MinuteCount(ALL_TIME, queue, task, 100_000, 4_000, 800))
    return rows


def time_page(client: TestClient, url: str, requests: int) -> tuple[float, float, float]:
    """Median and p95 wall time, and median CPU time of this process (the app runs in its
    threads), in ms. CPU time is the figure to compare on a shared, loaded machine: other
    processes stretch the wall time, not this process's CPU."""
    client.get(url)  # warm the page cache and the connection
    wall, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    wall.sort()
    return statistics.median(wall), wall[int(len(wall) * 0.95) - 1], statistics.median(cpu)


PAGES = (
    ("overview", "/"),
    ("jobs, newest", "/jobs"),
    ("jobs, page 2 (keyset cursor)", None),
    ("jobs, state=dead", "/jobs?state=dead"),
    ("jobs, queue=emails&state=queued", "/jobs?queue=emails&state=queued"),
    ("jobs, task filter", f"/jobs?task={TASKS[3]}"),
    ("jobs, last hour", "/jobs?since=1h"),
    ("jobs, text search", "/jobs?search=customer-4242"),
    ("dead letters", "/dead"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "taskheap-dashboard-bench.db"
    )
    options = parser.parse_args()
    if not options.db.exists():
        started = time.perf_counter()
        fill(options.db, options.jobs)
        print(f"filled {options.jobs:,} jobs in {time.perf_counter() - started:.0f}s into {options.db}")
    app = taskheap.App(f"sqlite:///{options.db}")
    client = TestClient(create_app(app, read_only=True))
    second_page = f"/jobs?before={app.admin.jobs(limit=50)[-1].id}"
    print("| page | p50 (ms) | p95 (ms) | CPU p50 (ms) |\n|---|---:|---:|---:|")
    for name, url in PAGES:
        p50, p95, cpu = time_page(client, url or second_page, options.requests)
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {cpu:.1f} |")
    app.close()


if __name__ == "__main__":
    main()
