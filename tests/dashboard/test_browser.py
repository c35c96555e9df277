"""End to end in a real headless Chromium: the dashboard over uvicorn, a dead job, a real worker
process; open the page, see the dead job, retry it, confirm, see it succeed. With
TASKHEAP_SCREENSHOTS=1 it also refreshes the README's screenshots in docs/screenshots/."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from taskheap.dashboard.web import create_app
from tests.conftest import sqlite_url, unavailable, wait_for
from tests.ports import free_port
from tests.worker.conftest import Lab

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, sqlite_url(tmp_path))
    yield lab
    lab.close()


@pytest.fixture
def dashboard(lab: Lab) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(create_app(lab.app), host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn to start")
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(10)


def test_retry_a_dead_job_from_the_browser_and_see_it_succeed(
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
    handle = lab.tasks.flaky.options(retries=0).enqueue("e2e", 1)  # fails once, then recovers
    worker = lab.worker("-c", "2")
    wait_for(lambda: handle.status() == "dead", 20, "the flaky job to die")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(dashboard + "/")
        page.wait_for_selector('tr[data-queue="default"]')
        shots = SCREENSHOTS if os.environ.get("TASKHEAP_SCREENSHOTS") else tmp_path
        page.screenshot(path=str(shots / "overview.png"), full_page=True)

        page.click("text=Dead letters")
        page.click(f"a:text('{handle.id}')")
        page.wait_for_selector("text=transient failure 1 of e2e")
        page.screenshot(path=str(shots / "job-detail.png"), full_page=True)

        job_page = page.url
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():  # the form posts, then redirects
            page.click("button:text('Retry')")
        wait_for(lambda: handle.status() == "succeeded", 20, "the retried job to succeed")
        page.goto(job_page)
        assert page.locator(".state.succeeded").first.inner_text() == "succeeded"
        assert '"recovered"' in page.content()
        browser.close()
    worker.stop()
