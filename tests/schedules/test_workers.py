"""Real worker processes on one store firing an every=1 schedule: one run per fire time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for

TICKS = """
import os
import taskheap

app = taskheap.App(os.environ["TASKHEAP_URL"])

@app.periodic(every=1.0, name="tick", retries=0)
def tick() -> None:
    with open(os.environ["LEDGER"], "a") as ledger:
        ledger.write(f"{taskheap.current_job().scheduled_for}\\n")
"""


@pytest.mark.slow
def test_several_workers_run_each_fire_once(backend_url: str, tmp_path: Path) -> None:
    (tmp_path / "ticks.py").write_text(TICKS)
    ledger = tmp_path / "ledger"
    env = {**os.environ, "TASKHEAP_URL": backend_url, "LEDGER": str(ledger), "PYTHONPATH": str(tmp_path)}
    taskheap = str(Path(sys.executable).with_name("taskheap"))
    workers = [
        subprocess.Popen(
            [taskheap, "-A", "ticks:app", "worker"], env=env, cwd=tmp_path, stderr=subprocess.DEVNULL
        )
        for _ in range(3)
    ]
    try:
        wait_for(lambda: ledger.exists() and len(ledger.read_text().split()) >= 6, 30, "six fires run")
        time.sleep(0.5)  # a duplicate run of the last fires would land now
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(30) == 0
    fires = [float(line) for line in ledger.read_text().split()]
    assert len(fires) == len(set(fires)) >= 6
    assert all(fire == int(fire) for fire in fires)  # multiples of the interval since the epoch
