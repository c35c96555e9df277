"""Before/after on Redis: two or more versions of taskheap, measured alternately in one run.

Each version is a directory holding a `taskheap` package (e.g. `git archive <rev> taskheap | tar
-x -C /tmp/old`). Rounds alternate the versions, so machine noise falls on all of them alike.
  enqueue: jobs/s of `task.enqueue` one by one (best of 3 passes of --jobs) in a fresh process
  bulk:    the same with `app.enqueue_many` in batches of 5,000
  pickup:  one `taskheap worker -c 4`; --jobs lag jobs enqueued 5 ms apart; p50/p90/p99 in ms
  claim:   `backend.claim` of one job at a time (best of 3 passes of --jobs, in a fresh process):
           over queued jobs (the ZPOPMIN path), and right after each job's enqueue (the path of
           a worker woken by an enqueue: fresh jobs leased as they are stored), in claims/s and
           in Redis time per claim script (the least of the passes; from INFO commandstats, so
           measure on a Redis of your own)
  drain:   one `taskheap worker -c 4` process over a backlog of --jobs no-op jobs bulk-enqueued
           first: jobs/s from starting the worker until the last job is done

    python bench/redis_ab.py enqueue /tmp/old /work/main [--rounds 5] [--jobs 4000]
    python bench/redis_ab.py bulk /tmp/old /work/main [--rounds 5] [--jobs 20000]
    python bench/redis_ab.py pickup /tmp/old /work/main [--rounds 2] [--jobs 300]
    python bench/redis_ab.py claim /tmp/old /work/main [--rounds 5] [--jobs 2000]
    python bench/redis_ab.py drain /tmp/old /work/main [--rounds 3] [--jobs 20000]

Uses the Redis at --url (default: a database of its own on the loopback Redis) under a fresh
key prefix per measurement. Run it from a directory holding no `taskheap` (e.g. /tmp): the
current directory comes first on a child's import path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

SEND = {
    "enqueue": "for i in range({jobs}): noop.enqueue(i)",
    "bulk": "for s in range(0, {jobs}, 5000):"
    " app.enqueue_many([noop.job(i) for i in range(s, min({jobs}, s + 5000))])",
}
ENQUEUE = """
import sys, time, taskheap
app = taskheap.App(sys.argv[1])
noop = app.task(name="noop", retries=0)(lambda x: x)
noop.enqueue(0)  # opens the backend
best = 0.0
for _ in range(3):
    started = time.perf_counter()
    {send}
    best = max(best, {jobs} / (time.perf_counter() - started))
print(round(best))
"""

CLAIM = """
import sys, time, taskheap
app = taskheap.App(sys.argv[1])
noop = app.task(name="noop", retries=0)(lambda x: x)
backend = app.backend
noop.enqueue(0)
backend.claim(["default"], "w", 1, 30.0)  # the store and the scripts are set up

def evalsha():
    stats = backend.client.info("commandstats").get("cmdstat_evalsha", {{}})
    return stats.get("calls", 0), stats.get("usec", 0)

def timed(claims):
    calls, usec = evalsha()
    started = time.perf_counter()
    claims()
    seconds = time.perf_counter() - started
    after_calls, after_usec = evalsha()
    return {jobs} / seconds, (after_usec - usec) / max(1, after_calls - calls)

def queued():
    for _ in range({jobs}):
        backend.claim(["default"], "w", 1, 30.0)

def fresh():
    for i in range({jobs}):
        noop.enqueue(i)
        backend.claim(["default"], "w", 1, 30.0)

best = {{"queued": (0.0, 0.0), "fresh": (0.0, 0.0)}}
for _ in range(3):
    app.enqueue_many([noop.job(i) for i in range({jobs})])
    backend.counts()  # ingested: the claims pop the queued set
    for name, claims in (("queued", queued), ("fresh", fresh)):
        rate, usec = timed(claims)
        best[name] = (max(rate, best[name][0]), min(usec, best[name][1] or usec))
print("  ".join(f"{{name}} {{rate:.0f}}/s {{usec:.1f}} us" for name, (rate, usec) in best.items()))
"""

LAG_APP = """
import os, time, taskheap
app = taskheap.App(os.environ["AB_URL"], lease=30.0)

@app.task(name="noop", retries=0)
def noop(x: int) -> int:
    return x

@app.task(name="lag", retries=0)
def lag(sent_at: float) -> float:
    return time.time() - sent_at
