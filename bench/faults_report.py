"""The fault suite's results as the markdown table of docs/reliability.md.

Reads one or more results files (JSON lines, one per case run, as tests/faults/harness.py's
`record` appends them with TASKHEAP_FAULTS_RESULTS set) and aggregates per (case, backend, mode):
runs, jobs accepted, lost, duplicate starts, stale completions accepted, dead by reason and the
recovery time's p50/p99 over every fault injected.

    python bench/faults_report.py /tmp/faults.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """The runs of one (case, backend, mode), summed."""

    case: str
    backend: str
    mode: str
    runs: int = 0
    accepted: int = 0
    lost: int = 0
    duplicate_starts: int = 0
    stale_accepted: int = 0
    inversions: int = 0
    dead_by_reason: dict[str, int] = field(default_factory=dict)
    recovery_s: list[float] = field(default_factory=list)

    def add(self, result: Mapping[str, Any]) -> None:
        self.runs += 1
        self.accepted += int(result["accepted"])
        self.lost += int(result["lost"])
        self.duplicate_starts += int(result["duplicate_starts"])
        self.stale_accepted += int(result["stale_accepted"])
        self.inversions += int(result.get("inversions", 0))
        for reason, count in result["dead_by_reason"].items():
            self.dead_by_reason[reason] = self.dead_by_reason.get(reason, 0) + int(count)
        self.recovery_s += [float(s) for s in result["recovery_s"]]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100) of the values; None without any."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def load(paths: Iterable[Path]) -> list[dict[str, Any]]:
    results = []
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                results.append(json.loads(line))
    return results


def aggregate(results: Iterable[Mapping[str, Any]]) -> list[Row]:
    """One Row per (case, backend, mode), sorted by them."""
    rows: dict[tuple[str, str, str], Row] = {}
    for result in results:
        key = (str(result["case"]), str(result["backend"]), str(result.get("mode", "")))
        rows.setdefault(key, Row(*key)).add(result)
    return [rows[key] for key in sorted(rows)]


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _reasons(dead: Mapping[str, int]) -> str:
    return "<br>".join(f"{count} {reason.replace('|', '/')}" for reason, count in sorted(dead.items())) or "–"


COLUMNS = (
    "case",
    "backend",
    "mode",
    "runs",
    "accepted",
    "lost",
    "duplicate starts",
    "stale accepted",
    "inversions",
    "dead by reason",
    "recovery p50 (s)",
    "recovery p99 (s)",
)


def table(rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [
            r.case,
            r.backend,
            r.mode or "–",
            str(r.runs),
            str(r.accepted),
            str(r.lost),
            str(r.duplicate_starts),
            str(r.stale_accepted),
            str(r.inversions),
            _reasons(r.dead_by_reason),
            _seconds(percentile(r.recovery_s, 50)),
            _seconds(percentile(r.recovery_s, 99)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", nargs="+", type=Path, help="results files (JSON lines)")
    args = parser.parse_args(argv)
    print(table(aggregate(load(args.results))))


if __name__ == "__main__":
    main()
