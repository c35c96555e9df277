"""SQLite benchmark: taskheap's embedded backend against Huey's SqliteHuey, side by side.

Each figure is measured for both systems in the same run, with the same no-op task (one int
argument, returns it), one worker process with 4 threads, and the same way of timing (wall clock
from starting the worker process until the last result is stored). Huey runs only if importable
(`bench/setup-sqlite-peers.sh` makes a venv with it); it is never a taskheap dependency.

    python bench/sqlite_bench.py [--jobs 20000] [--depth 1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

TASKHEAP_MODULE = """
import os, time
import taskheap
app = taskheap.App(os.environ["BENCH_URL"])

@app.task(name="noop")
def noop(x):
    return x

@app.task(name="lag")
def lag(t0):
    return time.time() - t0
"""

HUEY_MODULE = """
import os, time
from huey import SqliteHuey
huey = SqliteHuey(filename=os.environ["BENCH_DB"])

@huey.task()
def noop(x):
    return x

@huey.task()
def lag(t0):
    return time.time() - t0
"""


class Subject(Protocol):
    name: str

    def enqueue_one(self, x: int) -> None: ...
    def enqueue_bulk(self, xs: range) -> None: ...
    def enqueue_lag(self) -> None: ...
    def done(self) -> int: ...
    def lags(self) -> list[float]: ...
    def worker(self) -> list[str]: ...
    def ready(self) -> bool: ...


class Taskheap:
    name = "taskheap"

    def __init__(self, workdir: Path) -> None:
        (workdir / "th_bench.py").write_text(TASKHEAP_MODULE)
        os.environ["BENCH_URL"] = f"sqlite:///{workdir}/taskheap.db"
        self.module = _import(workdir / "th_bench.py")
        self.app = self.module.app

    def enqueue_one(self, x: int) -> None:
        self.module.noop.enqueue(x)

    def enqueue_bulk(self, xs: range) -> None:
        self.app.enqueue_many([self.module.noop.job(x) for x in xs])

    def enqueue_lag(self) -> None:
        self.module.lag.enqueue(time.time())

    def done(self) -> int:
        return sum(q["succeeded"] for q in self.app.stats()["queues"].values())

    def lags(self) -> list[float]:
        return [j.result for j in self.app.admin.jobs(task="lag", limit=100_000)]

    def worker(self) -> list[str]:
        return [sys.executable, "-m", "taskheap", "-A", "th_bench:app", "worker", "-c", "4"]

    def ready(self) -> bool:
        return bool(self.app.stats()["workers"])


class Huey:
    name = "huey"

    def __init__(self, workdir: Path) -> None:
        (workdir / "huey_bench.py").write_text(HUEY_MODULE)
        os.environ["BENCH_DB"] = str(workdir / "huey.db")
        self.module = _import(workdir / "huey_bench.py")
        self.huey = self.module.huey

    def enqueue_one(self, x: int) -> None:
        self.module.noop(x)

    def enqueue_bulk(self, xs: range) -> None:
        for x in xs:  # Huey has no bulk enqueue
            self.module.noop(x)

    def enqueue_lag(self) -> None:
        self.module.lag(time.time())

    def done(self) -> int:
        return int(self.huey.result_count())

    def lags(self) -> list[float]:
        return [
            self.huey.get(key, peek=True)
            for key in self.huey.all_results()
            if isinstance(self.huey.get(key, peek=True), float)
        ]

    def worker(self) -> list[str]:
        consumer = Path(sys.executable).with_name("huey_consumer")
        return [str(consumer), "huey_bench.huey", "-w", "4", "-k", "thread"]

    def ready(self) -> bool:
        return True


def _import(path: Path) -> Any:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def running(subject: Subject, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        subject.worker(),
        cwd=workdir,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def wait_until(predicate: Callable[[], bool], timeout: float = 300.0, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(poll)


def rate(count: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return count / (time.perf_counter() - start)


def measure(
    subject: Subject, workdir: Path, jobs: int, one_by_one: int, latency_jobs: int
) -> dict[str, float]:
    figures = {
        "enqueue_one_per_s": rate(one_by_one, lambda: [subject.enqueue_one(i) for i in range(one_by_one)])
    }
    figures["enqueue_bulk_per_s"] = rate(jobs, lambda: subject.enqueue_bulk(range(jobs)))
    backlog = one_by_one + jobs
    start = time.perf_counter()
    with running(subject, workdir):
        wait_until(lambda: subject.done() >= backlog)
        figures["worker_per_s"] = backlog / (time.perf_counter() - start)
        wait_until(subject.ready)
        time.sleep(1.0)  # let an idle worker settle into its idle wait
        for _ in range(latency_jobs):
            subject.enqueue_lag()
            time.sleep(0.005)
        wait_until(lambda: subject.done() >= backlog + latency_jobs)
    lags = sorted(subject.lags())
    figures["pickup_p50_ms"] = 1000 * statistics.median(lags)
    figures["pickup_p99_ms"] = 1000 * lags[int(len(lags) * 0.99) - 1]
    return figures


def claim_cost(workdir: Path, depth: int, rounds: int = 300) -> float:
    """Mean seconds to claim 10 jobs and complete them, with `depth` jobs queued."""
    import taskheap
    from taskheap.backends.base import Completion

    app = taskheap.App(f"sqlite:///{workdir}/depth-{depth}.db")
    noop = app.task(name="noop")(lambda x: x)
    for start in range(0, depth, 50_000):
        app.enqueue_many([noop.job(i) for i in range(start, min(depth, start + 50_000))])
    backend = app.backend
    begin = time.perf_counter()
    for _ in range(rounds):
        claimed = backend.claim(["default"], "bench", 10, 30.0)
        backend.complete([Completion(j.id, j.token, "null") for j in claimed])
    return (time.perf_counter() - begin) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000, help="bulk-enqueued backlog")
    parser.add_argument("--one-by-one", type=int, default=5_000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--depth", type=int, default=1_000_000, help="0 skips the claim-depth test")
    options = parser.parse_args()

    subjects: list[Callable[[Path], Subject]] = [Taskheap]
    if importlib.util.find_spec("huey"):
        subjects.append(Huey)
    else:
        print("huey is not installed here: run bench/setup-sqlite-peers.sh for the comparison")
    results: dict[str, dict[str, float]] = {}
    for make in subjects:
        with tempfile.TemporaryDirectory() as tmp:
            subject = make(Path(tmp))
            results[subject.name] = measure(
                subject, Path(tmp), options.jobs, options.one_by_one, options.latency_jobs
            )
    report(results)
    if options.depth:
        with tempfile.TemporaryDirectory() as tmp:
            small, large = claim_cost(Path(tmp), 10_000), claim_cost(Path(tmp), options.depth)
        print(
            f"\nclaim+complete of 10 jobs: {small * 1e3:.3f} ms at 10k queued, "
            f"{large * 1e3:.3f} ms at {options.depth:,} queued: ratio {large / small:.2f}"
        )


def report(results: dict[str, dict[str, float]]) -> None:
    names = list(results)
    print(
        f"\n{'figure':<22}"
        + "".join(f"{n:>14}" for n in names)
        + ("   taskheap/huey" if "huey" in results else "")
    )
    for figure in results["taskheap"]:
        row = f"{figure:<22}" + "".join(f"{results[n][figure]:>14.1f}" for n in names)
        if "huey" in results:
            row += f"   {results['taskheap'][figure] / results['huey'][figure]:>10.2f}x"
        print(row)


if __name__ == "__main__":
    main()
