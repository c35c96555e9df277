"""Enqueueing and waiting from async code, on every backend: `aenqueue`, `options().aenqueue`,
`aenqueue_many`, `aresult`, none blocking the caller's event loop; and how a task's kind is
told at registration and sizes the worker."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import taskheap
from taskheap.errors import ConfigError
from taskheap.testing import drain
from taskheap.worker import Worker
from taskheap.worker.async_pool import Pools
from taskheap.worker.pool import ThreadPool


def test_async_enqueue_and_result_reach_the_store(app: taskheap.App) -> None:
    @app.task
    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    @app.task(retries=0)
    def fails() -> None:
        raise ValueError("no")

    async def produce() -> list[taskheap.JobHandle]:
        one = await add.aenqueue(1, 2)
        two = await add.options(queue="other", priority=1).aenqueue(3, 4)
        many = await app.aenqueue_many([add.job(5, 6), fails.job()])
        with pytest.raises(TypeError, match="cannot take these arguments"):
            await add.aenqueue(1)
        return [one, two, *many]

    one, two, three, failing = asyncio.run(produce())
    assert (two.info().queue, two.info().priority) == ("other", 1)
    assert drain(app) == {"succeeded": 3, "dead": 1}

    async def consume() -> list[Any]:
        return [await h.aresult(timeout=5) for h in (one, two, three)]

    assert asyncio.run(consume()) == [3, 7, 11]
    with pytest.raises(taskheap.JobFailed, match="ValueError: no"):
        asyncio.run(failing.aresult(timeout=5))


def ticks_while(wait: Callable[[], Awaitable[object]]) -> int:
    """How often a 10 ms ticker ran on the loop while `wait()` was awaited."""

    async def main() -> int:
        count = 0

        async def ticker() -> None:
            nonlocal count
            while True:
                await asyncio.sleep(0.01)
                count += 1

        ticking = asyncio.create_task(ticker())
        with contextlib.suppress(TimeoutError):
            await wait()
        ticking.cancel()
        return count

    return asyncio.run(main())


def test_aresult_waits_without_blocking_the_loop(app: taskheap.App) -> None:
    @app.task
    def never_run() -> None: ...

    handle = never_run.enqueue()
    started = time.monotonic()
    ticks = ticks_while(lambda: handle.aresult(timeout=0.5))
    assert time.monotonic() - started >= 0.5
    assert ticks >= 10, "the loop ran the ticker while aresult waited"


def test_a_tasks_kind_is_told_at_registration_and_sizes_the_worker(tmp_path: Path) -> None:
    app = taskheap.App(f"sqlite:///{tmp_path}/jobs.db")

    @app.task
    def plain() -> None: ...

    assert not plain.is_async
    sync_only = Worker(app, concurrency=3)
    assert isinstance(sync_only.pool, ThreadPool) and sync_only.capacity == 3  # as without async tasks

    async def coroutine() -> None: ...

    @functools.wraps(coroutine)
    def decorated() -> Any:
        return coroutine()

    assert app.task(coroutine).is_async and app.task(name="decorated")(decorated).is_async
    mixed = Worker(app, concurrency=3, async_concurrency=7)
    assert isinstance(mixed.pool, Pools) and mixed.capacity == 10
    with pytest.raises(ConfigError, match="async_concurrency must be >= 1, got 0"):
        Worker(app, async_concurrency=0)
    app.close()