"""


def enqueue_rate(version: str, url: str, how: str, jobs: int) -> str:
    code = ENQUEUE.format(jobs=jobs, send=SEND[how].format(jobs=jobs))
    out = subprocess.run([sys.executable, "-c", code, url], env=_env(version), capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


def claim_rate(version: str, url: str, jobs: int) -> str:
    code = CLAIM.format(jobs=jobs)
    out = subprocess.run([sys.executable, "-c", code, url], env=_env(version), capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


def pickup(url: str, jobs: int) -> str:
    """In a process whose PYTHONPATH holds the version and the lag app: the worker gets the same."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "taskheap", "-A", "ab_lag:app", "worker", "-c", "4"], stderr=subprocess.DEVNULL
    )
    try:
        import ab_lag  # type: ignore[import-not-found]

        time.sleep(2.0)  # the worker is up and idle
        handles = []
        for _ in range(jobs):
            handles.append(ab_lag.lag.enqueue(time.time()))
            time.sleep(0.005)
        waits = sorted(handle.result(timeout=30) * 1000 for handle in handles)
    finally:
        worker.terminate()
        worker.wait()
    p50, p90, p99 = statistics.median(waits), waits[int(jobs * 0.9)], waits[int(jobs * 0.99) - 1]
    return f"p50 {p50:.2f}  p90 {p90:.2f}  p99 {p99:.2f} ms"


def drain(jobs: int) -> str:
    """In a process whose PYTHONPATH holds the version and the app: the backlog bulk-enqueued
    (not timed), then one worker process, timed from its start until the last job is done."""
    import ab_lag  # type: ignore[import-not-found]

    app = ab_lag.app
    for start in range(0, jobs, 5000):
        app.enqueue_many([ab_lag.noop.job(i) for i in range(start, min(jobs, start + 5000))])
    app.admin.counts()  # ingested before the clock starts, as a worker would find a backlog

    def done() -> int:
        return int(app.admin.counts().get("default", {}).get("succeeded", 0))

    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "taskheap", "-A", "ab_lag:app", "worker", "-c", "4"], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 300
        while done() < jobs:
            if time.monotonic() > deadline:
                return f"timed out at {done()} of {jobs}"
            time.sleep(0.01)
        seconds = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait()
    return f"{jobs / seconds:.0f} jobs/s"


def _env(version: str, workdir: str = "", url: str = "") -> dict[str, str]:
    paths = os.pathsep.join(p for p in (version, workdir) if p)
    return {**os.environ, "PYTHONPATH": paths, "AB_URL": url}


def _forget(url: str, prefixes: list[str]) -> None:
    import redis

    client = redis.Redis.from_url(url.split("?")[0])
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{{{prefix}*"))
        if keys:
            client.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["enqueue", "bulk", "pickup", "claim", "drain"])
    parser.add_argument("versions", nargs="+")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args()
    workdir = os.path.join("/tmp", f"redis-ab-{uuid.uuid4().hex[:8]}")
    os.makedirs(workdir)
    with open(os.path.join(workdir, "ab_lag.py"), "w") as module:
        module.write(LAG_APP)
    prefixes: list[str] = []
    for round_number in range(1, args.rounds + 1):
        for version in args.versions:
            prefixes.append(f"ab-{uuid.uuid4().hex[:8]}")
            url = f"{args.url}?prefix={prefixes[-1]}"
            if args.what in SEND:
                jobs = args.jobs or (20000 if args.what == "bulk" else 4000)
                figure = enqueue_rate(version, url, args.what, jobs) + " jobs/s"
            elif args.what == "claim":
                figure = claim_rate(version, url, args.jobs or 2000)
            else:  # a fresh process per version, so it imports that version's taskheap
                jobs = args.jobs or (20000 if args.what == "drain" else 300)
                command = [sys.executable, __file__, f"_{args.what}", url, str(jobs)]
                figure = subprocess.run(
                    command, env=_env(version, workdir, url), capture_output=True, text=True
                ).stdout.strip()
            print(f"round {round_number}  {version}: {figure}", flush=True)
    _forget(args.url, prefixes)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_pickup"]:
        print(pickup(sys.argv[2], int(sys.argv[3])))
    elif sys.argv[1:2] == ["_drain"]:
        print(drain(int(sys.argv[3])))
    else:
        main()
