"""The web dashboard through Starlette's TestClient: every page, action, auth rule and CSRF check."""

from __future__ import annotations

import logging
import re

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from taskheap.backends.base import Cancellation, Completion, WorkerInfo
from taskheap.cli import cli
from taskheap.dashboard.security import is_loopback
from taskheap.dashboard.web import create_app
from taskheap.job import JobState
from taskheap.worker.scheduler import Scheduler
from taskheap.worker.tally import Settled, record
from tests.dashboard.conftest import LEASE, Store, retrying_job

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_app(store.app))


def csrf(client: TestClient, page: str = "/") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert match, "no CSRF field on the page"
    return match.group(1)


def test_overview_shows_depth_by_state_and_priority_charts_and_slots(client: TestClient) -> None:
    text = client.get("/").text
    assert 'data-queue="default"' in text and 'data-queue="emails"' in text
    assert "P1: 1" in text and "P7: 1" in text
    assert "1 busy / 4" in text
    assert text.count("<polyline") == 3 and "Throughput" in text and "Failure rate" in text
    assert "Cancelled" in text


def test_live_updates_stream_the_overview_as_server_sent_events(client: TestClient) -> None:
    response = client.get("/live?count=1")
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("data: ") and 'data-queue="emails"' in response.text
    assert response.text.endswith("\n\n")


def test_jobs_are_newest_first_and_filtered_by_the_url(client: TestClient, store: Store) -> None:
    listed = re.findall(r'data-job="(\w+)"', client.get("/jobs").text)
    assert listed == sorted(listed, reverse=True) and len(listed) == 5
    assert re.findall(r'data-job="(\w+)"', client.get("/jobs?queue=emails&state=dead").text) == [store.dead]
    assert re.findall(r'data-job="(\w+)"', client.get("/jobs?task=send").text) == [store.dead, store.done]
    assert re.findall(r'data-job="(\w+)"', client.get(f"/jobs?search={store.done}").text) == [store.done]
    assert re.findall(r'data-job="(\w+)"', client.get("/jobs?search=ok@example").text) == [store.done]
    assert re.findall(r'data-job="(\w+)"', client.get("/jobs?since=1h").text) == listed
    assert re.findall(r'data-job="(\w+)"', client.get("/jobs?until=2000-01-01").text) == []
    assert 'value="ok@example"' in client.get("/jobs?search=ok@example").text, "filters stay in the form"


