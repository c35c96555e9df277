"""A run the store-restart cases share: a FaultLab on a private store, worker processes, and a
producer process enqueueing all along; the figures a restart adds to the harness's verdict.

"Lost" is the harness's (CaseResult.lost: an acknowledged enqueue, as the producer's file records
it, that is not succeeded or dead at the end, or succeeded with no ledger "done" for its stored
nonce). A job that "ran twice" finished its work (a ledger "done") more than once: an
acknowledged completion the store forgot, or a run whose completion never reached it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import wait_for
from tests.faults.harness import REPO, SETTLED, FaultLab, FaultWorker, LedgerEvent
from tests.faults.producer import Accepted, accepted

WORKERS = 2
CONCURRENCY = "4"
JOB_SECONDS = 0.05
ENQUEUE_EVERY = 0.01  # the producer's pace: about half of what the workers can run
TIMEOUT = 60.0  # a bound on each wait, which a healthy run meets in a few seconds


class StoreRun:
    """The lab, its workers and its producer; `close()` kills whatever is left."""

    def __init__(self, path: Path, url: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.lab = FaultLab(path, url)
        self.accepted_file = path / "accepted"
        self.producer: subprocess.Popen[bytes] | None = None
        self.producer_log = path / "producer.log"
        self.generation = 0  # lab.workers[generation:] are those started since the last kill_all

    def start(self) -> None:
        self.start_workers()
        self.start_producer()

    def start_workers(self) -> list[FaultWorker]:
        return [self.lab.worker("-c", CONCURRENCY) for _ in range(WORKERS)]

    def start_producer(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        command = [sys.executable, "-m", "tests.faults.producer"]
        args = [self.lab.url, str(self.accepted_file), str(JOB_SECONDS), str(ENQUEUE_EVERY)]
        with open(self.producer_log, "ab") as log:
            self.producer = subprocess.Popen([*command, *args], cwd=REPO, env=env, stdout=log, stderr=log)

    def stop_producer(self) -> None:
        """SIGTERM: the producer finishes the enqueue in flight and exits."""
        assert self.producer is not None
        self.producer.terminate()
        self.producer.wait(TIMEOUT)

    def kill_all(self, then: Callable[[], None] = lambda: None) -> None:
        """SIGKILL to every worker and the producer, one right after the other, and `then()`
        (the store's kill) before reaping them."""
        for process in self.processes():
            process.send_signal(signal.SIGKILL)
        then()
        for process in self.processes():
            process.wait(TIMEOUT)
        self.generation = len(self.lab.workers)

    def processes(self) -> list[subprocess.Popen[bytes]]:
        alive = [worker.proc for worker in self.lab.workers if worker.alive()]
        if self.producer is not None and self.producer.poll() is None:
            alive.append(self.producer)
        return alive

    def wait_done(self, count: int, *, after: float = 0.0) -> None:
        """Until `count` runs that started after `after` (monotonic) have finished their work."""
        wait_for(lambda: len(self.finished(after)) >= count, TIMEOUT, f"{count} runs done after {after}")

    def finished(self, after: float) -> list[LedgerEvent]:
        """The "done" events of runs that started after `after`."""
        events = self.lab.ledger.events()
        late = {e.nonce for e in events if e.kind == "start" and e.at > after}
        return [e for e in events if e.kind == "done" and e.nonce in late]

    def recovery(self, after: float) -> float:
        """Seconds from `after` until the first run started after it finished its work."""
        self.wait_done(1, after=after)
        return min(e.at for e in self.finished(after)) - after

    def adopt(self) -> list[Accepted]:
        """The producer's acknowledged enqueues become the lab's accepted jobs."""
        found = accepted(self.accepted_file)
        for one in found:
            self.lab.jobs[one.key] = one.job_id
            self.lab.enqueued_at[one.key] = one.at
            self.lab.priorities[one.key] = self.lab.tasks["job"].defaults.priority
        return found

    def settle(self, timeout: float = TIMEOUT) -> None:
        """Until every accepted job is succeeded, dead or gone from the store (a mode that may
        lose: what is gone stays gone, and the harness counts it lost)."""
        pending = set(self.lab.jobs)

        def settled() -> bool:
            for key, found in self.lab.records(list(pending)).items():
                if found is None or found.state in SETTLED:
                    pending.discard(key)
            return not pending

        wait_for(settled, timeout, "every accepted job settled or gone")

    def ran_twice(self) -> int:
        """Jobs whose work finished (ledger "done") more than once."""
        return sum(1 for nonces in self.lab.ledger.done().values() if len(nonces) > 1)

    def lost_window(self, killed_at: float) -> float:
        """How long before the kill the earliest job gone from the store had its enqueue
        acknowledged (0: none gone)."""
        gone = [key for key, found in self.lab.records().items() if found is None]
        times = [self.lab.enqueued_at[key] for key in gone]
        return round(max(0.0, killed_at - min(times)), 3) if times else 0.0

    def workers_alive(self) -> bool:
        """Every worker started since the last `kill_all` still runs."""
        return all(worker.alive() for worker in self.lab.workers[self.generation :])

    def logs(self) -> str:
        return "\n".join(f"--- worker {w.pid} ---\n{w.output()[-3000:]}" for w in self.lab.workers)

    def close(self) -> None:
        if self.producer is not None and self.producer.poll() is None:
            self.producer.kill()
            self.producer.wait(TIMEOUT)
        self.lab.close()


def python_env() -> dict[str, str]:
    """This process's environment, with the repository on PYTHONPATH (for `-m tests.faults...`)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def now() -> float:
    return time.monotonic()
