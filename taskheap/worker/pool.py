"""Execution slots: threads, or child processes (really killable on timeout).

A pool pulls claimed jobs from its inbox, calls `started(job)` as each would begin (False: it must
not, its lease has lapsed: the slot skips it without a report) and
`report(job, outcome)` as each ends. `timed_out(job)` abandons a job that ran too long: its
slot is replaced, and whatever it later returns is dropped; it says what became of the run, for
the log. `async def` tasks run on an event loop beside these pools (async_pool.py).

No job can take a slot down: `run_job` turns whatever a task does into an Outcome, and should a
slot's own code still raise while it runs a job, the job is reported failed with that error
(and logged), never left running, and the slot goes on.
"""

from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback as tb
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, Protocol, TypeVar

from .. import progress
from ..backends.base import ClaimedJob
from ..context import use_child_flag
from ..middleware import Chain
from .runner import Outcome, run_job

Report = Callable[[ClaimedJob, Outcome], None]
Started = Callable[[ClaimedJob], bool]

log = logging.getLogger("taskheap.worker")
_O = TypeVar("_O", Outcome, Outcome | None)
#: Seconds a slot waits for a new child to import the app before giving it jobs anyway (the
#: first job's timeout, if it has one, then applies as before).
CHILD_START_TIMEOUT = 60.0
CHILD_EXIT_WAIT = 5.0  # seconds a child whose pipe closed gets to be reaped


def _guarded(run: Callable[[ClaimedJob], _O], job: ClaimedJob) -> _O | Outcome:
    """`run(job)`; if it raises anyway (a slot's own failure, not the job's), a failed Outcome
    naming the error, so the job is reported rather than lost with its slot."""
    try:
        return run(job)
    except BaseException as exc:
        log.error("a slot failed running job %s", job.id, exc_info=True)
        return slot_failure(exc)


def may_start(started: Started, job: ClaimedJob, report: Report) -> bool:
    """`started(job)`; if it raises (the worker's own failure), the job is reported failed, not
    lost with the slot."""
    try:
        return started(job)
    except BaseException as exc:
        log.error("a slot failed starting job %s", job.id, exc_info=True)
        report(job, slot_failure(exc))
        return False


def slot_failure(exc: BaseException) -> Outcome:
    return Outcome(error=f"worker slot failed: {type(exc).__name__}: {exc}", traceback=tb.format_exc())


class Slots(Protocol):
    """What the worker runs jobs through: a pool, or a pool and the event loop (async_pool.py)."""

    def submit(self, job: ClaimedJob) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def take_unstarted(self) -> list[ClaimedJob]: ...
    def timed_out(self, job: ClaimedJob) -> str: ...
    def cancel(self, job: ClaimedJob) -> bool:
        """Act on a cancel request for a started job (`current_job().cancelled` is True
        already): True if its run is to be killed after the worker's cancel grace (a process
        child); a thread's job is cooperative, a coroutine is cancelled here."""
        ...


