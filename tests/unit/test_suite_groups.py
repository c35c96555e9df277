"""The suite's own xdist groups hold: `./dev test` runs on two xdist workers with `--dist
loadgroup`, and the fault cases must share one (tests/conftest.py). pytest-xdist tells its
scheduler a test's group by a `@<group>` suffix of the node id, which pytest 9.2 silently drops
(pytest-xdist#1386): the tests then spread over both workers with nothing failing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_fault_cases_are_one_xdist_group() -> None:
    xdist = ("-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *xdist, "tests/faults/test_report.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    reported = [line for line in done.stdout.splitlines() if " PASSED " in line]
    assert reported, done.stdout
    assert all(line.rstrip().endswith("@faults") for line in reported), done.stdout
