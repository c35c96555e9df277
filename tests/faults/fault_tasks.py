"""The task module the fault suite's workers run: `-A tests.faults.fault_tasks:app`.

Every run writes the ledger, the suite's ground truth, never the queue's own counters: one line
per event, "<monotonic> <kind> <key> <nonce> <pid>", each appended by a single write() on an
O_APPEND descriptor and fsynced before the task goes on, so lines from many processes never
interleave and a line written is a line kept, whatever kills the process next. time.monotonic()
is CLOCK_MONOTONIC, one clock for every process on a Linux host, so the test process compares
these times with its own.

Environment: TASKHEAP_URL (the store), FAULT_LEDGER (the ledger file), FAULT_LEASE (the App's
lease, seconds).
"""

from __future__ import annotations

import ctypes
import os
import time
import uuid
from typing import Any

import taskheap

#: Every fault task retries this often by default: a case's faults (kills, pauses) each cost the
#: jobs they hit an attempt, and a job dead for want of retries would hide what the case measures.
RETRIES = 20
BACKOFF = taskheap.Backoff(base=0.05, factor=1.0, max=0.05, jitter=False)


def append_line(path: str, line: str) -> None:
    """One line onto the file: a single write() on O_APPEND (atomic between processes for a
    regular file), then fsync."""
    data = line.encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def note(kind: str, key: str, nonce: str) -> None:
    append_line(os.environ["FAULT_LEDGER"], f"{time.monotonic():.6f} {kind} {key} {nonce} {os.getpid()}\n")


def _started(key: str) -> str:
    nonce = uuid.uuid4().hex
    note("start", key, nonce)
    return nonce


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _spin(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass


# ctypes.PyDLL calls keep the GIL held for the whole call (CDLL releases it): glibc's usleep
# through it is one C call during which no other thread of the process runs Python code.
_LIBC_WITH_GIL = ctypes.PyDLL(None)


def _hold_gil(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:  # again only if a signal cut it short
        _LIBC_WITH_GIL.usleep(ctypes.c_uint(int(left * 1_000_000)))


WORK = {"job": _sleep, "spin": _spin, "hold_gil": _hold_gil}


def _run(key: str, seconds: float, how: str) -> str:
    nonce = _started(key)
    WORK[how](seconds)
    note("done", key, nonce)
    return nonce


def declare(app: taskheap.App) -> dict[str, taskheap.Task[..., Any]]:
    """Register the fault tasks on `app`; by name."""

    @app.task(name="job", retries=RETRIES, backoff=BACKOFF)
    def job(key: str, seconds: float = 0.0) -> str:
        """Ledger "start", sleep, ledger "done"; returns the run's nonce."""
        return _run(key, seconds, "job")

    @app.task(name="spin", retries=RETRIES, backoff=BACKOFF)
    def spin(key: str, seconds: float = 0.0) -> str:
        """As job, but a busy loop in Python."""
        return _run(key, seconds, "spin")

    @app.task(name="hold_gil", retries=RETRIES, backoff=BACKOFF)
    def hold_gil(key: str, seconds: float = 0.0) -> str:
        """As job, but one C call that holds the GIL that long."""
        return _run(key, seconds, "hold_gil")

    @app.task(name="crash", retries=2, backoff=BACKOFF)
    def crash(key: str, how: str = "exit") -> str:
        """Ledger "start", then the process dies: "exit": os._exit(1); "segv": a segfault."""
        _started(key)
        if how == "exit":
            os._exit(1)
        ctypes.string_at(0)  # reads address 0: SIGSEGV
        raise AssertionError("still alive after a segfault")

    return {t.name: t for t in (job, spin, hold_gil, crash)}


app = taskheap.App(lease=float(os.environ.get("FAULT_LEASE", "2")))
TASKS = declare(app)
