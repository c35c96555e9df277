"""bench/faults_py's aggregation over a hand-made results file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.faults_report import aggregate, load, percentile, table

pytestmark = pytest.mark.faults


def result(case: str, backend: str, recovery: list[float], **figures: object) -> dict[str, object]:
    base = {"accepted": 10, "lost": 0, "duplicate_starts": 1, "stale_accepted": 0, "dead_by_reason": {}}
    return {"case": case, "backend": backend, "mode": "", "recovery_s": recovery, **base, **figures}


def test_runs_of_one_case_backend_and_mode_are_summed_with_recovery_percentiles(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(
        json.dumps(result("kill", "redis", [1.0, 3.0], dead_by_reason={"lease expired": 2})) + "\n"
        + json.dumps(result("kill", "sqlite", [], lost=1)) + "\n"
    )  # fmt: skip
    second.write_text(
        json.dumps(result("kill", "redis", [2.0], dead_by_reason={"lease expired": 1})) + "\n\n"
    )

    rows = aggregate(load([first, second]))

    assert [(r.case, r.backend, r.runs, r.accepted, r.lost, r.duplicate_starts) for r in rows] == [
        ("kill", "redis", 2, 20, 0, 2),
        ("kill", "sqlite", 1, 10, 1, 1),
    ]
    assert rows[0].dead_by_reason == {"lease expired": 3}
    assert percentile(rows[0].recovery_s, 50) == 2.0
    assert percentile(rows[0].recovery_s, 99) == 3.0
    lines = table(rows).splitlines()
    assert lines[2] == "| kill | redis | – | 2 | 20 | 0 | 2 | 0 | 0 | 3 lease expired | 2.00 | 3.00 |"
    assert lines[3].endswith("| – | – | – |")
