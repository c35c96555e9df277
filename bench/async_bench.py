"""The async no-op benchmark (issue 13): taskheap's `async def` tasks against SAQ and Taskiq.

One worker process drains a backlog of an `async def` no-op task (one int argument, returned),
on a private redis-server (redis_bench.py's harness, systems and drain measurement): taskheap
with the async task, SAQ and Taskiq, each running up to 100 coroutines at once, and taskheap's
sync no-op on its default pool, 4 threads, for the "sync unchanged" check. Rounds alternate the
systems (the order turns each round) so a slow spell of this noisy host falls on all of them; the
report gives each figure's median over the rounds and its spread (min–max), and taskheap-async's
ratio to each other system from the figures of the same round. Figures: jobs/s from starting the
worker process to the last job done, jobs/s from its first finished job, the seconds from its
start to that job, the worker's CPU time per job (psutil, from its first finished job to its last)
and its RSS once done.

Run in the benchmark's own environment (bench/setup-peers.sh), from the repository root:
    /work/bench-venv/bin/python bench/async_bench.py [--systems taskheap-async,saq,taskiq,taskheap]
        [--backlog 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import redis_bench
from redis_bench import CONCURRENCY, System

ASYNC_CONCURRENCY = 100  # coroutines run at once, for every async system
TARGET = 3.0  # issue 13: taskheap-async at least 3x the faster peer per worker process


async def noop(x: int) -> int:
    return x


class TaskheapAsync(redis_bench.Taskheap):
    """`async def` no-op, `Worker(app, concurrency=4, async_concurrency=100)` (`taskheap worker
    --async-concurrency 100`: 4 sync threads beside the event loop), automatic prefetch."""

    name = "taskheap-async"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.noop = self.app.task(name="async_noop", retries=0)(noop)  # type: ignore[arg-type]

    def work(self) -> None:
        from taskheap.worker import Worker

        Worker(self.app, concurrency=CONCURRENCY, async_concurrency=ASYNC_CONCURRENCY).run()


class TaskheapSync(redis_bench.Taskheap):
    """sync no-op, `Worker(app, concurrency=4)` (`taskheap worker`, its default pool of 4 threads),
    automatic prefetch; the app has no async task."""


class Saq(redis_bench.Saq):
    """`async def` no-op, `Worker(queue, concurrency=100)`, a connection pool of 200 (see
    redis_bench.Saq), SAQ's defaults otherwise."""

    concurrency = ASYNC_CONCURRENCY


class Taskiq(redis_bench.Taskiq):
    """`async def` no-op, taskiq-redis `RedisStreamBroker` and `RedisAsyncResultBackend` (a message
    acknowledged once its result is saved), the worker process of `taskiq worker --workers 1
    --max-async-tasks 100 --log-level WARNING`, defaults otherwise (`--max-prefetch 0`)."""

    concurrency = ASYNC_CONCURRENCY


SYSTEMS: dict[str, Callable[[str], System]] = {
    "taskheap-async": TaskheapAsync,
    "saq": Saq,
    "taskiq": Taskiq,
    "taskheap": TaskheapSync,
}
FIGURES = [
    ("from_start", "jobs/s from worker start"),
    ("worker", "jobs/s from first job done"),
    ("first_s", "s to first job done"),
    ("cpu_us", "worker CPU µs/job"),
    ("rss_mb", "worker RSS MB"),
]


def measure(names: list[str], url: str, backlog: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    """Each round drains one backlog per system, in an order that turns each round; a system's
    list holds its figures round by round."""
    urls = {name: f"{url.rsplit('/', 1)[0]}/{n}" for n, name in enumerate(names, 1)}  # a database each
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for turn in range(rounds):
        order = names[turn % len(names) :] + names[: turn % len(names)]
        for name in order:
            figures = redis_bench.drain_backlog(SYSTEMS[name](urls[name]), urls[name], backlog, __file__)
            runs[name].append(figures)
            print(
                f"round {turn + 1} {name}: " + ", ".join(f"{k} {v:,.1f}" for k, v in figures.items()),
                flush=True,
            )
    return runs


def report(runs: dict[str, list[dict[str, float]]], backlog: int) -> None:
    print(f"\nOne worker process draining {backlog:,} jobs, {len(next(iter(runs.values())))} rounds:")
    for name in runs:
        print(f"- {name}: " + " ".join((SYSTEMS[name].__doc__ or "").split()))
    print("\n| system | " + " | ".join(title for _, title in FIGURES) + " |")
    print("|---" * (len(FIGURES) + 1) + "|")
    for name, rounds in runs.items():
        print(f"| {name} | " + " | ".join(spread([r[key] for r in rounds]) for key, _ in FIGURES) + " |")
    if "taskheap-async" not in runs:
        return
    ours = runs["taskheap-async"]
    for name, theirs in runs.items():
        if name != "taskheap-async":
            pairs = list(zip(ours, theirs, strict=True))  # the same round's
            ratios = [
                f"{title} ×{spread([a[key] / b[key] for a, b in pairs], 2)}" for key, title in FIGURES[:2]
            ]
            cpu_ratios = [a["cpu_us"] / b["cpu_us"] for a, b in pairs if b["cpu_us"]]  # 0: under a tick
            cpu = spread(cpu_ratios, 2) if cpu_ratios else "n/a"
            print(f"taskheap-async / {name}, round by round: " + ", ".join(ratios) + f"; CPU per job ×{cpu}")
    peers = [name for name in ("saq", "taskiq") if name in runs]
    if peers:
        faster = max(peers, key=lambda name: statistics.median(r["from_start"] for r in runs[name]))
        ratio = statistics.median(r["from_start"] for r in ours) / statistics.median(
            r["from_start"] for r in runs[faster]
        )
        verdict = "met" if ratio >= TARGET else "NOT met"
        print(f"target: ≥{TARGET:g}× the faster peer ({faster}) from worker start: ×{ratio:.2f}, {verdict}")


def spread(values: list[float], digits: int = 0) -> str:
    """The median and, in brackets, the least and the greatest value."""
    if not digits:
        digits = 0 if min(values) >= 100 else 1 if min(values) >= 10 else 2
    cell = f"{{:,.{digits}f}}"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{cell.format(mid)} ({cell.format(low)}–{cell.format(high)})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--backlog", type=int, default=20000, help="jobs one worker drains per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds alternating the systems (at least 3)")
    redis_bench.work_or_measure(parser, SYSTEMS, measure_all)


def measure_all(args: argparse.Namespace, url: str) -> None:
    names = [name for name in args.systems.split(",") if name]
    unknown = [name for name in names if name not in SYSTEMS]
    if unknown:
        raise SystemExit(f"unknown systems {unknown} (known: {', '.join(SYSTEMS)})")
    if args.rounds < 3:
        raise SystemExit("--rounds: at least 3, for a median and a spread")
    report(measure(names, url, args.backlog, args.rounds), args.backlog)


if __name__ == "__main__":
    main()
