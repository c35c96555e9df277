"""Floods, per backend: a million tiny jobs, 100,000 delayed jobs, 100,000 completions with a
result each (the CI variant: a fiftieth of each). The worker's memory must stay flat and the store
must keep finished jobs only as long as retention says: pruning keeps up with the flood.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.floods import RETENTION, Flood, file_size, mb
from tests.faults.harness import record
from tests.faults.stores import PostgresCluster, RedisStore

pytestmark = pytest.mark.faults

FULL = {"tiny": 1_000_000, "delayed": 100_000, "completions": 100_000}
#: The full run takes minutes per backend: past the suite's 120 s per test.
SCALES = [
    pytest.param(1, marks=[pytest.mark.faults_full, pytest.mark.timeout(1800)], id="full"),
    pytest.param(50, id="ci"),
]
#: Delayed jobs are due at random within this many seconds of their enqueue (full run, CI).
DELAY_SPREAD = {1: 60.0, 50: 2.0}
RESULT_SIZE = 1024  # characters of each completion's result
#: The worker's RSS may grow this much from the end of the first phase's first quarter (the
#: allocator's arenas and caches settling) to the end: 16 bytes a job over the full run.
RSS_GROWTH = 16 * 2**20
#: Every succeeded job is gone this long after the last one finished: retention, then a prune
#: interval (min(60 s, retention)), then the maintenance tick that prunes.
PRUNED_WITHIN = RETENTION + min(60.0, RETENTION) + 2.0


def _flood(path: Path, url: str, store_size: Callable[[], int], mode: str, scale: int) -> None:
    sizes = {name: count // scale for name, count in FULL.items()}
    flood = Flood(path, url, store_size)
    try:
        tiny, answer = flood.tasks["tiny"], flood.tasks["answer"]
        rng = random.Random()
        phases = [
            flood.flood("tiny", (tiny.job(f"t-{i}") for i in range(sizes["tiny"])), sizes["tiny"]),
            flood.flood(
                "delayed",
                (
                    tiny.options(delay=rng.uniform(0, DELAY_SPREAD.get(scale, 10.0))).job(f"d-{i}")
                    for i in range(sizes["delayed"])
                ),
                sizes["delayed"],
                capped=False,
            ),
            flood.flood(
                "completions",
                (answer.job(f"c-{i}", RESULT_SIZE) for i in range(sizes["completions"])),
                sizes["completions"],
            ),
        ]
        pruned_in = flood.pruned(PRUNED_WITHIN)
        assert flood.alive(), flood.log.read_text()
        first = phases[0].samples[: max(1, len(phases[0].samples) // 4)]
        settled_rss = max(s.rss for s in first)
        peak_rss = max(s.rss for phase in flood.phases for s in phase.samples)
        for phase in phases:
            result = flood.verdict(phase, mode)
            result.extra.update(scale=scale, pruned_in_s=round(pruned_in, 2), rss_mb_settled=mb(settled_rss))
            record(result)
        assert peak_rss - settled_rss <= RSS_GROWTH, (
            f"worker RSS grew {mb(peak_rss - settled_rss)} MB: {mb(settled_rss)} -> {mb(peak_rss)} MB"
        )
    finally:
        flood.close()


@pytest.mark.parametrize("scale", SCALES)
def test_flood_sqlite(scale: int, tmp_path: Path) -> None:
    database = tmp_path / "jobs.db"
    _flood(tmp_path, f"sqlite:///{database}", file_size(database), "", scale)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("redis_store", ["everysec"], indirect=True)
def test_flood_redis(redis_store: RedisStore, scale: int, tmp_path: Path) -> None:
    _flood(tmp_path, redis_store.url, redis_store.used_memory, redis_store.mode, scale)


@pytest.mark.parametrize("scale", SCALES)
def test_flood_postgres(postgres_cluster: PostgresCluster, scale: int, tmp_path: Path) -> None:
    _flood(tmp_path, postgres_cluster.url, postgres_cluster.relations_size, "", scale)
