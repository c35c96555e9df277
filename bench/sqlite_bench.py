"""SQLite benchmark: taskheap's embedded backend against Huey's SqliteHuey, side by side.

Each figure is measured for both systems in the same run (bench/harness.py), with the same
no-op task, one worker process with 4 threads (`taskheap worker -c 4`,
`huey_consumer -w 4 -k thread`, both with default settings), timed the same way. Huey runs only
if importable (`bench/setup-sqlite-peers.sh` makes a venv with it); it is never a taskheap
dependency.

    python bench/sqlite_bench.py [--jobs 20000] [--depth 1000000]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import Subject, Taskheap, claim_cost, import_module, measure, print_claim_costs, report

HUEY_MODULE = """
import os, time
from huey import SqliteHuey
huey = SqliteHuey(filename=os.environ["BENCH_DB"])

@huey.task()
def noop(x):
    return x

@huey.task()
def lag(t0):
    with open(os.environ["BENCH_LAGS"], "a") as f:
        f.write(f"{time.time() - t0}\\n")
"""


class Huey:
    name = "huey"

    def __init__(self, workdir: Path) -> None:
        (workdir / "huey_bench.py").write_text(HUEY_MODULE)
        os.environ["BENCH_DB"] = str(workdir / "huey.db")
        self.module = import_module(workdir / "huey_bench.py")
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

    def worker(self) -> list[str]:
        consumer = Path(sys.executable).with_name("huey_consumer")
        return [str(consumer), "huey_bench.huey", "-w", "4", "-k", "thread"]

    def ready(self) -> bool:
        return True


def taskheap_on_sqlite(workdir: Path) -> Subject:
    return Taskheap(workdir, f"sqlite:///{workdir}/taskheap.db")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20_000, help="bulk-enqueued backlog")
    parser.add_argument("--one-by-one", type=int, default=5_000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--depth", type=int, default=1_000_000, help="0 skips the claim-depth test")
    options = parser.parse_args()

    subjects: list[Callable[[Path], Subject]] = [taskheap_on_sqlite]
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
            small = claim_cost(f"sqlite:///{tmp}/depth-10k.db", 10_000)
            large = claim_cost(f"sqlite:///{tmp}/depth-{options.depth}.db", options.depth)
        print_claim_costs(small, large, options.depth)


if __name__ == "__main__":
    main()
