"""The demo's tasks: short sleeps that succeed, fail once, or always fail.

Every outcome follows from the job's arguments, so a run is reproducible. The App has no URL:
workers started by the demo find their database in $TASKHEAP_URL.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..app import App

app = App(lease=3.0)


@app.task(retries=2, backoff=0.2)
def work(ms: int) -> int:
    """Sleep `ms` milliseconds and succeed."""
    time.sleep(ms / 1000)
    return ms


@app.task(retries=2, backoff=0.2)
def flaky(ms: int, marker: str) -> int:
    """Fail the first attempt (the one that creates `marker`), succeed on the retry."""
    time.sleep(ms / 1000)
    try:
        Path(marker).touch(exist_ok=False)
    except FileExistsError:
        return ms
    raise ConnectionError("upstream timed out (a first attempt always does)")


@app.task(retries=2, backoff=0.2)
def doomed(ms: int) -> None:
    """Fail every attempt: the job ends dead."""
    time.sleep(ms / 1000)
    raise ValueError("malformed input: this job can never succeed")