def test_jobs_page_through_by_keyset_with_the_filters_kept(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("taskheap.dashboard.web.PAGE", 2)
    first = client.get("/jobs?queue=default").text
    older = re.search(r'href="\?([^"]+)" rel="next"', first)
    assert older and "queue=default" in older.group(1)
    second = client.get("/jobs?" + older.group(1).replace("&amp;", "&")).text
    page1, page2 = (re.findall(r'data-job="(\w+)"', t) for t in (first, second))
    assert len(page1) == 2 and len(page2) == 1 and not set(page1) & set(page2)
    assert 'rel="next"' not in second and "« Newest" in second


def test_a_bad_filter_is_a_clear_400(client: TestClient) -> None:
    response = client.get("/jobs?since=yesterday-ish")
    assert response.status_code == 400 and "bad time" in response.text


def test_job_detail_shows_args_error_traceback_timings_and_worker(client: TestClient, store: Store) -> None:
    text = client.get(f"/jobs/{store.dead}").text
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in text  # JSON, escaped for HTML
    assert "SMTPError: &lt;relay&gt; refused" in text and "Traceback: line 1" in text
    assert "1 of 1" in text and re.search(r'<dt>ran \(last attempt\)</dt><dd class="ran">\d+\.\d{3} s', text)
    assert "<dd>w1</dd>" in text
    waited = r"<dt>waited \(enqueued → start\)</dt><dd>\d+\.\d{3} s"
    assert re.search(waited, client.get(f"/jobs/{store.done}").text)
    assert client.get("/jobs/NOPE").status_code == 404


def test_nothing_from_jobs_is_rendered_unescaped(client: TestClient, store: Store) -> None:
    for page in ("/", "/jobs", "/dead", f"/jobs/{store.dead}", "/jobs?search=<script>"):
        assert SCRIPT not in client.get(page).text, page
        assert "<relay>" not in client.get(page).text, page


def test_workers_page_shows_host_pid_heartbeat_concurrency_and_current_jobs(
    client: TestClient, store: Store
) -> None:
    text = client.get("/workers").text
    assert "host-a" in text and ">42<" in text and ">1 / 4<" in text and store.running in text
    heartbeat = re.search(r'class="num heartbeat" title="[^"]+">([^<]+) ago<', text)
    assert heartbeat and re.fullmatch(r"\d+m \d\ds|\dh \d\dm|\d+d \d+h|[\d.]+ m?s", heartbeat.group(1))
    assert '<td class="num throughput" title="12 since it started">7</td>' in text


def test_a_worker_silent_for_longer_than_its_lease_is_shown_lost_and_counts_no_slots(
    client: TestClient, store: Store
) -> None:
    silent = WorkerInfo("w2", "host-b", 43, ["default"], 8, 0.0, lease=30.0)
    store.app.backend.heartbeat(silent, [], 30.0, now=store.app.clock.now() - 120)
    text = client.get("/workers").text
    (row,) = re.findall(r'<tr data-worker="w2">.*?</tr>', text, flags=re.S)
    assert re.search(r'class="num heartbeat lost" title="[^"]+">2m 0\ds ago \(lost\)<', row), row
    assert "Slots: 1 busy / 4" in text  # its 8 slots are no capacity


def test_dead_letters_and_retrying_pages_list_their_state_only(client: TestClient, store: Store) -> None:
    assert re.findall(r'data-job="(\w+)"', client.get("/dead").text) == [store.dead]
    assert "Retry all matching" in client.get("/dead").text
    assert re.findall(r'data-job="(\w+)"', client.get("/retrying").text) == []


def test_retry_one_dead_job_with_the_csrf_token(
    client: TestClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    token = csrf(client, "/dead")
    with caplog.at_level(logging.INFO, "taskheap.dashboard"):
        response = client.post(
            f"/jobs/{store.dead}/retry", data={"csrf_token": token}, follow_redirects=False
        )
    assert response.status_code == 303 and response.headers["location"].endswith(f"/jobs/{store.dead}")
    assert store.app.admin.job(store.dead).status == JobState.QUEUED
    assert f"retry job '{store.dead}': 1 changed" in caplog.text and "anonymous" in caplog.text


def test_purge_one_dead_job(client: TestClient, store: Store) -> None:
    response = client.post(
        f"/jobs/{store.dead}/purge", data={"csrf_token": csrf(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get(f"/jobs/{store.dead}").status_code == 404


def test_cancel_asks_a_running_job_s_worker_and_is_refused_for_a_finished_job(
    client: TestClient, store: Store
) -> None:
    assert "Ask the worker running job" in client.get(f"/jobs/{store.running}").text
    response = client.post(
        f"/jobs/{store.running}/cancel", data={"csrf_token": csrf(client)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"].endswith(f"/jobs/{store.running}")
    assert store.app.backend.cancel_requests([store.running]) == {store.running}
    refused = client.post(f"/jobs/{store.done}/cancel", data={"csrf_token": csrf(client)})
    assert refused.status_code == 409 and "not waiting or running" in refused.text


def test_retrying_a_job_that_is_not_dead_is_refused(client: TestClient, store: Store) -> None:
    response = client.post(f"/jobs/{store.done}/retry", data={"csrf_token": csrf(client)})
    assert response.status_code == 409 and store.app.admin.job(store.done).status == JobState.SUCCEEDED


@pytest.mark.parametrize("token", [None, "forged"])
def test_actions_without_the_right_csrf_token_are_refused(
    client: TestClient, store: Store, token: str | None
) -> None:
    csrf(client)  # the browser has its cookie
    data = {"csrf_token": token} if token else {}
    for url in (f"/jobs/{store.dead}/retry", "/bulk/purge", "/queues/default/pause"):
        response = client.post(url, data=data)
        assert response.status_code == 403 and "CSRF" in response.text, url
    assert store.app.admin.job(store.dead).status == JobState.DEAD and store.app.admin.paused() == set()


def test_a_token_without_its_cookie_is_refused(store: Store) -> None:
    token = csrf(TestClient(create_app(store.app)))
    response = TestClient(create_app(store.app)).post(f"/jobs/{store.dead}/retry", data={"csrf_token": token})
    assert response.status_code == 403


def test_bulk_retry_shows_the_exact_count_and_scope_then_acts_on_confirmation(
    client: TestClient, store: Store
) -> None:
    confirm = client.get("/bulk/retry?queue=emails&task=send")
    assert re.search(r'class="count">1<', confirm.text) and "queue=emails, task=send" in confirm.text
    assert store.app.admin.job(store.dead).status == JobState.DEAD, "showing the count changes nothing"
    action = re.search(r'<form method="post" action="([^"]+)"', confirm.text)
    assert action
    token = csrf(client, "/bulk/retry?queue=emails&task=send")
    done = client.post(action.group(1).replace("&amp;", "&"), data={"csrf_token": token})
    assert "retry: 1 job(s)" in done.text
    assert store.app.admin.job(store.dead).status == JobState.QUEUED


def test_bulk_purge_honours_the_filter(client: TestClient, store: Store) -> None:
    assert re.search(r'class="count">0<', client.get("/bulk/purge?queue=default").text)
    client.post("/bulk/purge?queue=default", data={"csrf_token": csrf(client)})
    assert store.app.admin.job(store.dead).status == JobState.DEAD
    client.post("/bulk/purge?queue=emails", data={"csrf_token": csrf(client)})
    assert store.app.admin.jobs(state="dead") == []


def test_pause_and_resume_a_queue(client: TestClient, store: Store) -> None:
    client.post("/queues/emails/pause", data={"csrf_token": csrf(client)})
    assert store.app.admin.paused() == {"emails"}
    assert "Resume emails" in client.get("/").text
    client.post("/queues/emails/resume", data={"csrf_token": csrf(client)})
    assert store.app.admin.paused() == set()


def test_read_only_shows_no_actions_and_refuses_them(store: Store) -> None:
    client = TestClient(create_app(store.app, read_only=True))
    assert "read-only" in client.get("/").text
    for page in ("/", "/dead", f"/jobs/{store.dead}"):
        assert 'method="post"' not in client.get(page).text, page
    response = client.post(f"/jobs/{store.dead}/retry", data={"csrf_token": "x"})
    assert response.status_code == 403 and store.app.admin.job(store.dead).status == JobState.DEAD


def test_metrics_endpoint_serves_the_prometheus_text(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert 'taskheap_queue_depth{queue="emails",state="dead"} 1.0' in response.text


def test_mounts_as_a_sub_app_with_its_links_under_the_mount(store: Store) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    host = Starlette(routes=[Mount("/admin/queue", create_app(store.app))])
    text = TestClient(host).get("/admin/queue/dead").text
    assert f"/admin/queue/jobs/{store.dead}" in text and "/admin/queue/static/dashboard.css" in text


def test_dashboard_refuses_a_public_bind_without_auth() -> None:
    result = CliRunner().invoke(cli, ["--url", "sqlite:///x.db", "dashboard", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "refusing to serve 0.0.0.0 without auth" in result.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.com")


def test_job_detail_lists_every_failed_attempt_with_its_traceback(client: TestClient, store: Store) -> None:
    text = client.get(f"/jobs/{retrying_job(store)}").text
    attempts = re.findall(r'<tbody class="attempt" data-attempt="(\d+)">(.*?)</tbody>', text, re.S)
    assert [n for n, _ in attempts] == ["1", "2"]
    for n, html in attempts:
        assert f"IOError: try {n}" in html and f"Traceback (attempt {n})" in html and f"w{n}" in html
    assert "Retry now" in text and "Purge" not in text


def test_retry_one_retrying_job_now(client: TestClient, store: Store) -> None:
    job_id = retrying_job(store)
    assert re.findall(r'data-job="(\w+)"', client.get("/retrying").text) == [job_id]
    response = client.post(
        f"/jobs/{job_id}/retry", data={"csrf_token": csrf(client, "/retrying")}, follow_redirects=False
    )
    assert response.status_code == 303
    info = store.app.admin.job(job_id)
    assert (info.status, info.run_at, info.attempts) == (JobState.QUEUED, None, 2)


def test_bulk_retry_of_retrying_jobs_shows_the_exact_count_and_scope_then_runs_them_now(
    client: TestClient, store: Store
) -> None:
    job_id = retrying_job(store)
    page = client.get("/retrying?task=flaky").text
    link = re.search(r'href="([^"]*/bulk/retry\?[^"]*)"', page)
    assert link and "Purge all matching" not in page
    confirm = client.get(link.group(1).replace("&amp;", "&"))
    assert re.search(r'class="count">1<', confirm.text) and "retrying jobs matching" in confirm.text
    assert "task=flaky" in confirm.text and "attempts are kept" in confirm.text
    assert store.app.admin.job(job_id).status == JobState.RETRYING, "showing the count changes nothing"
    action = re.search(r'<form method="post" action="([^"]+)"', confirm.text)
    assert action
    done = client.post(action.group(1).replace("&amp;", "&"), data={"csrf_token": csrf(client, "/retrying")})
    assert "retry: 1 job(s)" in done.text and "Retrying" in done.text
    assert store.app.admin.job(job_id).status == JobState.QUEUED
    assert store.app.admin.job(store.dead).status == JobState.DEAD


def test_retrying_jobs_cannot_be_purged_in_bulk(client: TestClient, store: Store) -> None:
    job_id = retrying_job(store)
    assert client.get("/bulk/purge?state=retrying").status_code == 404
    assert client.post("/bulk/purge?state=retrying", data={"csrf_token": csrf(client)}).status_code == 404
    assert store.app.admin.job(job_id).status == JobState.RETRYING


def row(text: str, job_id: str) -> str:
    match = re.search(rf'<tr data-job="{job_id}">(.*?)</tr>', text, re.S)
    assert match, f"no row for {job_id}"
    return match.group(1)


def test_lists_show_finished_at_and_how_long_the_last_attempt_ran(client: TestClient, store: Store) -> None:
    text = client.get("/jobs").text
    assert "<th>finished</th>" in text and ">ran</th>" in text
    done = row(text, store.done)
    assert re.search(r'<td class="finished" title="\d{4}-\d\d-\d\d [\d:.]+">\d\d:\d\d:\d\d</td>', done)
    assert re.search(r'<td class="num ran">\d+ ms</td>', done)
    queued = row(text, store.queued[0])
    assert '<td class="finished" title="-">-</td>' in queued and 'class="num ran"' not in queued


def test_the_error_shows_only_where_the_last_attempt_failed(client: TestClient, store: Store) -> None:
    recovered = retrying_job(store)  # failed twice, then runs now and succeeds
    backend = store.app.backend
    assert store.app.admin.replay([recovered], state=None) == 1
    (run,) = backend.claim(["default"], "w3", 1, LEASE)
    backend.complete([Completion(run.id, run.token, '"fine"')])
    text = client.get("/jobs").text
    assert '<td class="error" title="SMTPError: &lt;relay&gt; refused">' in row(text, store.dead)
    ok = row(text, recovered)
    assert 'class="error"' not in ok and "IOError" not in ok
    assert '<td class="num">3</td>' in ok and '<td class="note">2 failed before</td>' in ok
    assert re.search(r'<td class="num ran">\d+ ms</td>', ok), "the last attempt's, not since the first start"
    detail = client.get(f"/jobs/{recovered}").text
    assert "error (last attempt)" not in detail and "IOError: try 2" in detail, (
        "the history stays in the job view"
    )
    assert re.search(
        r'<dt>total \(enqueued → finished\)</dt><dd class="total">[^<]+, over 3 attempts', detail
    )
    assert re.search(r'<dt>ran \(last attempt\)</dt><dd class="ran">0\.\d{3} s', detail)


def test_bulk_actions_are_hidden_when_the_list_is_empty(client: TestClient, store: Store) -> None:
    assert "Retry all matching" in client.get("/dead").text
    empty = client.get("/dead?queue=default").text
    assert "No jobs match." in empty and "all matching" not in empty
    assert "all matching" not in client.get("/retrying").text


def test_overview_charts_have_time_and_value_axes_and_labels(client: TestClient) -> None:
    text = client.get("/").text
    charts = re.findall(r'<svg class="chart".*?</svg>', text, re.S)
    assert len(charts) == 3
    throughput, failures, cancelled = charts
    times = re.findall(r'<text class="time-tick"[^>]*>(\d\d:\d\d)</text>', throughput)
    assert len(times) == 6 and all(t.endswith("0") for t in times), times
    assert re.findall(r'<text class="value-tick"[^>]*>([^<]+)</text>', throughput) == ["0", "1", "2"]
    # the fixture's 2 runs: this minute's (the last point), or the peak once the minute has turned
    assert re.search(r'<text class="(last|peak)"[^>]*>(peak )?2</text>', throughput)
    assert len(re.findall(r"<circle class=\"point\"[^>]*><title>\d\d:\d\d · \d+</title>", throughput)) == 60
    assert re.findall(r'<text class="value-tick"[^>]*>([^<]+)</text>', failures) == ["0%", "50%", "100%"]
    assert re.search(r'<text class="(last|peak)"[^>]*>(peak )?50%</text>', failures)
    assert re.search(r'<text class="(last|peak)"[^>]*>(peak )?0</text>', cancelled)


def test_cancelled_jobs_are_charted_and_their_reason_shown(client: TestClient, store: Store) -> None:
    backend = store.app.backend
    obsolete = store.app.task(name="obsolete")(lambda: None)
    handle = obsolete.options(priority=0).enqueue()
    (run,) = backend.claim(["default"], "w2", 1, LEASE)
    assert run.id == handle.id
    assert backend.cancel_claimed([Cancellation(run.id, run.token, "superseded <v2>")]) == [run.id]
    record(backend, [Settled(run, "cancelled", 0.1)], store.app.clock.now())
    charts = re.findall(r'<svg class="chart".*?</svg>', client.get("/").text, re.S)
    assert re.search(r'<text class="(last|peak)"[^>]*>(peak )?1</text>', charts[2])
    page = client.get(f"/jobs/{run.id}").text
    assert '<dd class="reason">superseded &lt;v2&gt;</dd>' in page
    store.app.admin.cancel(store.queued[0])
    assert 'class="reason"' not in client.get(f"/jobs/{store.queued[0]}").text


def purge_form(client: TestClient, page: str) -> tuple[str, str]:
    confirm = client.get(page).text
    action = re.search(r'<form method="post" action="([^"]+)"', confirm)
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm)
    assert action and token
    return action.group(1).replace("&amp;", "&"), token.group(1)


def test_queue_purge_shows_the_exact_count_by_state_then_deletes_the_waiting_jobs(
    client: TestClient, store: Store
) -> None:
    waiting = retrying_job(store)
    confirm = client.get("/queues/default/purge").text
    assert re.search(r'class="count">3<', confirm)
    counts = dict(re.findall(r'data-state="(\w+)">\w+: (\d+)<', confirm))
    assert counts == {"queued": "2", "scheduled": "0", "retrying": "1"}
    assert "running jobs are left to their workers" in confirm
    action, token = purge_form(client, "/queues/default/purge")
    done = client.post(action, data={"csrf_token": token})
    assert "purged 3 job(s) of queue default" in done.text
    left = {j.id: j.status for j in store.app.admin.jobs(queue="default")}
    assert left == {store.running: JobState.RUNNING}, "the running job stays, every waiting one is gone"
    assert waiting not in left


def test_queue_purge_by_one_state_leaves_the_others(client: TestClient, store: Store) -> None:
    waiting = retrying_job(store)
    confirm = client.get("/queues/default/purge?state=retrying").text
    assert re.search(r'class="count">1<', confirm) and "retrying</strong> jobs of queue" in confirm
    action, token = purge_form(client, "/queues/default/purge?state=retrying")
    assert action.endswith("/queues/default/purge?state=retrying")
    client.post(action, data={"csrf_token": token})
    assert client.get(f"/jobs/{waiting}").status_code == 404
    assert {j.status for j in store.app.admin.jobs(queue="default")} == {JobState.QUEUED, JobState.RUNNING}


def test_queue_purge_refuses_a_state_that_is_not_waiting_and_a_queue_that_does_not_exist(
    client: TestClient, store: Store
) -> None:
    refused = client.get("/queues/default/purge?state=running")
    assert refused.status_code == 400 and "a queue purge takes a waiting state" in refused.text
    unknown = client.get("/queues/nope/purge")
    assert unknown.status_code == 404 and "no queue &#39;nope&#39;; known: default, emails" in unknown.text
    token = csrf(client)
    assert client.post("/queues/default/purge", data={}).status_code == 403, "no CSRF token, nothing deleted"
    assert client.post("/queues/nope/pause", data={"csrf_token": token}).status_code == 404
    assert store.app.admin.paused() == set() and len(store.app.admin.jobs(queue="default")) == 3


def test_read_only_counts_a_queue_purge_but_offers_no_button(store: Store) -> None:
    client = TestClient(create_app(store.app, read_only=True))
    confirm = client.get("/queues/default/purge").text
    assert re.search(r'class="count">2<', confirm) and 'method="post"' not in confirm
    assert client.post("/queues/default/purge", data={"csrf_token": "x"}).status_code == 403


def test_job_detail_shows_headers_escaped(client: TestClient, store: Store) -> None:
    job = store.app.tasks["add"].options(headers={"tenant": "<b>acme</b>"}).enqueue(1, 2)
    text = client.get(f"/jobs/{job.id}").text
    escaped = '{\n  "tenant": "\\u003cb\\u003eacme\\u003c/b\\u003e"\n}'
    assert f'<dd class="headers"><pre>{escaped}</pre></dd>' in text
    assert 'class="headers"' not in client.get(f"/jobs/{store.done}").text


def test_a_jobs_page_shows_its_unique_key(client: TestClient, store: Store) -> None:
    keyed = store.app.task_named("add").options(unique_key="sum:<1>").enqueue(1, 1)
    assert '<dd class="unique">sum:&lt;1&gt;</dd>' in client.get(f"/jobs/{keyed.id}").text
    assert 'class="unique"' not in client.get(f"/jobs/{store.done}").text


def test_a_queue_with_limits_at_claim_shows_running_and_starts_against_them(
    client: TestClient, store: Store
) -> None:
    store.app.queue("default", concurrency=4, rate="100/s", group_concurrency=2)
    assert ">running 1/4, starts 0/100/s, 2 per group</span>" in client.get("/").text


def test_schedules_page_shows_each_schedule_its_next_fires_and_its_last_runs(store: Store) -> None:
    app = store.app
    app.periodic(every=3600.0, name="hourly-rollup", misfire_grace=7200.0)(lambda: None)
    assert Scheduler(app, app.schedules).run_once(app.clock.now()) == 1  # this hour's fire
    [fired] = [j for j in app.admin.jobs(task="hourly-rollup") if j.unique_key]
    text = TestClient(create_app(app)).get("/schedules").text
    (row,) = re.findall(r'<tr data-schedule="hourly-rollup">.*?</tr>', text, flags=re.S)
    assert "every 3600s" in row and row.count(":00:00+00:00</div>") == 3, row  # the next 3 fires
    fire = (fired.unique_key or "").removeprefix("schedule:hourly-rollup:")
    assert f'<div>{fire}: <a href="http://testserver/jobs/{fired.id}"' in row and ">queued<" in row
    assert (
        f'<td class="skipped"><span title="fires since {fire} past their misfire grace with no job">0</span>'
        in row
    )
    assert 'href="http://testserver/schedules"' in text, "linked from the nav"


def test_schedules_page_of_an_app_without_schedules_says_so(client: TestClient) -> None:
    assert "This app declares no schedules." in client.get("/schedules").text
