from __future__ import annotations

import random

import pytest

from taskheap.retry import MAX_BACKOFF, Backoff, retry_delay


def test_backoff_doubles_per_attempt_without_jitter() -> None:
    backoff = Backoff(base=1.0, jitter=False)
    assert [backoff.delay(n, random.Random()) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_backoff_is_capped_at_ten_minutes_by_default() -> None:
    assert Backoff(base=1.0, jitter=False).delay(40, random.Random()) == MAX_BACKOFF == 600.0


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    rng = random.Random(7)
    delays = [Backoff(base=2.0).delay(3, rng) for _ in range(500)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 1.0 and max(delays) > 7.0


def test_job_with_n_retries_runs_n_plus_one_times() -> None:
    rng = random.Random(1)
    backoff = Backoff(jitter=False)
    assert retry_delay(1, 2, backoff, rng) == 1.0
    assert retry_delay(2, 2, backoff, rng) == 2.0
    assert retry_delay(3, 2, backoff, rng) is None
    assert retry_delay(1, 0, backoff, rng) is None


def test_backoff_round_trips_through_json() -> None:
    backoff = Backoff(base=0.5, factor=3.0, max=60.0, jitter=False)
    assert Backoff.from_json(backoff.to_json()) == backoff
    assert Backoff.from_json(None) == Backoff()


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(factor=0.5)
