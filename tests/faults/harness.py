"""The fault suite's shared harness: the ledger, the lab (an App, worker subprocesses), the
verdict every case reports, and the results file.

Ground truth is the ledger the tasks write (tests/faults/fault_tasks.py) and the job records the
store returns through the Admin API (state, stored result, error); never the queue's counters.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import taskheap
from taskheap.backends.base import JobRecord
from taskheap.codec import decode_result
from taskheap.job import JobState
from tests.conftest import wait_for
from tests.faults import fault_tasks

REPO = Path(__file__).resolve().parents[2]
SETTLED = frozenset({JobState.SUCCEEDED, JobState.DEAD})
TASKS_APP = "tests.faults.fault_tasks:app"
NOTES_KEPT = 20  # details a CaseResult keeps of what went wrong (the first ones)


class LedgerEvent(NamedTuple):
    at: float  # time.monotonic() of the process that wrote it
    kind: str  # "start" or "done"
    key: str
    nonce: str
    pid: int


class Ledger:
    """The lines the tasks appended, read afresh on every call."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[LedgerEvent]:
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text().splitlines():
            at, kind, key, nonce, pid = line.split(" ")
            events.append(LedgerEvent(float(at), kind, key, nonce, int(pid)))
        return events

    def _by_key(self, kind: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for event in self.events():
            if event.kind == kind:
                found.setdefault(event.key, []).append(event.nonce)
        return found

    def starts(self) -> dict[str, list[str]]:
        """key -> the nonces of its runs, in start order."""
        return self._by_key("start")

    def done(self) -> dict[str, list[str]]:
        """key -> the nonces of its runs that finished their work."""
        return self._by_key("done")

    def running(self, pids: Iterable[int] | None = None) -> list[LedgerEvent]:
        """The starts with no "done" yet (of these processes only, if given)."""
        events = self.events()
        finished = {e.nonce for e in events if e.kind == "done"}
        wanted = None if pids is None else set(pids)
        return [
            e
            for e in events
            if e.kind == "start" and e.nonce not in finished and (wanted is None or e.pid in wanted)
        ]

    def all_ran_at_once(self, keys: Iterable[str]) -> bool:
        """Whether some moment saw a run of every one of these keys under way (their last runs,
        all finished): the slots that ran them were all alive."""
        wanted = set(keys)
        began: dict[str, float] = {}
        ended: dict[str, float] = {}
        for event in self.events():
            if event.key in wanted:
                (began if event.kind == "start" else ended)[event.key] = event.at
        return set(ended) == wanted and max(began.values()) < min(ended.values())

    def first_start(self, keys: Iterable[str], *, after: float) -> float | None:
        """When the first of these keys started again after `after` (monotonic), if it has."""
        wanted = set(keys)
        times = [e.at for e in self.events() if e.kind == "start" and e.key in wanted and e.at > after]
        return min(times, default=None)


@dataclass
class CaseResult:
    case: str
    backend: str
    mode: str
    accepted: int  # enqueues that returned
    lost: int  # accepted but not succeeded/dead at the end, or succeeded with no "done" for its nonce
    duplicate_starts: int  # starts beyond the first, summed over jobs
    stale_accepted: int  # succeeded jobs whose stored nonce is not that of their last start
    dead_by_reason: dict[str, int]
    recovery_s: list[float]  # per fault injected: seconds until the work resumed (case-defined)
    inversions: int = 0  # starts while a better-priority job had waited longer than the window
    extra: dict[str, Any] = field(default_factory=dict)  # a case's own figures
    notes: list[str] = field(default_factory=list)  # the first things that went wrong, for messages

    def check(self, *, may_lose: bool = False) -> None:
        """Nothing lost (unless the mode may lose) and no stale completion accepted."""
        problems = []
        if self.lost and not may_lose:
            problems.append(f"{self.lost} of {self.accepted} accepted jobs lost")
        if self.stale_accepted:
            problems.append(f"{self.stale_accepted} stale completions accepted")
        assert not problems, (
            f"{self.case} on {self.backend} {self.mode}: {'; '.join(problems)}\n" + "\n".join(self.notes)
        )


def record(result: CaseResult) -> None:
    """One JSON line onto $TASKHEAP_FAULTS_RESULTS, if set (appended as the ledger is)."""
    path = os.environ.get("TASKHEAP_FAULTS_RESULTS")
    if path:
        line = json.dumps({**asdict(result), "at": time.time()}, sort_keys=True)
        fault_tasks.append_line(path, line + "\n")


def repeats() -> int:
    """How many times a case repeats: $TASKHEAP_FAULTS_REPEAT, 1 unless set (the full run: 5)."""
    return max(1, int(os.environ.get("TASKHEAP_FAULTS_REPEAT", "1")))


def run_case(run: Callable[[], CaseResult], *, may_lose: bool = False) -> list[CaseResult]:
    """`run()` repeats() times (each call makes its own lab), each result recorded and checked."""
    results = []
    for _ in range(repeats()):
        results.append(run())
        record(results[-1])
        results[-1].check(may_lose=may_lose)
    return results


def backend_name(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return "sqlite"
    if parts.scheme.startswith("postgres"):
        return "postgres"
    return "redis-cluster" if "cluster" in parts.scheme or "cluster" in parse_qs(parts.query) else "redis"


def reason_of(error: str | None) -> str:
    """A dead job's error as a reason to count by: its first line, numbers as N."""
    first = (error or "no error recorded").splitlines()[0]
    return re.sub(r"\d+(\.\d+)?", "N", first)[:80]


class FaultWorker:
    """A worker subprocess: `python -m taskheap -A tests.faults.fault_tasks:app worker ...`,
    after `wrap` if given (a command that execs the rest, so that the PID stays the worker's)."""

    def __init__(
        self, lab: FaultLab, args: Sequence[str], env: dict[str, str] | None, wrap: Sequence[str] = ()
    ) -> None:
        self.log = lab.path / f"worker-{len(lab.workers)}.log"
        environment = {
            **os.environ,
            "TASKHEAP_URL": lab.url,
            "FAULT_LEDGER": str(lab.ledger.path),
            "FAULT_LEASE": str(lab.lease),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            **(env or {}),
        }
        environment.pop("TASKHEAP_APP", None)
        command = [
            *wrap,
            sys.executable,
            "-m",
            "taskheap",
            "-v",
            "-A",
            "tests.faults.fault_tasks:app",
            "worker",
            *args,
        ]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            self.proc.send_signal(signum)

    def kill(self) -> float:
        """SIGKILL; returns when (monotonic) it was sent."""
        return self._send(signal.SIGKILL)

    def term(self) -> float:
        return self._send(signal.SIGTERM)

    def stop(self) -> float:
        """SIGSTOP: the process and its threads freeze (its children, if any, do not)."""
        return self._send(signal.SIGSTOP)

    def cont(self) -> float:
        return self._send(signal.SIGCONT)

    def _send(self, signum: int) -> float:
        at = time.monotonic()
        self.signal(signum)
        return at

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"worker {self.pid} did not exit; log:\n{self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)  # a stopped process cannot be reaped
            self.proc.kill()
        self.proc.wait(10)


class FaultLab:
    """A directory, an App on the URL (the fault tasks declared on it), the ledger, workers."""

    def __init__(self, path: Path, url: str, *, lease: float = 2.0) -> None:
        self.path = path
        self.url = url
        self.lease = lease
        self.backend = backend_name(url)
        self.ledger = Ledger(path / "ledger")
        self.app = taskheap.App(url, lease=lease)
        self.tasks = fault_tasks.declare(self.app)
        self.jobs: dict[str, str] = {}  # key -> job id, of the accepted enqueues
        #: name -> job id, of jobs written around the App (raw rows): they must settle, and the
        #: dead count by reason, but they write no ledger.
        self.foreign: dict[str, str] = {}
        self.priorities: dict[str, int] = {}
        self.enqueued_at: dict[str, float] = {}  # key -> monotonic time its enqueue returned
        self.refused = 0  # enqueues that raised (with `tolerate`)
        self.workers: list[FaultWorker] = []
        #: Inversions count a better-priority job only once it has waited this long (the jobs a
        #: worker prefetched before it was enqueued may still start first).
        self.prefetch_window = 0.25
        self._counter = 0

    def enqueue(
        self,
        count: int,
        *,
        seconds: float = 0.0,
        task: str = "job",
        how: str = "exit",
        args: tuple[Any, ...] | None = None,
        tolerate: tuple[type[BaseException], ...] = (),
        **options: Any,
    ) -> list[str]:
        """Enqueue `count` jobs one by one, each given its key and then `args` if given, else
        (task "crash") `how`, else `seconds`; the keys of those whose enqueue returned. An
        enqueue raising one of `tolerate` is counted in `refused` and skipped."""
        chosen = self.tasks[task].options(**options) if options else self.tasks[task]
        keys = []
        for _ in range(count):
            self._counter += 1
            key = f"{task}-{self._counter}"
            try:
                rest = args if args is not None else (how,) if task == "crash" else (seconds,)
                handle = chosen.enqueue(key, *rest)
            except tolerate:
                self.refused += 1
                continue
            self.jobs[key] = handle.id
            self.enqueued_at[key] = time.monotonic()
            self.priorities[key] = options.get("priority", self.tasks[task].defaults.priority)
            keys.append(key)
        return keys

    def worker(self, *args: str, env: dict[str, str] | None = None, wrap: Sequence[str] = ()) -> FaultWorker:
        process = FaultWorker(self, args, env, wrap)
        self.workers.append(process)
        return process

    def records(self, keys: Iterable[str] | None = None) -> dict[str, JobRecord | None]:
        """Each accepted job as stored, the foreign ones too (of these keys, if given)."""
        ids = self.jobs | self.foreign
        return {key: self.app.admin.record(ids[key]) for key in (ids if keys is None else keys)}

    def drain(self, timeout: float) -> None:
        """Wait until every accepted job (and every foreign one) is succeeded or dead."""
        pending = set(self.jobs) | set(self.foreign)

        def settled() -> bool:
            for key, found in self.records(list(pending)).items():
                if found is not None and found.state in SETTLED:
                    pending.discard(key)
            return not pending

        try:
            wait_for(settled, timeout, "every accepted job succeeded or dead")
        except AssertionError:
            states = {
                k: None if r is None else str(r.state) for k, r in self.records(sorted(pending)).items()
            }
            raise AssertionError(
                f"{len(pending)} of {len(self.jobs)} jobs unsettled after {timeout}s: "
                f"{dict(list(states.items())[:NOTES_KEPT])}\n{self._logs()}"
            ) from None

    def _logs(self) -> str:
        return "\n".join(f"--- worker {w.pid} ---\n{w.output()[-3000:]}" for w in self.workers)

    def verdict(self, case: str, mode: str = "", *, recovery_s: Sequence[float] = ()) -> CaseResult:
        """The figures, from the ledger and the job records the store returns."""
        events = self.ledger.events()
        starts: dict[str, list[str]] = {}
        done: set[tuple[str, str]] = set()
        for event in events:
            if event.kind == "start":
                starts.setdefault(event.key, []).append(event.nonce)
            elif event.kind == "done":
                done.add((event.key, event.nonce))
        lost = stale = 0
        dead: dict[str, int] = {}
        notes: list[str] = []
        for key, found in self.records().items():
            if found is None or found.state not in SETTLED:
                lost += 1
                notes.append(f"{key}: {'no record' if found is None else found.state}")
            elif found.state == JobState.DEAD:
                reason = reason_of(found.error)
                dead[reason] = dead.get(reason, 0) + 1
            elif key in self.jobs:
                nonce = decode_result(found.result)
                if (key, nonce) not in done:
                    lost += 1
                    notes.append(f"{key}: succeeded with {nonce!r}, whose run never finished in the ledger")
                if nonce != starts.get(key, [""])[-1]:
                    stale += 1
                    notes.append(f"{key}: stored {nonce!r}, its last start was {starts.get(key)}")
        return CaseResult(
            case=case,
            backend=self.backend,
            mode=mode,
            accepted=len(self.jobs) + len(self.foreign),
            lost=lost,
            duplicate_starts=sum(len(starts.get(key, [])[1:]) for key in self.jobs),
            stale_accepted=stale,
            dead_by_reason=dead,
            recovery_s=list(recovery_s),
            inversions=self.inversions(events),
            notes=notes[:NOTES_KEPT],
        )

    def inversions(self, events: Sequence[LedgerEvent] | None = None) -> int:
        """Starts of a job while an accepted job of a better (lower) priority had been waiting,
        enqueued and not yet started, for longer than `prefetch_window`."""
        first: dict[str, float] = {}
        for event in self.ledger.events() if events is None else events:
            if event.kind == "start" and event.key in self.jobs:
                first.setdefault(event.key, event.at)
        count = 0
        for key, at in first.items():
            if any(
                self.priorities[other] < self.priorities[key]
                and self.enqueued_at[other] < at - self.prefetch_window
                and first.get(other, float("inf")) > at
                for other in self.jobs
            ):
                count += 1
        return count

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self.app.close()


def slots_all_alive(lab: FaultLab, worker: FaultWorker, slots: int) -> None:
    """`slots` jobs enqueued now run at the same time (each waits up to 10 s for the others):
    no slot was lost."""
    keys = lab.enqueue(slots, task="meet", args=(slots, 10.0))
    lab.drain(60.0)
    runs = [e for e in lab.ledger.events() if e.key in keys]
    assert lab.ledger.all_ran_at_once(keys), f"{slots} slots did not run at once: {runs}\n{worker.output()}"
    assert worker.alive(), worker.output()