class _Inbox:
    """Claimed jobs waiting for a free slot."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[ClaimedJob | None] = queue.SimpleQueue()

    def submit(self, job: ClaimedJob) -> None:
        self.inbox.put(job)

    def take_unstarted(self) -> list[ClaimedJob]:
        jobs: list[ClaimedJob] = []
        while True:
            try:
                job = self.inbox.get_nowait()
            except queue.Empty:
                return jobs
            if job is not None:
                jobs.append(job)


class ThreadPool(_Inbox):
    """With threads a timed-out function cannot be stopped: the job is failed at once and a new
    slot replaces the old, but the old thread runs on until the function returns."""

    def __init__(
        self, tasks: Mapping[str, Any], middleware: Chain, size: int, started: Started, report: Report
    ) -> None:
        self.tasks = tasks
        self.middleware = middleware
        self.size = size
        self.started = started
        self.report = report
        super().__init__()
        self._abandoned: set[str] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for _ in range(self.size):
            self._spawn()

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._slot, name="taskheap-slot", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _slot(self) -> None:
        while (job := self.inbox.get()) is not None:
            if not may_start(self.started, job, self.report):
                continue
            outcome = _guarded(self._run, job)
            if job.id in self._abandoned:
                self._abandoned.discard(job.id)
                return  # a replacement slot took this one's place
            self.report(job, outcome)

    def _run(self, job: ClaimedJob) -> Outcome:
        return run_job(self.tasks, job, self.middleware)

    def timed_out(self, job: ClaimedJob) -> str:
        self._abandoned.add(job.id)
        self._spawn()
        return "its thread abandoned, a new slot started"

    def cancel(self, job: ClaimedJob) -> bool:
        return False  # a thread cannot be stopped: the task polls current_job().cancelled

    def stop(self) -> None:
        for _ in self._threads:
            self.inbox.put(None)


class ProcessPool(_Inbox):
    """One child process per slot, started with `spawn`; the child imports the app itself."""

    def __init__(self, app_path: str, size: int, started: Started, report: Report) -> None:
        self.app_path = app_path
        self.size = size
        self.started = started
        self.report = report
        super().__init__()
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_ProcessSlot] = []

    def start(self) -> None:
        for _ in range(self.size):
            slot = _ProcessSlot(self)
            self._slots.append(slot)
            slot.start()

    def timed_out(self, job: ClaimedJob) -> str:
        for slot in self._slots:
            slot.kill(job.id)
        return "its child process killed"

    def cancel(self, job: ClaimedJob) -> bool:
        for slot in self._slots:
            slot.flag_cancel(job.id)
        return True

    def stop(self) -> None:
        for _ in self._slots:
            self.inbox.put(None)


class _ProcessSlot(threading.Thread):
    def __init__(self, pool: ProcessPool) -> None:
        super().__init__(name="taskheap-process-slot", daemon=True)
        self.pool = pool
        self.current: ClaimedJob | None = None
        self.killed = False
        # Guards `current` and `killed` together: a kill for a job that has just ended must not
        # reach the child already running the next one (whose end would then go unreported).
        self._current_lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self._cancelled: Any = pool._context.Value("b", 0, lock=False)  # shared with each child

    def _launch(self) -> Connection:
        parent, child = self.pool._context.Pipe()
        self._process = self.pool._context.Process(
            target=_child_main, args=(self.pool.app_path, child, os.getpid(), self._cancelled), daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent
        # Wait for the child to have imported the app before taking a job: a job's time limit
        # starts with the job, not with an interpreter and its imports (a job with a timeout
        # shorter than that would time out, attempt after attempt, without ever running).
        try:
            if parent.poll(CHILD_START_TIMEOUT):
                parent.recv_bytes()
        except (EOFError, OSError):
            pass  # it died starting: the first job sent to it reports that
        return parent

    def flag_cancel(self, job_id: str) -> None:
        """Set the child's cancel flag if it is running that job (`current_job().cancelled`)."""
        with self._current_lock:
            if self.current is not None and self.current.id == job_id:
                self._cancelled.value = 1

    def kill(self, job_id: str) -> None:
        """Kill the child if it is running that job."""
        with self._current_lock:
            if self.current is None or self.current.id != job_id:
                return
            self.killed = True
            if self._process is not None:
                self._process.kill()

    def run(self) -> None:
        self._launch()
        try:
            while (job := self.pool.inbox.get()) is not None:
                if not may_start(self.pool.started, job, self.pool.report):
                    continue
                with self._current_lock:
                    self.current, self.killed = job, False
                    self._cancelled.value = 0
                outcome = _guarded(self._attempt, job)
                with self._current_lock:
                    self.current = None
                if outcome is None:  # killed on timeout: the worker reports it
                    self._relaunch()
                    continue
                self.pool.report(job, outcome)
                if not self._process.is_alive() or self._conn is None or self._conn.closed:
                    self._relaunch()
        finally:
            self._shutdown()

    def _attempt(self, job: ClaimedJob) -> Outcome | None:
        assert self._conn is not None  # launched before the first job
        try:
            return self._run_in_child(self._conn, job)
        except BaseException:
            self._shutdown()  # the pipe may be out of step: the next job gets a new child
            raise

    def _run_in_child(self, conn: Connection, job: ClaimedJob) -> Outcome | None:
        try:
            conn.send_bytes(json.dumps(_for_child(job)).encode())
            while isinstance(answer := json.loads(conn.recv_bytes()), dict):  # progress reports
                progress.report(job.id, job.token, answer["progress"])
            return Outcome(*answer)
        except (EOFError, OSError):
            if self.killed:
                return None
            return Outcome(error=f"worker child process died ({self._death()})")

    def _death(self) -> str:
        """How the child whose pipe closed ended. The pipe closes as the kernel tears the process
        down; on a loaded machine its exit status can come a while later (1 s was once too short:
        "exit code None"). Polled, not joined: `join(timeout)` waits on the child's sentinel,
        and a child that closed it too makes `join` block until it exits."""
        deadline = time.monotonic() + CHILD_EXIT_WAIT
        while self._process.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._process.exitcode is None:  # it closed its end of the pipe and lives on
            self._process.kill()
            self._process.join(1)
            return f"it closed its pipe and was still running {CHILD_EXIT_WAIT:g}s later: killed"
        return f"exit code {self._process.exitcode}"

    def _relaunch(self) -> Connection:
        self._shutdown()
        return self._launch()

    def _shutdown(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(1)


def _child_main(app_path: str, conn: Connection, parent: int, cancelled: Any) -> None:
    from ..loading import load_app

    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent worker decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    app = load_app(app_path)
    tasks, middleware = app.tasks, app.middleware
    use_child_flag(lambda: cancelled.value == 1)
    progress.set_sink(lambda _id, _token, report: conn.send_bytes(json.dumps({"progress": report}).encode()))
    conn.send_bytes(b"ready")
    while True:
        try:
            job = _from_parent(json.loads(conn.recv_bytes()))
        except EOFError:
            return
        try:
            outcome = run_job(tasks, job, middleware)
        except BaseException as exc:  # as in _guarded: the job is reported, the child goes on
            outcome = slot_failure(exc)
        conn.send_bytes(json.dumps(list(outcome)).encode())


def _for_child(job: ClaimedJob) -> list[Any]:
    """What a child needs of a job to run it and answer `current_job()`."""
    fields = (job.task, job.payload, job.id, job.queue, job.priority, job.attempts, job.retries)
    return [*fields, job.meta, job.enqueued_at]


def _from_parent(sent: list[Any]) -> ClaimedJob:
    task, payload, job_id, queue, priority, attempts, retries, meta, enqueued_at = sent
    return ClaimedJob(
        job_id, task, queue, priority, payload, attempts, retries, None, None, "", meta, enqueued_at
    )


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """A child that outlived its worker (SIGKILLed) would run its job on, beside the run another
    worker starts once the lease lapses, and take the next ones from nobody: on Linux the kernel
    kills it when the slot thread that started it ends (prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the worker died before the kernel was told
        os._exit(1)
