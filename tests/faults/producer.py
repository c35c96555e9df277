"""A producer process the fault suite can SIGKILL with the rest: `python -m tests.faults.producer
URL ACCEPTED SECONDS INTERVAL`.

Enqueues fault-task `job`s (each `SECONDS` long) one by one, one every `INTERVAL` seconds, until
killed or terminated. Each enqueue that returned is appended to ACCEPTED as "<key> <job id>
<monotonic>" with fsync (fault_tasks.append_line), after the return: a line in the file is an
acknowledged enqueue, whatever kills the process next. An enqueue that raises (the store is down)
is counted on stderr and the next one tried: those were never acknowledged.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import NamedTuple

import taskheap
from tests.faults import fault_tasks


class Accepted(NamedTuple):
    key: str
    job_id: str
    at: float  # time.monotonic() when its enqueue returned


def accepted(path: Path) -> list[Accepted]:
    """The enqueues the producer saw return, in order."""
    if not path.exists():
        return []
    lines = [line.split(" ") for line in path.read_text().splitlines()]
    return [Accepted(key, job_id, float(at)) for key, job_id, at in lines]


def produce(url: str, out: Path, seconds: float, interval: float) -> None:
    app = taskheap.App(url)
    job = fault_tasks.declare(app)["job"]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    count = refused = 0
    while not stopping:
        count += 1
        key = f"p{os.getpid()}-{count}"  # a producer started after a kill has keys of its own
        try:
            handle = job.enqueue(key, seconds)
        except taskheap.TaskheapError as exc:
            refused += 1
            print(f"enqueue {key} refused: {exc}", file=sys.stderr, flush=True)
        else:
            fault_tasks.append_line(str(out), f"{key} {handle.id} {time.monotonic():.6f}\n")
        time.sleep(interval)  # the producer's pace, not a wait for anything
    app.close()
    print(f"produced {count - refused}, refused {refused}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    produce(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
