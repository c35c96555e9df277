"""A flood: one worker process (`-A tests.faults.flood_tasks:app`) on a store, a feeder in the test
process, and a sampler of the worker's RSS (/proc/PID/status) and the store's size.

Ground truth is the flood ledger (flood_tasks.py): the keys that ran. The store answers only
what it holds: its size, and how many succeeded jobs it still keeps (which retention must prune).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import taskheap
from taskheap.job import JobState
from taskheap.task import JobSpec
from tests.conftest import wait_for
from tests.faults import flood_tasks
from tests.faults.harness import REPO, CaseResult, backend_name
from tests.faults.store_runs import python_env

RETENTION = 2.0  # seconds the workers keep finished jobs (the App's result_ttl)
BACKLOG = 10_000  # the feeder keeps at most this many jobs waiting in the store
BATCH = 1_000  # jobs per enqueue_many
SAMPLE_EVERY = 0.25
WAITING = (JobState.QUEUED, JobState.SCHEDULED, JobState.RETRYING, JobState.RUNNING)
MIN_RATE = 200.0  # jobs/s: a wait for N jobs gives up after N / MIN_RATE s (plus a minute)


@dataclass
class Sample:
    at: float  # monotonic
    rss: int  # bytes, the worker's
    store: int  # bytes, the store's (file, used_memory or relation sizes)
    held: int  # succeeded jobs the store still keeps


@dataclass
class Phase:
    name: str
    jobs: int
    started: float
    runs_before: int = 0  # the ledger's runs when it started
    runs: int = 0  # its runs, repeats included
    ended: float = 0.0
    samples: list[Sample] = field(default_factory=list)


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class Flood:
    def __init__(self, path: Path, url: str, store_size: Callable[[], int]) -> None:
        self.path = path
        self.url = url
        self.store_size = store_size
        self.app = taskheap.App(url, result_ttl=RETENTION)
        self.tasks = flood_tasks.declare(self.app)
        self.ledger = path / "ledger"
        self._ran: set[str] = set()
        self.runs = 0  # lines in the ledger: runs, repeats included
        self._offset = 0
        self.log = path / "worker.log"
        env = {
            **python_env(),
            "TASKHEAP_URL": url,
            "FLOOD_LEDGER": str(self.ledger),
            "FLOOD_RETENTION": str(RETENTION),
        }
        env.pop("TASKHEAP_APP", None)
        command = [
            sys.executable,
            "-m",
            "taskheap",
            "-A",
            "tests.faults.flood_tasks:app",
            "worker",
            "-c",
            "4",
        ]
        with open(self.log, "wb") as log:
            self.worker = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        # The memory baseline is of a worker at work, not of one still importing its modules:
        # under load that takes longer than the first quarter of a CI-sized phase.
        wait_for(self._serving, 60, "the flood worker to register")
        self.phases: list[Phase] = []
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="flood-sampler", daemon=True)
        self._sampler.start()

    # -- measuring ----------------------------------------------------------------------
    def _serving(self) -> bool:
        assert self.alive(), f"the flood worker exited:\n{self.log.read_text()}"
        return any(w["pid"] == self.worker.pid for w in self.app.admin.workers())

    def held(self) -> int:
        """Succeeded jobs the store still keeps."""
        return self._count((JobState.SUCCEEDED,))

    def waiting(self) -> int:
        return self._count(WAITING)

    def _count(self, states: Iterable[JobState]) -> int:
        counts = self.app.backend.counts()
        return sum(by_state.get(state, 0) for by_state in counts.values() for state in states)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            if self.worker.poll() is not None or not self.phases:
                continue
            sample = Sample(time.monotonic(), rss_of(self.worker.pid), self.store_size(), self.held())
            self.phases[-1].samples.append(sample)

    def ran(self) -> int:
        """Distinct keys that ran, reading what the ledger gained since the last call."""
        with open(self.ledger, "rb") as ledger:
            ledger.seek(self._offset)
            data = ledger.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        keys = complete.decode().split()
        self.runs += len(keys)
        self._ran.update(keys)
        return len(self._ran)

    # -- flooding -----------------------------------------------------------------------
    def flood(self, name: str, specs: Iterable[JobSpec], jobs: int, *, capped: bool = True) -> Phase:
        """Enqueue `specs` (`jobs` of them) in batches, keeping at most BACKLOG waiting when
        `capped`, and wait until every one has run."""
        phase = Phase(name, jobs, time.monotonic(), runs_before=self.runs)
        self.phases.append(phase)
        expected = len(self._ran) + jobs
        batch: list[JobSpec] = []
        for spec in specs:
            batch.append(spec)
            if len(batch) == BATCH:
                self._send(batch, capped)
                batch = []
        self._send(batch, capped)
        wait_for(lambda: self.ran() >= expected, jobs / MIN_RATE + 60, f"{jobs} {name} jobs run")
        phase.ended = time.monotonic()
        phase.runs = self.runs - phase.runs_before
        return phase

    def _send(self, batch: list[JobSpec], capped: bool) -> None:
        if capped:
            wait_for(lambda: self.waiting() < BACKLOG, BACKLOG / MIN_RATE + 60, "the backlog to drain")
        if batch:
            self.app.enqueue_many(batch)

    def pruned(self, timeout: float) -> float:
        """Seconds until the store keeps no succeeded job (retention pruned them all)."""
        started = time.monotonic()
        phase = Phase("prune", 0, started)
        self.phases.append(phase)
        try:
            wait_for(lambda: self.held() == 0, timeout, "every succeeded job pruned")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.held()} still stored") from None
        phase.ended = time.monotonic()
        return phase.ended - started

    def alive(self) -> bool:
        return self.worker.poll() is None

    def close(self) -> None:
        self._stop.set()
        self._sampler.join(10)
        if self.worker.poll() is None:
            self.worker.kill()
        self.worker.wait(10)
        self.app.close()

    # -- the verdict --------------------------------------------------------------------
    def verdict(self, phase: Phase, mode: str) -> CaseResult:
        """The phase's figures. It ended when all its jobs had run (else it failed), so nothing
        of it was lost; a run beyond one per job is a duplicate start."""
        samples = phase.samples or [Sample(phase.ended, 0, 0, 0)]
        seconds = max(phase.ended - phase.started, 1e-9)
        return CaseResult(
            case=f"flood-{phase.name}",
            backend=backend_name(self.url),
            mode=mode,
            accepted=phase.jobs,
            lost=0,
            duplicate_starts=phase.runs - phase.jobs,
            stale_accepted=0,
            dead_by_reason={},
            recovery_s=[],
            extra={
                "seconds": round(seconds, 2),
                "jobs_per_s": round(phase.jobs / seconds),
                "rss_mb_first": mb(samples[0].rss),
                "rss_mb_max": mb(max(s.rss for s in samples)),
                "rss_mb_last": mb(samples[-1].rss),
                "store_mb_max": mb(max(s.store for s in samples)),
                "store_mb_last": mb(samples[-1].store),
                "held_max": max(s.held for s in samples),
            },
        )


def mb(count: int) -> float:
    return round(count / 2**20, 1)


def file_size(path: Path) -> Callable[[], int]:
    """A SQLite store's bytes: the database file and its WAL."""

    def size() -> int:
        return sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if p.exists())

    return size
