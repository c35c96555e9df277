"""Raw malformed rows written with the store's own client (tests/bad_rows.py) beside healthy
jobs, under a worker: each bad row dead at once with its reason, counted by reason; the healthy
jobs all run; the worker keeps every slot."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.bad_rows import bad_jobs, write

from .harness import CaseResult, FaultLab, run_case, slots_all_alive

pytestmark = pytest.mark.faults

SETTLE = 60.0


def bad_data_run(lab: FaultLab, pool: str, healthy: int) -> CaseResult:
    """No recovery time: nothing is killed; the bad rows are dead at once or not."""
    lab.enqueue(healthy // 2, seconds=0.01)
    written = write(lab, bad_jobs(lab))
    lab.foreign = {raw.name: job_id for job_id, raw in written.items()}
    lab.enqueue(healthy - healthy // 2, seconds=0.01)
    worker = lab.worker("--pool", pool, "--concurrency", "2")
    lab.drain(SETTLE)
    for name, found in lab.records(lab.foreign).items():
        raw = next(r for r in written.values() if r.name == name)
        assert found is not None and (found.error or "").startswith(raw.reason), (name, found)
        assert found.attempts == 1 or not raw.reason, f"{name}: retried"
    slots_all_alive(lab, worker, 2)
    result = lab.verdict("raw malformed data", f"{pool} pool")
    assert sum(result.dead_by_reason.values()) == sum(1 for raw in written.values() if raw.reason), result
    return result


@pytest.mark.parametrize(
    "pool, healthy",
    [("thread", 20), pytest.param("process", 200, marks=pytest.mark.faults_full)],
    ids=["thread-ci", "process-full"],
)
def test_raw_malformed_rows_die_with_their_reason_beside_healthy_jobs(
    make_lab: Callable[..., FaultLab], pool: str, healthy: int
) -> None:
    run_case(lambda: bad_data_run(make_lab(), pool, healthy))
