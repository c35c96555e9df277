"""PostgreSQL benchmark: taskheap's PostgreSQL backend against procrastinate and pgqueuer.

All three run in the same run against the same server, in a fresh database made for the run
(dropped after), with the same no-op task (one int argument), one worker process, and the same
harness as the SQLite benchmark (bench/harness.py): enqueue one by one, enqueue in bulk,
one worker process draining the backlog, then pickup latency of jobs enqueued 5 ms apart to an
idle worker. The peers run only if
importable (`bench/setup-pg-peers.sh` makes a venv with them); neither is a taskheap dependency.

    python bench/postgres_bench.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                   [--jobs 18000] [--one-by-one 2000] [--depth 1000000]
                                   [--peers procrastinate,pgqueuer]   (--peers '' : taskheap only)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from harness import Subject, Taskheap, claim_cost, import_module, measure, print_claim_costs, report
from psycopg import sql

PROCRASTINATE_MODULE = """
import os, time
import procrastinate
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=os.environ["BENCH_DB_URL"]))

@app.task(name="noop")
def noop(x):
    return x

@app.task(name="lag")
def lag(t0):
    with open(os.environ["BENCH_LAGS"], "a") as f:
        f.write(f"{time.time() - t0}\\n")
"""

PGQUEUER_MODULE = """
import asyncio, os, time
import psycopg
from pgqueuer import PgQueuer
from pgqueuer.db import PsycopgDriver

async def main():
    conn = await psycopg.AsyncConnection.connect(os.environ["BENCH_DB_URL"], autocommit=True)
    pgq = PgQueuer(PsycopgDriver(conn))

    @pgq.entrypoint("noop")
    async def noop(job):
        return None

    @pgq.entrypoint("lag")
    async def lag(job):
        with open(os.environ["BENCH_LAGS"], "a") as f:
            f.write(f"{time.time() - float(job.payload)}\\n")

    return pgq


async def run():  # `pgq run` (1.6.0) fails parsing its --log-level default; its defaults here
    await (await main()).run()


if __name__ == "__main__":
    asyncio.run(run())
"""


class Procrastinate:
    name = "procrastinate"

    def __init__(self, workdir: Path, db_url: str) -> None:
        self.db_url = db_url
        (workdir / "pc_bench.py").write_text(PROCRASTINATE_MODULE)
        self.module = import_module(workdir / "pc_bench.py")
        self.app = self.module.app
        self.app.open()
        self.app.schema_manager.apply_schema()

    def enqueue_one(self, x: int) -> None:
        self.module.noop.defer(x=x)

    def enqueue_bulk(self, xs: range) -> None:
        self.module.noop.batch_defer(*({"x": x} for x in xs))

    def enqueue_lag(self) -> None:
        self.module.lag.defer(t0=time.time())

    def done(self) -> int:
        return count(self.db_url, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")

    def worker(self) -> list[str]:
        return [sys.executable, "-m", "procrastinate", "--app=pc_bench.app", "worker", "--concurrency=4"]

    def ready(self) -> bool:
        return True


class Pgqueuer:
    name = "pgqueuer"

    def __init__(self, workdir: Path, db_url: str) -> None:
        from pgqueuer.db import SyncPsycopgDriver
        from pgqueuer.queries import SyncQueries

        self.db_url = db_url
        (workdir / "pgq_bench.py").write_text(PGQUEUER_MODULE)
        self.conn = psycopg.connect(db_url, autocommit=True)
        self.queries = SyncQueries(SyncPsycopgDriver(self.conn))
        asyncio.run(self.install())

    async def install(self) -> None:
        from pgqueuer.db import PsycopgDriver
        from pgqueuer.queries import Queries

        async with await psycopg.AsyncConnection.connect(self.db_url, autocommit=True) as conn:
            await Queries(PsycopgDriver(conn)).install()

    def enqueue_one(self, x: int) -> None:
        self.queries.enqueue("noop", str(x).encode())

    def enqueue_bulk(self, xs: range) -> None:
        self.queries.enqueue(["noop"] * len(xs), [str(x).encode() for x in xs], [0] * len(xs))

    def enqueue_lag(self) -> None:
        self.queries.enqueue("lag", str(time.time()).encode())

    def done(self) -> int:
        return count(self.db_url, "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'")

    def worker(self) -> list[str]:
        return [sys.executable, "pgq_bench.py"]

    def ready(self) -> bool:
        return True


def count(db_url: str, query: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A database of its own for the run, dropped afterwards; yields its URL."""
    name = f"taskheap_bench_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def taskheap_on_postgres(workdir: Path, db_url: str) -> Subject:
    return Taskheap(workdir, f"{db_url}?schema=bench")


def vacuumed(db_url: str, schema: str) -> Callable[[], None]:
    def vacuum() -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f"VACUUM ANALYZE {schema}.jobs")

    return vacuum


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=18_000, help="bulk-enqueued part of the backlog")
    parser.add_argument("--one-by-one", type=int, default=2_000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--depth", type=int, default=1_000_000, help="0 skips the claim-depth test")
    parser.add_argument(
        "--peers", default="procrastinate,pgqueuer", help="peers measured beside taskheap ('' for none)"
    )
    options = parser.parse_args()

    peers = [name for name in options.peers.split(",") if name]
    subjects: list[Callable[[Path, str], Subject]] = [taskheap_on_postgres]
    for module, subject in (("procrastinate", Procrastinate), ("pgqueuer", Pgqueuer)):
        if module not in peers:
            continue
        if importlib.util.find_spec(module):
            subjects.append(subject)
        else:
            print(f"{module} is not installed here: run bench/setup-pg-peers.sh for the comparison")
    results: dict[str, dict[str, float]] = {}
    with fresh_database(options.url) as db_url:
        os.environ["BENCH_DB_URL"] = db_url
        for make in subjects:
            with tempfile.TemporaryDirectory() as tmp:
                subject = make(Path(tmp), db_url)
                results[subject.name] = measure(
                    subject, Path(tmp), options.jobs, options.one_by_one, options.latency_jobs
                )
        report(results)
        if options.depth:
            small, large = (
                claim_cost(f"{db_url}?schema=depth_{depth}", depth, vacuumed(db_url, f"depth_{depth}"))
                for depth in (10_000, options.depth)
            )
            print_claim_costs(small, large, options.depth)


if __name__ == "__main__":
    main()
