"""The dashboard renders whatever the store holds: rows another client wrote with its raw client
(tests/bad_rows.py), a queue whose name holds a `/` or HTML (names are validated at enqueue now,
but not every writer is taskheap), a job id with URL metacharacters. No page is a 500, every
name is escaped, every link is encoded and leads to a page."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from starlette.testclient import TestClient

import taskheap
from taskheap.dashboard.web import create_app
from tests import bad_rows
from tests.conftest import sqlite_url
from tests.redis_support import redis_url

SLASHED = "tenant/a"
MARKUP = "<b>q</b>"
#: SQLite only (Redis's ingest takes ids as producers make them). No `%`: Starlette's TestClient
#: decodes a path twice (uvicorn, once), so its test would fail where a browser works.
ODD_ID = "odd/id?x=1#f"


@dataclass
class Lab:
    path: Path
    url: str
    app: taskheap.App


@pytest.fixture(params=["sqlite", "redis"])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    url = sqlite_url(tmp_path) if request.param == "sqlite" else redis_url(tmp_path)
    app = taskheap.App(url)
    app.task(name="add")(lambda x, y: x + y)
    app.backend.migrate()
    yield Lab(tmp_path, url, app)
    app.close()


def write_queues(lab: Lab, queues: list[str]) -> list[str]:
    """One queued job in each queue, written with the store's raw client; the ids."""
    ids = [bad_rows.IDS.new() for _ in queues]
    if bad_rows.store_kind(lab.url) == "sqlite":
        conn = sqlite3.connect(lab.app.backend.path)  # type: ignore[attr-defined]
        with conn:
            for job_id, queue in zip(ids, queues, strict=True):
                conn.execute(
                    "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, enqueued_at)"
                    " VALUES (?, 'add', ?, 5, 5.0, 'queued', ?, 3, ?)",
                    (job_id, queue, bad_rows.ADD, time.time()),
                )
        conn.close()
        return ids
    base, query = bad_rows._split(lab.url, "prefix")
    prefix = query["prefix"]
    client = redis.Redis.from_url(base)
    for job_id, queue in zip(ids, queues, strict=True):  # a version 1 inbox entry, as a producer pushes it
        entry = [job_id, "add", queue, "5", "5.0", bad_rows.ADD, repr(time.time()), "", "3", "", ""]
        client.sadd(f"{{{prefix}}}:queues", queue)
        client.rpush(f"{{{prefix}:{queue}}}:inbox", json.dumps(entry))
    client.close()
    return ids


def write_odd_id(lab: Lab) -> None:
    conn = sqlite3.connect(lab.app.backend.path)  # type: ignore[attr-defined]
    with conn:
        conn.execute(
            "INSERT INTO jobs (id, task, queue, priority, rank, state, payload, retries, enqueued_at, error,"
            " finished_at, attempts) VALUES (?, 'add', 'default', 5, 5.0, 'dead', ?, 0, ?, ?, ?, 1)",
            (ODD_ID, bad_rows.ADD, time.time(), "<img src=x onerror=alert(1)>", time.time()),
        )
    conn.close()


def links(text: str) -> set[str]:
    """Every same-site href on a page, as a path and query."""
    found = set()
    for href in re.findall(r'href="([^"]+)"', text):
        parts = urlsplit(html.unescape(href))
        if parts.netloc in ("", "testserver"):
            found.add(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def test_every_page_and_every_link_renders_what_another_client_stored(lab: Lab) -> None:
    bad_rows.write(lab, bad_rows.bad_jobs(lab))
    ids = write_queues(lab, [SLASHED, MARKUP])
    if bad_rows.store_kind(lab.url) == "sqlite":
        write_odd_id(lab)
    client = TestClient(create_app(lab.app))
    seen: set[str] = set()
    todo = ["/", "/jobs", "/dead", "/workers", "/live?count=1"]
    while todo:
        page = todo.pop()
        if page in seen or page.startswith("/static/") or page == "/metrics":
            continue
        seen.add(page)
        response = client.get(page)
        assert response.status_code in (200, 404), (page, response.status_code, response.text[-500:])
        assert MARKUP not in response.text and "<img src=x" not in response.text, page
        todo += [link for link in links(response.text) if link.startswith(("/jobs", "/queues", "/dead"))]
    assert client.get("/metrics").status_code == 200
    overview = client.get("/").text
    assert f'data-queue="{SLASHED}"' in overview and html.escape(MARKUP) in overview
    assert "/queues/tenant/a/purge" in overview and "/queues/%3Cb%3Eq%3C/b%3E/purge" in overview
    for job_id in ids:
        assert f"/jobs/{job_id}" in seen, "every job's page was reached from a list"
    if bad_rows.store_kind(lab.url) == "sqlite":
        assert "/jobs/odd/id%3Fx%3D1%23f" in client.get("/dead").text
        odd = client.get("/jobs/odd/id%3Fx%3D1%23f")
        assert odd.status_code == 200 and "&lt;img src=x onerror=alert(1)&gt;" in odd.text


def test_a_queue_named_with_a_slash_can_be_paused_and_purged(lab: Lab) -> None:
    (job_id,) = write_queues(lab, [SLASHED])
    client = TestClient(create_app(lab.app))
    page = client.get("/").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    client.post("/queues/tenant/a/pause", data={"csrf_token": csrf.group(1)})
    assert lab.app.admin.paused() == {SLASHED}
    confirm = client.get("/queues/tenant/a/purge")
    assert re.search(r'class="count">1<', confirm.text) and "tenant/a" in confirm.text
    done = client.post("/queues/tenant/a/purge", data={"csrf_token": csrf.group(1)})
    assert f"purged 1 job(s) of queue {SLASHED}" in done.text
    assert lab.app.admin.count(taskheap.admin.JobFilter(queue=SLASHED)) == 0
    assert client.get(f"/jobs/{job_id}").status_code == 404
