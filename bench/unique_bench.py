"""What a unique key costs an enqueue: the median of `calls` single enqueues of each kind, on a
queue already holding `depth` jobs with keys, as ratios to a plain enqueue measured in the same
run. Kinds: "plain" (no key: on Redis the bare push), "new key" (`unique_key` not held: the job is
stored), "duplicate" (a key held by a queued job: nothing stored, the holder's handle returned),
"unique_for" (a new key with a 300 s window). The kinds take turns call by call, in an order
rotated each round, so a shared machine's load falls on all alike.

    python bench/unique_bench.py sqlite:////tmp/ub/jobs.db 'redis://127.0.0.1:6379/0?prefix=ub' \\
        'postgresql://postgres@127.0.0.1:5432/test?schema=ub' [--depths 10000] [--calls 1000]

Each depth uses a queue of its own (`uq<depth>`) and keys of a run of its own, so a store kept
from an earlier run holds more jobs than `depth`, never fewer; delete the prefix/schema/file after.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from harness import interleaved, print_ratios

import taskheap

FILL = 5000


def measure(url: str, depth: int, calls: int) -> dict[str, float]:
    app = taskheap.App(url)
    queue = f"uq{depth}"
    task = app.task(name=f"noop-{queue}", queue=queue, retries=0)(lambda x: x)
    run = uuid.uuid4().hex[:8]
    try:
        for start in range(0, depth, FILL):
            end = min(depth, start + FILL)
            app.enqueue_many([task.options(unique_key=f"{run}-held-{n}").job(n) for n in range(start, end)])
        held = task.options(unique_key=f"{run}-held-0")
        counter = iter(range(10**9))

        def plain() -> None:
            task.enqueue(0)

        def new_key() -> None:
            task.options(unique_key=f"{run}-new-{next(counter)}").enqueue(0)

        def duplicate() -> None:
            assert held.enqueue(0).duplicate

        def unique_for() -> None:
            task.options(unique_key=f"{run}-for-{next(counter)}", unique_for=300).enqueue(0)

        kinds: dict[str, Callable[[], None]] = {
            "plain": plain,
            "new key": new_key,
            "duplicate": duplicate,
            "unique_for": unique_for,
        }
        per_call(kinds, 50)  # warm up: scripts, prepared statements
        return per_call(kinds, calls)
    finally:
        app.close()


def per_call(kinds: dict[str, Callable[[], None]], calls: int) -> dict[str, float]:
    """The median µs of `calls` calls of each kind, the kinds interleaved."""
    timed = {kind: (lambda call=call: _timed(call)) for kind, call in kinds.items()}
    return {kind: seconds * 1e6 for kind, seconds in interleaved(timed, calls).items()}


def _timed(call: Callable[[], None]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    print_ratios(__doc__ or "", "10000", measure, "µs", "held")


if __name__ == "__main__":
    main()
