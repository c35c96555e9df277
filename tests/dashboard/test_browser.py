"""End to end in a real headless Chromium: the dashboard over uvicorn behind a token, a dead job,
a real worker process; log in through the form, see the live overview, the dead job, retry it,
confirm, see it succeed; every page under the Content-Security-Policy without a violation and
within an 800 px window. With TASKHEAP_SCREENSHOTS=1 it also refreshes the README's screenshots
in docs/screenshots/."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from taskheap.dashboard.security import Auth
from taskheap.dashboard.web import create_app
from tests.conftest import sqlite_url, unavailable, wait_for
from tests.ports import free_port
from tests.worker.conftest import Lab

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
TOKEN = "browser-test-token"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Collects the page's CSP violations (an init script is the browser's, outside the policy).
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
NARROW = {"width": 800, "height": 600}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, sqlite_url(tmp_path))
    yield lab
    lab.close()


@pytest.fixture
def dashboard(lab: Lab) -> Iterator[str]:
    app = create_app(lab.app, auth=Auth(token=TOKEN))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn to start")
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(10)


def csp_problems(page: Any, console: list[str]) -> list[str]:
    violations: list[str] = page.evaluate("window.__violations")
    return violations + [line for line in console if "Content Security Policy" in line]


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_log_in_and_retry_a_dead_job_from_the_browser_under_the_csp(
    lab: Lab, dashboard: str, tmp_path: Path
) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        unavailable("chromium is not installed (apt-get install chromium)")
    for i in range(3):
        lab.tasks.add.enqueue(i, i)
    recovered = lab.tasks.flaky.enqueue("recovers", 2)  # fails twice, then succeeds on its third try
    handle = lab.tasks.flaky.options(retries=0).enqueue("e2e", 1)  # fails once: dead
    worker = lab.worker("-c", "2")
    wait_for(lambda: handle.status() == "dead", 20, "the flaky job to die")
    wait_for(lambda: recovered.status() == "succeeded", 20, "the recovering job to succeed")
    shots = SCREENSHOTS if os.environ.get("TASKHEAP_SCREENSHOTS") else tmp_path
    console: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.add_init_script(WATCH_CSP)
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

        page.goto(dashboard + "/dead")
        assert page.url.startswith(dashboard + "/login?next="), "sent to the login form"
        page.fill("input[name=token]", "wrong")
        with page.expect_navigation():
            page.click("button:text('Log in')")
        assert "wrong token" in page.content()
        page.fill("input[name=token]", TOKEN)
        with page.expect_navigation():
            page.click("button:text('Log in')")
        assert page.url == dashboard + "/dead", "back to the page it asked for"
        cookie = next(c for c in page.context.cookies() if c["name"] == "taskheap_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
        assert page.evaluate("document.cookie") == "", "no script can read the cookies"

        page.goto(dashboard + "/")
        page.wait_for_selector('tr[data-queue="default"]')
        succeeded = page.locator('tr[data-queue="default"] a[href*="state=succeeded"]')
        before = succeeded.inner_text()
        lab.tasks.add.enqueue(9, 9)
        wait_for(
            lambda: succeeded.inner_text() != before,
            15,
            "the live overview (server-sent events under the CSP) to show the new job's success",
        )
        page.screenshot(path=str(shots / "overview.png"), full_page=True)

        page.click("text=Dead letters")
        page.click(f'tr[data-job="{handle.id}"] td.id a')
        page.wait_for_selector("text=transient failure 1 of e2e")
        page.screenshot(path=str(shots / "job-detail.png"), full_page=True)

        page.click("text=Workers")
        page.wait_for_selector("td.heartbeat")
        assert page.locator("tr[data-worker]").count() == 1
        page.screenshot(path=str(shots / "workers.png"), full_page=True)

        page.set_viewport_size(NARROW)
        for path in ("/", "/jobs", "/dead", "/workers", f"/jobs/{recovered.id}", "/queues/default/purge"):
            page.goto(dashboard + path)
            assert fits(page), f"{path} is wider than 800 px"
        page.set_viewport_size({"width": 1280, "height": 800})

        page.goto(f"{dashboard}/jobs/{handle.id}")
        page.once("dialog", lambda dialog: dialog.accept())  # the confirmation, from dashboard.js
        with page.expect_navigation():  # the form posts, then redirects
            page.click("button:text('Retry')")
        wait_for(lambda: handle.status() == "succeeded", 20, "the retried job to succeed")
        page.goto(f"{dashboard}/jobs/{handle.id}")
        assert page.locator(".state.succeeded").first.inner_text() == "succeeded"
        assert '"recovered"' in page.content()
        assert csp_problems(page, console) == [], "the pages run under the policy without a violation"

        page.evaluate(
            "document.body.append(Object.assign(document.createElement('script'), {text: 'window.x=1'}))"
        )
        wait_for(lambda: csp_problems(page, console), 5, "the policy to refuse an inline script")
        assert page.evaluate("window.x") is None, "an inline script does not run"
        browser.close()
    worker.stop()
