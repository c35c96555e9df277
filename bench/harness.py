"""What the SQLite and PostgreSQL benchmarks share: the taskheap subject, the measuring loop,
claim cost by depth, and the report. Every subject runs the same no-op task (one int argument,
returns it) and a `lag` task that appends `now - enqueue time` to the file $BENCH_LAGS."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
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
    with open(os.environ["BENCH_LAGS"], "a") as f:
        f.write(f"{time.time() - t0}\\n")
"""


class Subject(Protocol):
    name: str

    def enqueue_one(self, x: int) -> None: ...
    def enqueue_bulk(self, xs: range) -> None: ...
    def enqueue_lag(self) -> None: ...
    def done(self) -> int: ...
    def worker(self) -> list[str]: ...
    def ready(self) -> bool: ...


class Taskheap:
    """taskheap on any backend URL: one worker process with 4 threads (`worker -c 4`)."""

    name = "taskheap"

    def __init__(self, workdir: Path, url: str) -> None:
        (workdir / "th_bench.py").write_text(TASKHEAP_MODULE)
        os.environ["BENCH_URL"] = url
        self.module = import_module(workdir / "th_bench.py")
        self.app = self.module.app

    def enqueue_one(self, x: int) -> None:
        self.module.noop.enqueue(x)

    def enqueue_bulk(self, xs: range) -> None:
        self.app.enqueue_many([self.module.noop.job(x) for x in xs])

    def enqueue_lag(self) -> None:
        self.module.lag.enqueue(time.time())

    def done(self) -> int:
        return sum(q["succeeded"] for q in self.app.stats()["queues"].values())

    def worker(self) -> list[str]:
        return [sys.executable, "-m", "taskheap", "-A", "th_bench:app", "worker", "-c", "4"]

    def ready(self) -> bool:
        return bool(self.app.stats()["workers"])


def import_module(path: Path) -> Any:
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
    """Enqueue one by one, in bulk, one worker process draining that backlog (wall clock from
    starting the worker until the last job is done), then pickup latency at light load: jobs
    enqueued 5 ms apart to the now idle worker."""
    lags_file = workdir / "lags.txt"
    os.environ["BENCH_LAGS"] = str(lags_file)
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
        wait_until(lambda: lags_file.exists() and len(lags_file.read_text().split()) >= latency_jobs)
    lags = sorted(float(line) for line in lags_file.read_text().split())
    figures["pickup_p50_ms"] = 1000 * statistics.median(lags)
    figures["pickup_p99_ms"] = 1000 * lags[int(len(lags) * 0.99) - 1]
    return figures


def claim_cost(url: str, depth: int, settle: Callable[[], None] = lambda: None, rounds: int = 300) -> float:
    """Mean seconds to claim 10 jobs and complete them, with `depth` jobs queued."""
    import taskheap
    from taskheap.backends.base import Completion

    app = taskheap.App(url)
    noop = app.task(name="noop")(lambda x: x)
    for start in range(0, depth, 50_000):
        app.enqueue_many([noop.job(i) for i in range(start, min(depth, start + 50_000))])
    settle()
    backend = app.backend
    begin = time.perf_counter()
    for _ in range(rounds):
        claimed = backend.claim(["default"], "bench", 10, 30.0)
        backend.complete([Completion(j.id, j.token, "null") for j in claimed])
    elapsed = (time.perf_counter() - begin) / rounds
    app.close()
    return elapsed


def print_claim_costs(small: float, large: float, depth: int) -> None:
    print(
        f"\nclaim+complete of 10 jobs: {small * 1e3:.3f} ms at 10k queued, "
        f"{large * 1e3:.3f} ms at {depth:,} queued: ratio {large / small:.2f}"
    )


def report(results: dict[str, dict[str, float]]) -> None:
    """A row per figure: every system, then taskheap's ratio to each peer."""
    names = list(results)
    peers = names[1:]
    print(f"\n{'figure':<22}" + "".join(f"{n:>15}" for n in names) + "".join(f"  th/{p:<13}" for p in peers))
    for figure in results["taskheap"]:
        row = f"{figure:<22}" + "".join(f"{results[n][figure]:>15.1f}" for n in names)
        row += "".join(f"  {results['taskheap'][figure] / results[p][figure]:>15.2f}x" for p in peers)
        print(row)


def by_url_and_depth(
    doc: str, depths: str, measure: Callable[[str, int, int], dict[str, float]]
) -> Iterable[tuple[str, int, dict[str, float], float]]:
    """The command line of a benchmark over store URLs and queue depths (`urls... [--depths a,b]
    [--calls N]`, `doc` its help): each URL's figures at each depth, with the seconds it took."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--depths", default=depths)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    for url in args.urls:
        for depth in (int(d) for d in args.depths.split(",")):
            started = time.perf_counter()
            figures = measure(url, depth, args.calls)
            yield url, depth, figures, time.perf_counter() - started


def interleaved(kinds: dict[str, Callable[[], float]], calls: int) -> dict[str, float]:
    """The median of `calls` runs of each kind (each returns the seconds it measured itself), the
    kinds taking turns run by run, in an order rotated each round, so the load of a shared
    machine falls on all alike."""
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    names = list(kinds)
    for round_ in range(calls):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(kinds[name]())
    return {kind: statistics.median(taken) for kind, taken in times.items()}


def print_ratios(
    doc: str, depths: str, measure: Callable[[str, int, int], dict[str, float]], unit: str, held: str
) -> None:
    """`by_url_and_depth`'s figures, a line per URL and depth, each as a ratio to the first (ms
    with three decimals, other units whole)."""
    digits = 3 if unit == "ms" else 0
    for url, depth, figures, took in by_url_and_depth(doc, depths, measure):
        base = next(iter(figures.values()))
        shown = "  ".join(
            f"{kind} {value:.{digits}f} {unit} ({value / base:.2f}x)" for kind, value in figures.items()
        )
        print(f"{url.split(':', 1)[0]:<10} {depth:>9,} {held}: {shown}  [{took:.0f}s]", flush=True)
