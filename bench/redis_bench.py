"""taskheap on Redis against its Python peers, side by side in one run on one Redis.

Starts its own redis-server (no persistence) on a free port, then for each system measures:
enqueue one by one, enqueue in bulk, ONE worker process draining a backlog (and its RSS once
done), pickup latency at light load (jobs enqueued 5 ms apart to a fresh worker that has run one
job; the task returns how long it waited). The redis-py floor (one SET per round trip) is
measured in the same run. Enqueue and pickup are measured in --rounds rounds that alternate the
systems (and the floor), so that a slow spell of this noisy host falls on all of them alike;
each system has a database of its own on that server.
The task is the same no-op everywhere: one int argument, returned. Then, taskheap only: one
worker round trip (complete 10 + claim 10) at 10,000 and at --depth queued jobs, and an idle
worker's RSS with no delayed job and with --delayed jobs scheduled an hour ahead.

Run in the benchmark's own environment (bench/setup-peers.sh), from the repository root:
    /work/bench-venv/bin/python bench/redis_bench.py
        [--peers taskheap-prefetch,huey,rq,dramatiq,celery,arq,saq,taskiq] [--backlog 20000]
        [--depth 1000000] [--delayed 100000] [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import psutil
import redis

from taskheap.backends.base import Completion

QUEUE = "bench"
CONCURRENCY = 4  # worker threads, for every system
PREFETCH = 60  # taskheap-prefetch only


# -- the systems ------------------------------------------------------------------------
class System(Protocol):
    name: str

    def enqueue_one(self, n: int) -> None: ...
    def enqueue_bulk(self, n: int) -> None: ...
    def done(self) -> int: ...
    def lag(self, sent_at: float) -> Callable[[], float]: ...
    def work(self) -> None: ...


def noop(x: int) -> int:
    return x


def lag(sent_at: float) -> float:
    return time.time() - sent_at


class Taskheap:
    name = "taskheap"

    def __init__(self, url: str) -> None:
        import taskheap

        self.app = taskheap.App(f"{url}?prefix=bench", lease=30.0)
        self.app.backend.migrate()  # what an app does once at start (schema check, scripts loaded): not timed
        self.noop = self.app.task(name="noop", retries=0)(noop)
        self.lag_task = self.app.task(name="lag", retries=0)(lag)

    def enqueue_one(self, n: int) -> None:
        for i in range(n):
            self.noop.enqueue(i)

    def enqueue_bulk(self, n: int) -> None:
        for start in range(0, n, 5000):
            self.app.enqueue_many([self.noop.job(i) for i in range(start, min(n, start + 5000))])

    def done(self) -> int:
        return int(self.app.admin.counts().get("default", {}).get("succeeded", 0))

    def lag(self, sent_at: float) -> Callable[[], float]:
        handle = self.lag_task.enqueue(sent_at)
        return lambda: float(handle.result(timeout=10))

    def work(self) -> None:
        from taskheap.worker import Worker

        Worker(self.app, concurrency=CONCURRENCY).run()


class TaskheapPrefetch(Taskheap):
    """The same worker claiming up to PREFETCH jobs beyond its free slots (`--prefetch`): larger
    batches per round trip, at the cost of strict priority (see docs/benchmarks.md)."""

    name = "taskheap-prefetch"

    def work(self) -> None:
        from taskheap.worker import Worker

        Worker(self.app, concurrency=CONCURRENCY, prefetch=PREFETCH).run()


class Huey:
    name = "huey"

    def __init__(self, url: str) -> None:
        from huey import RedisHuey

        self.huey = RedisHuey(QUEUE, url=url)
        self.noop = self.huey.task(name="noop")(noop)
        self.lag_task = self.huey.task(name="lag")(lag)

    def enqueue_one(self, n: int) -> None:
        for i in range(n):
            self.noop(i)

    def enqueue_bulk(self, n: int) -> None:
        self.enqueue_one(n)  # huey has no bulk enqueue

    def done(self) -> int:
        return int(self.huey.result_count())

    def lag(self, sent_at: float) -> Callable[[], float]:
        result = self.lag_task(sent_at)
        return lambda: float(result.get(blocking=True, timeout=10))

    def work(self) -> None:
        self.huey.create_consumer(workers=CONCURRENCY, worker_type="thread").run()


class RQ:
    name = "rq"

    def __init__(self, url: str) -> None:
        from rq import Queue

        self.connection = redis.Redis.from_url(url)
        self.queue = Queue(QUEUE, connection=self.connection)

    def enqueue_one(self, n: int) -> None:
        for i in range(n):
            self.queue.enqueue("redis_bench.noop", i)  # rq refuses __main__ functions

    def enqueue_bulk(self, n: int) -> None:
        from rq import Queue

        for start in range(0, n, 5000):
            self.queue.enqueue_many(
                [Queue.prepare_data("redis_bench.noop", (i,)) for i in range(start, min(n, start + 5000))]
            )

    def done(self) -> int:
        return int(self.queue.finished_job_registry.count)

    def lag(self, sent_at: float) -> Callable[[], float]:
        job = self.queue.enqueue("redis_bench.lag", sent_at)

        def result() -> float:
            deadline = time.monotonic() + 10
            while (value := job.return_value(refresh=True)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("rq job did not finish")
                time.sleep(0.001)
            return float(value)

        return result

    def work(self) -> None:
        from rq import SimpleWorker  # no fork per job: RQ's fastest worker

        SimpleWorker([self.queue], connection=self.connection).work()


class Dramatiq:
    """Redis broker, one worker process with 4 threads; results (Results middleware) only for the
    latency task, as Dramatiq stores none by default. Done = sent minus messages still held."""

    name = "dramatiq"

    def __init__(self, url: str) -> None:
        import dramatiq
        from dramatiq.brokers.redis import RedisBroker
        from dramatiq.results import Results
        from dramatiq.results.backends import RedisBackend

        self.broker = RedisBroker(url=url)
        self.broker.add_middleware(Results(backend=RedisBackend(url=url)))
        dramatiq.set_broker(self.broker)
        self.noop = dramatiq.actor(noop, queue_name=QUEUE, max_retries=0)
        self.lag_task = dramatiq.actor(lag, queue_name=QUEUE, max_retries=0, store_results=True)
        self.sent = 0

    def enqueue_one(self, n: int) -> None:
        for i in range(n):
            self.noop.send(i)
        self.sent += n

    def enqueue_bulk(self, n: int) -> None:
        self.enqueue_one(n)  # dramatiq has no bulk enqueue (group() sends one by one)

    def done(self) -> int:
        return self.sent - int(self.broker.client.hlen(f"dramatiq:{QUEUE}.msgs"))

    def lag(self, sent_at: float) -> Callable[[], float]:
        message = self.lag_task.send(sent_at)
        return lambda: float(message.get_result(block=True, timeout=10_000))

    def work(self) -> None:
        from dramatiq import Worker

        worker = Worker(self.broker, worker_threads=CONCURRENCY)
        worker.start()
        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            worker.stop()


class Celery:
    """Redis broker and result backend, the threads pool with 4 threads, default prefetch
    multiplier (4); acks_late so that a message leaves `unacked` only once it has run, which
    makes done = sent minus queued minus unacked exact."""

    name = "celery"

    def __init__(self, url: str) -> None:
        from celery import Celery as CeleryApp

        self.app = CeleryApp("bench", broker=url, backend=url)
        self.app.conf.update(task_default_queue=QUEUE, task_acks_late=True, worker_hijack_root_logger=False)
        self.noop = self.app.task(name="noop")(noop)
        self.lag_task = self.app.task(name="lag")(lag)
        self.client = redis.Redis.from_url(url)
        self.sent = 0

    def enqueue_one(self, n: int) -> None:
        for i in range(n):
            self.noop.delay(i)
        self.sent += n

    def enqueue_bulk(self, n: int) -> None:
        self.enqueue_one(n)  # a celery group also publishes one message per task

    def done(self) -> int:
        return self.sent - int(self.client.llen(QUEUE)) - int(self.client.hlen("unacked"))

    def lag(self, sent_at: float) -> Callable[[], float]:
        result = self.lag_task.delay(sent_at)
        return lambda: float(result.get(timeout=10))

    def work(self) -> None:
        self.app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={CONCURRENCY}",
                f"--queues={QUEUE}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=WARNING",
            ]
        )


async def async_noop(ctx: dict[str, Any], x: int) -> int:
    return x


async def async_lag(ctx: dict[str, Any], sent_at: float) -> float:
    return time.time() - sent_at


class _AsyncPeer:
    """A peer whose client API is asyncio: each call runs to completion on one private loop."""

    concurrency = CONCURRENCY  # jobs run at once

    def __init__(self) -> None:
        import asyncio

        self.loop = asyncio.new_event_loop()
        self.sent = 0

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)


class Arq(_AsyncPeer):
    """arq's defaults but max_jobs=4 (its concurrency); it polls the queue every poll_delay
    (default 0.5 s) when idle. No bulk enqueue. Done = sent minus jobs left in the queue set
    (a job leaves it only when it has finished)."""

    name = "arq"

    def __init__(self, url: str) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        super().__init__()
        self.settings = RedisSettings.from_dsn(url)
        self.pool = self.run(create_pool(self.settings, default_queue_name=QUEUE))

    def enqueue_one(self, n: int) -> None:
        async def send() -> None:
            for i in range(n):
                await self.pool.enqueue_job("async_noop", i)

        self.run(send())
        self.sent += n

    def enqueue_bulk(self, n: int) -> None:
        self.enqueue_one(n)  # arq has no bulk enqueue

    def done(self) -> int:
        return self.sent - int(self.run(self.pool.zcard(QUEUE)))

    def lag(self, sent_at: float) -> Callable[[], float]:
        job = self.run(self.pool.enqueue_job("async_lag", sent_at))
        return lambda: float(self.run(job.result(timeout=10)))

    def work(self) -> None:
        from arq.worker import Worker

        worker = Worker(
            functions=[async_noop, async_lag],  # type: ignore[list-item]
            redis_settings=self.settings,
            queue_name=QUEUE,
            max_jobs=CONCURRENCY,
            handle_signals=True,
        )
        worker.run()


class Saq(_AsyncPeer):
    """SAQ's defaults but concurrency=4 and a connection pool of concurrency + 100 (each job
    being dequeued holds a connection in BLMOVE; at concurrency 100, redis-py's default pool of
    100 runs out and SAQ leaves jobs `active`, unfinished). No bulk enqueue that returns without waiting
    (map waits for results). Done = sent minus jobs still in its incomplete set."""

    name = "saq"

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis
        from saq.queue.redis import RedisQueue

        super().__init__()
        self.queue = RedisQueue(Redis.from_url(url, max_connections=self.concurrency + 100), name=QUEUE)
        self.run(self.queue.connect())

    def enqueue_one(self, n: int) -> None:
        async def send() -> None:
            for i in range(n):
                await self.queue.enqueue("async_noop", x=i)

        self.run(send())
        self.sent += n

    def enqueue_bulk(self, n: int) -> None:
        self.enqueue_one(n)

    def done(self) -> int:
        return self.sent - int(self.run(self.queue.count("incomplete")))

    def lag(self, sent_at: float) -> Callable[[], float]:
        job = self.run(self.queue.enqueue("async_lag", sent_at=sent_at))

        async def result() -> float:
            await job.refresh(until_complete=10)
            return float(job.result)

        return lambda: self.run(result())

    def work(self) -> None:
        from saq import Worker

        worker = Worker(self.queue, functions=[async_noop, async_lag], concurrency=self.concurrency)
        self.loop.add_signal_handler(signal.SIGINT, lambda: self.loop.create_task(worker.stop()))
        self.run(worker.start())


async def taskiq_noop(x: int) -> int:  # taskiq passes no context argument
    return x


async def taskiq_lag(sent_at: float) -> float:
    return time.time() - sent_at


class Taskiq(_AsyncPeer):
    """taskiq-redis's RedisStreamBroker, its broker that acknowledges (a stream consumer group;
    taskiq's default ack_type when_saved acks a message once its result is saved), with
    RedisAsyncResultBackend; defaults otherwise (XREADGROUP of up to 100 messages, max_prefetch 0).
    The worker is what each `taskiq worker` process runs, with --max-async-tasks 4. No bulk
    enqueue. Done = messages the group has read minus those still pending (not acknowledged)."""

    name = "taskiq"

    def __init__(self, url: str) -> None:
        from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

        super().__init__()
        backend: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(url)
        self.broker = RedisStreamBroker(url, queue_name=QUEUE).with_result_backend(backend)
        self.noop = self.broker.task(task_name="noop")(taskiq_noop)
        self.lag_task = self.broker.task(task_name="lag")(taskiq_lag)
        self.client = redis.Redis.from_url(url)
        self.started = False

    def start(self) -> None:
        """The client's startup, before its first message (never in the worker process, whose
        loop is taskiq's own): it creates the consumer group at the stream's end, so a worker
        started later reads the backlog."""
        if not self.started:
            self.run(self.broker.startup())
            self.started = True

    def enqueue_one(self, n: int) -> None:
        self.start()

        async def send() -> None:
            for i in range(n):
                await self.noop.kiq(i)

        self.run(send())

    def enqueue_bulk(self, n: int) -> None:
        self.enqueue_one(n)  # taskiq has no bulk enqueue

    def done(self) -> int:
        (group,) = self.client.xinfo_groups(QUEUE)
        return int(group["entries-read"] or 0) - int(group["pending"])  # entries-read: nil before a read

    def lag(self, sent_at: float) -> Callable[[], float]:
        self.start()
        task = self.run(self.lag_task.kiq(sent_at))

        async def result() -> float:
            return float((await task.wait_result(check_interval=0.001, timeout=10)).return_value)

        return lambda: self.run(result())

    def work(self) -> None:
        from taskiq.cli.worker.args import WorkerArgs
        from taskiq.cli.worker.run import start_listen

        # What each `taskiq worker` process runs; logging left unconfigured, as with --log-level
        # WARNING (the CLI's default, INFO, logs a line per task).
        args = WorkerArgs(
            broker=self.broker,  # type: ignore[arg-type]  # an instance is accepted too
            modules=[],
            max_async_tasks=self.concurrency,
            configure_logging=False,
        )
        start_listen(args)


SYSTEMS: dict[str, Callable[[str], System]] = {
    "taskheap": Taskheap,
    "taskheap-prefetch": TaskheapPrefetch,
    "huey": Huey,
    "rq": RQ,
    "dramatiq": Dramatiq,
    "celery": Celery,
    "arq": Arq,
    "saq": Saq,
    "taskiq": Taskiq,
}


# -- measuring --------------------------------------------------------------------------
def start_worker(system: str, url: str, script: str = __file__) -> subprocess.Popen[bytes]:
    """`script --work system --url url`: the system's worker, in a process of its own."""
    return subprocess.Popen(
        [sys.executable, script, "--work", system, "--url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=os.path.dirname(os.path.abspath(__file__)),
    )


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_done(system: System, target: int, timeout: float = 300.0) -> tuple[float, int]:
    """Block until `target` jobs are done: (when the first of them finished, how many were done then)."""
    deadline = time.monotonic() + timeout
    first: tuple[float, int] | None = None
    while (done := system.done()) < target:
        if first is None and done > 0:
            first = (time.perf_counter(), done)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{system.name}: {done} of {target} done after {timeout}s")
        time.sleep(0.01)
    return first or (time.perf_counter(), done)


def measure(names: list[str], url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Every figure of every system, and the redis-py floor (under "floor"). The figures that
    host noise sways most (enqueue, pickup) are taken in rounds that alternate the systems, so a
    slow spell of the machine falls on all of them alike, not on whichever ran then."""
    figures: dict[str, dict[str, float]] = {name: {} for name in ["floor", *names]}
    urls = {name: f"{url.rsplit('/', 1)[0]}/{n}" for n, name in enumerate(names, 1)}  # a database each
    systems = {name: SYSTEMS[name](urls[name]) for name in names}
    per_round = {"one_by_one": args.one // args.rounds, "bulk": args.bulk // args.rounds}
    client = redis.Redis.from_url(url)
    spent: defaultdict[tuple[str, str], float] = defaultdict(float)  # (system, figure) -> seconds
    for _ in range(args.rounds):
        spent["floor", "one_by_one"] += timed(set_one_by_one, client, per_round["one_by_one"])
        for name, system in systems.items():
            spent[name, "one_by_one"] += timed(system.enqueue_one, per_round["one_by_one"])
            spent[name, "bulk"] += timed(system.enqueue_bulk, per_round["bulk"])
    for (name, key), seconds in spent.items():
        figures[name][key] = per_round[key] * args.rounds / seconds
    client.flushall()
    for name in names:
        figures[name].update(drain_backlog(SYSTEMS[name](urls[name]), urls[name], args.backlog))
    waits: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            waits[name] += pickup_ms(name, urls[name], args.latency // args.rounds)
    client.flushall()
    for name, ms in waits.items():
        ms.sort()
        figures[name]["p50_ms"] = statistics.median(ms)
        figures[name]["p99_ms"] = ms[int(len(ms) * 0.99) - 1]
    return figures


def timed(action: Callable[..., object], *args: Any) -> float:
    start = time.perf_counter()
    action(*args)
    return time.perf_counter() - start


def set_one_by_one(client: redis.Redis, n: int) -> None:
    """redis-py, one SET per round trip: the ceiling of any one-by-one enqueue (the floor)."""
    for i in range(n):
        client.set("floor", i)


def drain_backlog(system: System, url: str, backlog: int, script: str = __file__) -> dict[str, float]:
    """One worker process (`script`'s) draining `backlog` jobs: jobs/s timed from its first
    finished job (`worker`) and from its start (`from_start`), seconds from its start to its
    first finished job (`first_s`), its CPU time per job from its first finished job to its last
    (`cpu_us`), and its RSS once done. `system` is a fresh one: its counts start again with the
    emptied database. The worker is stopped whatever happens."""
    system.enqueue_bulk(backlog)
    launched = time.perf_counter()
    worker = start_worker(system.name, url, script)
    try:
        process = psutil.Process(worker.pid)
        started, already = wait_done(system, 1)
        cpu_at_first = cpu_seconds(process)
        if already == backlog:
            raise ValueError(
                f"{system.name}: all {backlog} jobs were done by the first look, too fast to time:"
                " use a larger backlog"
            )
        wait_done(system, backlog)
        finished = time.perf_counter()
        return {
            "worker": (backlog - already) / (finished - started),
            "from_start": backlog / (finished - launched),
            "first_s": started - launched,
            "cpu_us": (cpu_seconds(process) - cpu_at_first) / (backlog - already) * 1e6,
            "rss_mb": process.memory_info().rss / 2**20,
        }
    finally:
        stop_worker(worker)
        redis.Redis.from_url(url).flushdb()


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def pickup_ms(name: str, url: str, jobs: int) -> list[float]:
    """How long each of `jobs` lag jobs, enqueued 5 ms apart, waited for an idle worker (ms),
    from a fresh worker process that has run one job first."""
    system = SYSTEMS[name](url)
    warm_up = system.lag(time.time())
    worker = start_worker(name, url)
    try:
        warm_up()
        lags = []
        for _ in range(jobs):
            lags.append(system.lag(time.time()))
            time.sleep(0.005)
        return [result() * 1000 for result in lags]
    finally:
        stop_worker(worker)


def claim_ms(url: str, depth: int, cycles: int = 300) -> float:
    """Median ms of one worker round trip (complete 10 + claim 10) with `depth` jobs queued."""
    system = Taskheap(url)
    system.enqueue_bulk(depth)
    backend = system.app.backend
    times, done = [], []
    for _ in range(cycles):
        start = time.perf_counter()
        _, jobs = backend.complete_and_claim(done, ["default"], "bench", 10, 30.0)
        times.append(time.perf_counter() - start)
        done = [Completion(job.id, job.token, "null") for job in jobs]
    redis.Redis.from_url(url).flushdb()
    return statistics.median(times) * 1000


def idle_rss_mb(url: str, delayed: int, settle: float = 3.0) -> float:
    """RSS of an idle taskheap worker while `delayed` jobs wait an hour in the schedule."""
    system = Taskheap(url)
    for start in range(0, delayed, 5000):
        batch = range(start, min(delayed, start + 5000))
        system.app.enqueue_many([system.noop.options(delay=3600).job(i) for i in batch])
    worker = start_worker("taskheap", url)
    time.sleep(settle)
    rss = psutil.Process(worker.pid).memory_info().rss / 2**20
    stop_worker(worker)
    redis.Redis.from_url(url).flushdb()
    return rss


# -- the run ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def own_redis() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server_at = [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    server = subprocess.Popen([*server_at, "--save", ""], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return server, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def report(results: dict[str, dict[str, float]]) -> None:
    redis_floor = results.pop("floor")["one_by_one"]
    columns = [
        ("one_by_one", "enqueue 1-by-1/s"),
        ("bulk", "bulk/s"),
        ("worker", "1 worker jobs/s"),
        ("p50_ms", "pickup p50 ms"),
        ("p99_ms", "pickup p99 ms"),
        ("rss_mb", "worker RSS MB"),
    ]
    print(f"redis-py floor (one SET per round trip): {redis_floor:,.0f} ops/s")
    print("| system | " + " | ".join(title for _, title in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, figures in results.items():
        cells = [_cell(key, figures[key]) for key, _ in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")
    ours = results["taskheap"]
    for name, figures in results.items():
        if name != "taskheap":
            ratios = ", ".join(f"{key} ×{ours[key] / figures[key]:.2f}" for key, _ in columns)
            print(f"taskheap / {name}: {ratios}")
    print(f"taskheap one-by-one enqueue = {ours['one_by_one'] / redis_floor:.0%} of the redis-py floor")


def _cell(key: str, value: float) -> str:
    return f"{value:,.1f}" if key.endswith(("ms", "mb")) else f"{value:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", default="taskheap-prefetch,huey,rq,dramatiq,celery,arq,saq,taskiq")
    parser.add_argument("--one", type=int, default=5000, help="jobs enqueued one by one")
    parser.add_argument("--bulk", type=int, default=20000, help="jobs enqueued in bulk")
    parser.add_argument("--backlog", type=int, default=20000, help="jobs one worker drains")
    parser.add_argument("--latency", type=int, default=1000, help="jobs enqueued 5 ms apart")
    parser.add_argument("--depth", type=int, default=1_000_000, help="deep queue for claim cost (0: skip)")
    parser.add_argument("--delayed", type=int, default=100_000, help="delayed jobs for worker RSS (0: skip)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds alternating the systems (enqueue, pickup)"
    )
    work_or_measure(parser, SYSTEMS, measure_all)


def measure_all(args: argparse.Namespace, url: str) -> None:
    names = ["taskheap", *[p for p in args.peers.split(",") if p]]
    report(measure(names, url, args))
    if args.depth:
        shallow, deep = claim_ms(url, 10_000), claim_ms(url, args.depth)
        print(
            f"complete 10 + claim 10: {shallow:.3f} ms at 10,000 queued, {deep:.3f} ms at"
            f" {args.depth:,} queued (×{deep / shallow:.2f})"
        )
    if args.delayed:
        empty, full = idle_rss_mb(url, 0), idle_rss_mb(url, args.delayed)
        print(
            f"idle worker RSS: {empty:.1f} MB with no delayed job, {full:.1f} MB with"
            f" {args.delayed:,} delayed jobs"
        )


def work_or_measure(
    parser: argparse.ArgumentParser,
    systems: Mapping[str, Callable[[str], System]],
    measure: Callable[[argparse.Namespace, str], None],
) -> None:
    """The command line of a benchmark script: with the hidden `--work NAME --url URL` (what
    start_worker runs), that system's worker; else `measure(args, url)` on a redis-server of
    its own, stopped after."""
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work:
        systems[args.work](args.url).work()
        return
    server, url = own_redis()
    try:
        measure(args, url)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
