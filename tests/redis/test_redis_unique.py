"""Unique keys on Redis beside workers of the previous release: their scripts release no key, so
a key whose holder they finished must not stay held (there is no TTL to end it)."""

from __future__ import annotations

import json
from dataclasses import replace

from taskheap.backends.base import NewJob
from taskheap.backends.redis import RedisBackend
from taskheap.job import encode_id


def keyed(ms: int) -> NewJob:
    payload = json.dumps({"args": [ms], "kwargs": {}})
    job = NewJob(encode_id(ms, 7), "t", "q", 5, 5.0, payload, 1.0, None, 3, None, None)
    return replace(job, unique_key="k")


def test_a_key_whose_holder_an_earlier_release_finished_is_free(backend: RedisBackend) -> None:
    first, second, third = keyed(1000), keyed(2000), keyed(3000)
    assert backend.enqueue([first]) == {}
    assert backend.enqueue([second]) == {second.id: first.id}
    (claimed,) = backend.claim(["q"], "w1", 1, 30.0)
    # what complete.lua of the previous release does: the state set, the key left in place
    job = backend.keys.q("q") + "job:" + claimed.id
    backend.client.hset(job, mapping={"state": "succeeded", "result": "null"})
    assert backend.client.exists(backend.keys.q("q") + "unique:k") == 1
    assert backend.enqueue([third]) == {}
    assert backend.client.get(backend.keys.q("q") + "unique:k") == third.id
