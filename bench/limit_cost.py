"""What a queue's `max_length` costs: one `task.enqueue` at a queue depth, without a limit, with
one it stays under, and refused at a full queue (median of the calls, in ms), on each store URL
given. The depth is bulk-enqueued first; every URL must name an empty store of its own.

    python bench/limit_cost.py sqlite:////tmp/lc/jobs.db \\
        'postgresql://postgres@127.0.0.1:5432/test?schema=lc' [--depths 0,10000,100000] [--calls 300]

Each depth uses a queue of its own (`d<depth>`). Run from a directory holding no `taskheap` with
the version to measure first on PYTHONPATH, as redis_ab.py does.
"""

from __future__ import annotations

import contextlib
import statistics
import time

from harness import by_url_and_depth

import taskheap


def per_call(enqueue: taskheap.Task, calls: int) -> float:  # type: ignore[type-arg]
    times = []
    for n in range(calls):
        started = time.perf_counter()
        with contextlib.suppress(taskheap.QueueFull):
            enqueue.enqueue(n)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def measure(url: str, depth: int, calls: int) -> dict[str, float]:
    app = taskheap.App(url)
    queue = f"d{depth}"
    noop = app.task(name="noop", queue=queue, retries=0)(lambda x: x)
    try:
        for start in range(0, depth, 5000):
            app.enqueue_many([noop.job(n) for n in range(start, min(depth, start + 5000))])
        figures = {"no limit": per_call(noop, calls)}
        app.queue(queue, max_length=depth + 10 * calls)
        figures["limited"] = per_call(noop, calls)
        app.queue(queue, max_length=max(depth, 1))
        figures["refused"] = per_call(noop, calls // 3)
        return figures
    finally:
        app.close()


def main() -> None:
    for url, depth, figures, _ in by_url_and_depth(__doc__ or "", "0,10000,100000", measure):
        shown = "  ".join(f"{name} {ms:.3f} ms" for name, ms in figures.items())
        print(f"{url.split(':')[0]:10s} depth {depth:>7,}: {shown}", flush=True)


if __name__ == "__main__":
    main()
