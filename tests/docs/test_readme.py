"""The README's code, run as written, so it cannot drift from what taskheap does.

Every fenced block of README.md follows an HTML comment that says how it runs:

    <!-- file: NAME -->                   saved as NAME in the session's directory
    <!-- shell -->                        each line run there by bash, each must exit 0
    <!-- shell: background -->            started there and left running, as in a terminal of its
                                          own (a worker); SIGTERM at the end, and it must exit 0
    <!-- output -->                       exactly what the shell block before it printed
    <!-- python: on the test servers -->  run with its example URLs swapped for the test's servers
    <!-- not run: WHERE -->               checked elsewhere, WHERE says where

The file, shell and output blocks are one session, in README order, on embedded SQLite, with the
console scripts of this environment first on the PATH.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql

import taskheap
from taskheap.job import JobState
from taskheap.task import JobOptions, JobSpec
from tests.conftest import wait_for
from tests.postgres_support import postgres_url, server_url
from tests.redis_support import redis_cluster_url, redis_url

README = Path(__file__).parents[2] / "README.md"
VENV_BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(\S*)$")
MARKER = re.compile(r"^<!-- (.+) -->$")
KINDS = re.compile(r"file: [\w.-]+|shell|shell: background|output|python: on the test servers|not run: .+")
SESSION_KINDS = ("file", "shell", "shell: background", "output")
DATABASE = "jobs.db"  # the session's store: the README's tasks.py says sqlite:///jobs.db
CLI_ENQUEUE = "taskheap -A tasks:app enqueue add --args '[1, 2]'"
#: What the README says a command does, checked right after it runs (a later block may undo it).
RIGHT_AFTER: dict[str, Callable[[taskheap.App], bool]] = {
    "taskheap --url sqlite:///jobs.db queues pause mail": lambda app: "mail" in app.admin.paused(),
}


@dataclass(frozen=True, slots=True)
class Block:
    line: int  # of the opening fence, 1-based
    how: str  # the comment's text before it, "" without one
    text: str

    @property
    def kind(self) -> str:
        return self.how.partition(":")[0] if self.how.startswith(("file:", "not run:")) else self.how


def readme_blocks() -> list[Block]:
    lines = README.read_text().splitlines()
    blocks, n = [], 0
    while n < len(lines):
        if FENCE.match(lines[n]):
            end = lines.index("```", n + 1)
            marker = MARKER.match(lines[n - 1]) if n else None
            blocks.append(
                Block(n + 1, marker.group(1) if marker else "", "\n".join(lines[n + 1 : end]) + "\n")
            )
            n = end
        n += 1
    return blocks


def test_every_block_says_how_it_runs() -> None:
    unmarked = [
        f"README.md:{b.line}: a code block without <!-- how it runs --> on the line before it"
        f" (found {b.how!r}; the kinds are in {__name__}'s docstring)"
        for b in readme_blocks()
        if not KINDS.fullmatch(b.how)
    ]
    assert not unmarked, "\n".join(unmarked)


# -- the session: tasks module, worker, producer, CLI, on SQLite ---------------------------------


@dataclass
class Session:
    directory: Path
    env: dict[str, str]
    ran: list[tuple[str, str]] = field(default_factory=list)  # (command, its stdout)
    background: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)
    last_stdout: str | None = None

    def run(self, block: Block) -> None:
        if block.kind == "file":
            (self.directory / block.how.removeprefix("file: ")).write_text(block.text)
        elif block.kind == "shell":
            self.last_stdout = "".join(self._shell(command) for command in _commands(block))
        elif block.kind == "shell: background":
            for command in _commands(block):
                self._start(command)
        else:
            assert self.last_stdout is not None, (
                f"README.md:{block.line}: an output block with no shell before"
            )
            assert self.last_stdout == block.text, (
                f"README.md:{block.line}: the shell block printed otherwise"
            )

    def _shell(self, command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        self.ran.append((command, done.stdout))
        for prefix, holds in RIGHT_AFTER.items():
            if command.startswith(prefix):
                with closing(taskheap.App(f"sqlite:///{self.directory / DATABASE}")) as app:
                    assert holds(app), f"after {command!r}: {prefix!r} did not do what the README says"
        return done.stdout

    def _start(self, command: str) -> None:
        log = self.directory.parent / f"background-{len(self.background)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"], cwd=self.directory, env=self.env, stdout=out, stderr=out
            )
        self.background.append((process, log))
        # as a user waits for the worker's banner before turning to another terminal
        with closing(taskheap.App(f"sqlite:///{self.directory / DATABASE}")) as app:
            wait_for(lambda: _registered(app, process, log), 30, f"{command!r} to register")

    def stdout_of(self, prefix: str) -> str:
        found = [out for command, out in self.ran if command.startswith(prefix)]
        assert found, f"the README no longer runs {prefix!r}: this test checks what that command did"
        return found[0]

    def stop(self) -> list[str]:
        """SIGTERM each background command, as Ctrl-C in its terminal would; what failed to exit 0."""
        failed = []
        for process, log in self.background:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            if code != 0:
                failed.append(f"{process.args} exited {code}:\n{log.read_text(errors='replace')}")
        return failed


def _commands(block: Block) -> list[str]:
    return [line for line in block.text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _field(pattern: str, text: str, what: str) -> str:
    match = re.search(pattern, text)
    assert match, f"no {what} in {text!r}"
    return match.group(0)


def _registered(app: taskheap.App, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(
            f"{process.args} exited {process.returncode}:\n{log.read_text(errors='replace')}"
        )
    return any(w["pid"] == process.pid for w in app.admin.workers())


def test_the_readme_session_runs_as_written_on_sqlite(tmp_path: Path) -> None:
    directory = tmp_path / "project"
    directory.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TASKHEAP_URL", "TASKHEAP_APP")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    session = Session(directory, env)
    blocks = [b for b in readme_blocks() if b.kind in SESSION_KINDS]
    assert any(b.how == "file: tasks.py" for b in blocks) and f"sqlite:///{DATABASE}" in README.read_text()
    try:
        for block in blocks:
            session.run(block)
        enqueued = session.stdout_of(CLI_ENQUEUE)
        job_id = _field(r"\b[0-9A-Z]{26}\b", enqueued, "a job id")
        with closing(taskheap.App(f"sqlite:///{directory / DATABASE}")) as app:
            assert app.get_job(job_id).result(timeout=30.0) == 3  # the CLI's job ran add(1, 2)
            dead = {q: c["dead"] for q, c in app.admin.counts().items() if c["dead"]}
            assert not dead, f"dead jobs: {dead}: {[j.error for j in app.admin.jobs(state='dead')]}"
        assert all(any(c.startswith(prefix) for c, _ in session.ran) for prefix in RIGHT_AFTER)
    finally:
        failed = session.stop()
    assert not failed, "\n".join(failed)


# -- the Backends examples, on the test's servers ----------------------------------------------

#: The README's example servers and the tests' own that stand in for them.
SERVERS: dict[str, Callable[[Path], str]] = {
    "redis://redis.internal:6379/0": redis_url,
    "rediss://:pw@host:6380/0?prefix=billing": redis_url,  # no TLS server in the tests
    "redis+cluster://node1:7000/0": redis_cluster_url,
    "postgresql://app@db:5432/shop?schema=taskheap": postgres_url,
}
SHOP = "postgresql://app@db:5432/shop"  # your own database: the test's, on the App's schema


class _SwapURLs(ast.NodeTransformer):
    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        if isinstance(node.value, str) and "://" in node.value:
            assert node.value in self.urls, f"the README names {node.value!r}: give it a stand-in in SERVERS"
            return ast.copy_location(ast.Constant(self.urls[node.value]), node)
        return node


def test_the_backend_examples_run_on_the_test_servers(tmp_path: Path) -> None:
    urls = {example: stand_in(tmp_path) for example, stand_in in SERVERS.items()}
    schema = parse_qs(urlsplit(urls["postgresql://app@db:5432/shop?schema=taskheap"]).query)["schema"][0]
    urls[SHOP] = f"{server_url()}{'&' if '?' in server_url() else '?'}options=-csearch_path%3D{schema}"
    blocks = [b for b in readme_blocks() if b.how == "python: on the test servers"]
    namespace: dict[str, Any] = {"taskheap": taskheap}
    apps: list[taskheap.App] = []
    try:
        for block in blocks:
            tree = _SwapURLs(urls).visit(ast.parse(block.text, f"README.md:{block.line}"))
            for statement in tree.body:
                exec(compile(ast.Module([statement], []), f"README.md:{block.line}", "exec"), namespace)
                if isinstance(namespace.get("app"), taskheap.App) and namespace["app"] not in apps:
                    apps.append(namespace["app"])
                    _prepare(namespace["app"], schema)
        assert len(apps) == 4, apps
        for app in apps:  # each reaches a working store
            handle = app.enqueue(JobSpec("readme.probe", (), {}, JobOptions()))
            assert app.admin.job(handle.id).status == JobState.QUEUED, app
        # the transaction committed the order and its job together
        shop, receipt = apps[-1], namespace["send_receipt"]
        [job] = shop.admin.jobs(task=receipt.name)
        assert job.args == [namespace["order_id"]] and job.status == JobState.QUEUED
        with psycopg.connect(urls[SHOP]) as conn:
            assert conn.execute("SELECT id, total FROM orders").fetchall() == [(namespace["order_id"], 42)]
    finally:
        for app in apps:
            app.close()


def _prepare(app: taskheap.App, schema: str) -> None:
    """Open the store, and give the PostgreSQL one the `orders` table of "your" database."""
    app.admin.counts()
    if app.url.startswith("postgresql"):
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE TABLE {}.orders (id serial PRIMARY KEY, total int)").format(
                    sql.Identifier(schema)
                )
            )
