"""What limits at claim cost a claim: the median of `calls` claims of 10 jobs (each batch
completed before the next claim, so the running count stays flat), from a queue without limits
and from queues of the same depth with limits (concurrency + rate; and with a group_concurrency,
every job in a group), on each store URL given, as ratios to the unlimited claim measured in the
same run. Every URL must name an empty store of its own.

    python bench/limits_bench.py sqlite:////tmp/lb/jobs.db redis://127.0.0.1:6379/0?prefix=lb \\
        'postgresql://postgres@127.0.0.1:5432/test?schema=lb' [--depths 10000,1000000] [--calls 300]

Each depth uses queues of its own (`free<depth>`, `lim<depth>`, `grp<depth>`), built with
`enqueue_many` in batches of 5,000.
"""

from __future__ import annotations

import statistics
import time

from harness import by_url_and_depth

import taskheap
from taskheap.backends.base import Completion

BATCH = 10
FILL = 5000


def fill(app: taskheap.App, task: taskheap.Task, depth: int, group: str | None) -> None:  # type: ignore[type-arg]
    options = task.options(group=group) if group else task
    for start in range(0, depth, FILL):
        app.enqueue_many([options.job(n) for n in range(start, min(depth, start + FILL))])


def per_claim(app: taskheap.App, queue: str, calls: int) -> float:
    backend, times = app.backend, []
    for _ in range(calls):
        started = time.perf_counter()
        jobs = backend.claim([queue], "bench", BATCH, 30.0)
        times.append(time.perf_counter() - started)
        assert len(jobs) == BATCH, f"{queue}: claimed {len(jobs)}"
        backend.complete([Completion(j.id, j.token, "null") for j in jobs])
    return statistics.median(times) * 1e3


def measure(url: str, depth: int, calls: int) -> dict[str, float]:
    app = taskheap.App(url)
    queues = {"free": f"free{depth}", "limited": f"lim{depth}", "limited, groups": f"grp{depth}"}
    app.queue(queues["limited"], concurrency=1000, rate="1000000/s")
    app.queue(queues["limited, groups"], concurrency=1000, rate="1000000/s", group_concurrency=1000)
    try:
        for kind, queue in queues.items():
            noop = app.task(name=f"noop-{queue}", queue=queue, retries=0)(lambda x: x)
            fill(app, noop, depth, "tenant" if "groups" in kind else None)
        per_claim(app, queues["free"], 20)  # warm up: caches, prepared statements, scripts
        return {kind: per_claim(app, queue, calls) for kind, queue in queues.items()}
    finally:
        app.close()


def main() -> None:
    for url, depth, figures, took in by_url_and_depth(__doc__ or "", "10000,1000000", measure):
        free = figures["free"]
        shown = "  ".join(f"{kind} {ms:.3f} ms ({ms / free:.2f}x)" for kind, ms in figures.items())
        print(f"{url.split(':', 1)[0]:<10} {depth:>9,} queued: {shown}  [{took:.0f}s]")


if __name__ == "__main__":
    main()
