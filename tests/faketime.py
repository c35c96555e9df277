"""Processes with a wall clock of their own, under libfaketime (Debian's faketime).

libfaketime fakes the wall clock only here (FAKETIME_DONT_FAKE_MONOTONIC=1: the monotonic and
boot-time clocks stay true, as they do through a real step of the wall clock). Under it CPython's
time.sleep fails (clock_nanosleep on an absolute monotonic deadline gets EINVAL), so a faked
process gets a sitecustomize that sleeps with select() instead.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from tests.conftest import unavailable

SLEEP_WITH_SELECT = """
import select
import time


def _sleep(seconds):
    select.select([], [], [], max(0.0, seconds))


time.sleep = _sleep
"""


def libfaketime() -> str:
    """The library's path; skips (fails under CI=true) where it is not installed."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        unavailable("libfaketime is not installed (Debian: apt install faketime)")
    return found[0]


def faked_env(directory: Path, library: str, python_path: str = "", **settings: str) -> dict[str, str]:
    """What a child's environment adds for its wall clock to follow `settings` (FAKETIME="+600",
    or FAKETIME_TIMESTAMP_FILE and FAKETIME_NO_CACHE for a clock a test steps): the sleep fix
    goes first on PYTHONPATH, before `python_path` and the inherited one."""
    site = directory / "faketime-site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SLEEP_WITH_SELECT)
    path = [str(site), python_path, os.environ.get("PYTHONPATH", "")]
    return {
        "LD_PRELOAD": library,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, path)),
        **settings,
    }
