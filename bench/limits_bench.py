"""What limits at claim cost a claim: the median of `calls` claims of 10 jobs (each batch
completed before the next claim, so the running count stays flat), from a queue without limits
and from queues of the same depth with limits (concurrency + rate; and with a group_concurrency,
every job in a group), on each store URL given, as ratios to the unlimited claim measured in the
same run. The kinds take turns claim by claim (in an order rotated each round), so the load of
a shared machine falls on all alike.

    python bench/limits_bench.py sqlite:////tmp/lb/jobs.db redis://127.0.0.1:6379/0?prefix=lb \\
        'postgresql://postgres@127.0.0.1:5432/test?schema=lb' [--depths 10000,1000000] [--calls 300]

Each depth uses queues of its own (`free<depth>`, `lim<depth>`, `grp<depth>`), filled with
`enqueue_many` in batches of 5,000 up to the depth plus what the run claims (so never below the
depth): a store kept from an earlier run is topped up, not filled again.
"""

from __future__ import annotations

import time

from harness import interleaved, print_ratios

import taskheap
from taskheap.backends.base import Completion

BATCH = 10
FILL = 5000


def fill(app: taskheap.App, queue: str, depth: int, group: str | None) -> None:
    task = app.task(name=f"noop-{queue}", queue=queue, retries=0)(lambda x: x)
    options = task.options(group=group) if group else task
    queued = app.admin.counts().get(queue, {}).get("queued", 0)
    for start in range(queued, depth, FILL):
        app.enqueue_many([options.job(n) for n in range(start, min(depth, start + FILL))])


def claim_once(app: taskheap.App, queue: str) -> float:
    """Seconds to claim a batch of `queue` (then completed, untimed)."""
    backend = app.backend
    started = time.perf_counter()
    jobs = backend.claim([queue], "bench", BATCH, 30.0)
    took = time.perf_counter() - started
    assert len(jobs) == BATCH, f"{queue}: claimed {len(jobs)}"
    backend.complete([Completion(j.id, j.token, "null") for j in jobs])
    return took


def per_claim(app: taskheap.App, queues: dict[str, str], calls: int) -> dict[str, float]:
    """The median ms of `calls` claims of each kind, the kinds interleaved."""
    kinds = {kind: (lambda queue=queue: claim_once(app, queue)) for kind, queue in queues.items()}
    return {kind: seconds * 1e3 for kind, seconds in interleaved(kinds, calls).items()}


def measure(url: str, depth: int, calls: int) -> dict[str, float]:
    app = taskheap.App(url)
    queues = {"free": f"free{depth}", "limited": f"lim{depth}", "limited, groups": f"grp{depth}"}
    app.queue(queues["limited"], concurrency=1000, rate="1000000/s")
    app.queue(queues["limited, groups"], concurrency=1000, rate="1000000/s", group_concurrency=1000)
    try:
        for kind, queue in queues.items():
            fill(app, queue, depth + (calls + 20) * BATCH, "tenant" if "groups" in kind else None)
        per_claim(app, queues, 20)  # warm up: caches, prepared statements, scripts
        return per_claim(app, queues, calls)
    finally:
        app.close()


def main() -> None:
    print_ratios(__doc__ or "", "10000,1000000", measure, "ms", "queued")


if __name__ == "__main__":
    main()
