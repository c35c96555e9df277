"""Real worker subprocesses over a task module written into the test's directory."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import taskheap

from ..conftest import URL_FACTORIES, wait_for

TASKS_MODULE = '''
import os
import time

import taskheap

app = taskheap.App(
    lease=float(os.environ.get("TEST_LEASE", "30")),
    worker_ttl=float(os.environ.get("TEST_WORKER_TTL", "300")),
)
OUT = os.environ["TEST_OUT"]


def mark(name):
    with open(os.path.join(OUT, name), "a") as f:
        f.write(f"{os.getpid()}\\n")


def marks(name):
    path = os.path.join(OUT, name)
    return open(path).read().split() if os.path.exists(path) else []


@app.task(name="add")
def add(x, y):
    return x + y


@app.task(name="record")
def record(i):
    with open(os.path.join(OUT, f"runs-{os.getpid()}.log"), "a") as f:
        f.write(f"{i}\\n")
    return i


@app.task(name="flaky", retries=3, backoff=0.05)
def flaky(key, failures):
    mark(key)
    if len(marks(key)) <= failures:
        raise ConnectionError(f"transient failure {len(marks(key))} of {key}")
    return "recovered"


@app.task(name="always_fails", retries=2, backoff=0.01)
def always_fails():
    raise ValueError("this task always fails")


@app.task(name="sleepy", retries=1, backoff=0.01)
def sleepy(key, seconds):
    """Slow on its first run only; records each start and each finish."""
    mark(key + ".start")
    if len(marks(key + ".start")) == 1:
        time.sleep(seconds)
    mark(key + ".done")
    return key


@app.task(name="ordered")
def ordered(name, seconds):
    with open(os.path.join(OUT, "order.log"), "a") as f:
        f.write(name + "\\n")
    time.sleep(seconds)


@app.task(name="not_json")
def not_json():
    return {1, 2}


@app.task(name="exits", retries=0)
def exits(code):
    raise SystemExit(code)


@app.task(name="closes_pipe", retries=0)
def closes_pipe():
    """In a process-pool child: closes every descriptor it inherited, its pipe to the worker
    among them, and lives on."""
    mark("closes_pipe")
    os.closerange(3, 65536)
    time.sleep(60)


@app.task(name="rendezvous")
def rendezvous(key, parties, seconds):
    """Marks its start, then waits up to `seconds` for `parties` starts in all: True if they
    met, that is, ran at the same time."""
    mark(key)
    deadline = time.monotonic() + seconds
    while len(marks(key)) < parties and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(marks(key)) >= parties
'''


class WorkerProcess:
    def __init__(
        self,
        cwd: Path,
        url: str,
        *args: str,
        lease: float = 30.0,
        env: dict[str, str] | None = None,
        app: str = "testtasks:app",
    ) -> None:
        env = {
            **os.environ,
            "TASKHEAP_URL": url,
            "TEST_OUT": str(cwd),
            "TEST_LEASE": str(lease),
            **(env or {}),
        }
        env.pop("TASKHEAP_APP", None)
        self.log = cwd / f"worker-{id(self)}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "taskheap", "-v", "-A", app, "worker", *args],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"worker did not exit; log:\n{self.output()}") from None

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


class Lab:
    """A directory with the task module, an App on the backend, and worker launchers."""

    def __init__(self, path: Path, url: str, lease: float = 30.0) -> None:
        self.path = path
        self.url = url
        self.lease = lease
        (path / "testtasks.py").write_text(TASKS_MODULE)
        self._apps: list[taskheap.App] = []
        self.tasks = self.import_tasks("testtasks")
        self.app: taskheap.App = self.tasks.app
        self.workers: list[WorkerProcess] = []

    def import_tasks(self, module: str) -> Any:
        """A task module of this directory, as the workers run it, its App bound to this lab's
        backend (the lab closes it)."""
        saved = {k: os.environ.get(k) for k in ("TASKHEAP_URL", "TEST_OUT", "TEST_LEASE")}
        os.environ.update(TASKHEAP_URL=self.url, TEST_OUT=str(self.path), TEST_LEASE=str(self.lease))
        try:
            spec = importlib.util.spec_from_file_location(f"{module}_{id(self)}", self.path / f"{module}.py")
            assert spec is not None and spec.loader is not None
            loaded = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(loaded)
            loaded.app.url = self.url
            self._apps.append(loaded.app)
            return loaded
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def worker(
        self, *args: str, env: dict[str, str] | None = None, app: str = "testtasks:app"
    ) -> WorkerProcess:
        """A worker subprocess; `env` adds to (or overrides) its environment; `app` is its -A."""
        process = WorkerProcess(self.path, self.url, *args, lease=self.lease, env=env, app=app)
        self.workers.append(process)
        return process

    def marks(self, name: str) -> list[str]:
        path = self.path / name
        return path.read_text().split() if path.exists() else []

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for app in self._apps:
            app.close()


def a_sigkilled_workers_job_runs_again_after_lease_expiry(
    lab: Lab, sleepy: Any, app: str = "testtasks:app"
) -> None:
    """A job of `sleepy` (slow on its first run only, marking each start and finish) whose worker
    was SIGKILLed runs again on another once its lease lapses."""
    handle = sleepy.enqueue("crash", 60)
    victim = lab.worker(app=app)
    wait_for(lambda: lab.marks("crash.start"), what="the job to start")
    victim.signal(signal.SIGKILL)
    victim.wait()
    rescuer = lab.worker("--burst", app=app)
    assert rescuer.wait(timeout=30) == 0, rescuer.output()
    assert handle.result(timeout=1) == "crash"
    assert len(lab.marks("crash.start")) == 2 and len(lab.marks("crash.done")) == 1
    info = handle.info()
    assert info.attempts == 2 and "lease expired" in (info.error or "")


def three_workers_run_every_job_exactly_once(
    lab: Lab, odd: Any, even: Any, app: str = "testtasks:app", total: int = 9000
) -> None:
    """`total` jobs, of the task `odd` for odd numbers and `even` for even ones (each recording
    its run in runs-<pid>.log), drained by three workers together: each ran exactly once."""
    for start in range(0, total, 1000):
        lab.app.enqueue_many([(odd if i % 2 else even).job(i) for i in range(start, start + 1000)])
    lab.app.admin.pause("default")  # until all three are up: none drains the queue alone
    workers = [lab.worker("--concurrency", "4", "--burst", app=app) for _ in range(3)]
    wait_for(lambda: len(lab.app.admin.workers()) == 3, what="three workers registered")
    lab.app.admin.resume("default")
    for worker in workers:
        assert worker.wait(timeout=120) == 0, worker.output()
    runs = Counter(line for log in lab.path.glob("runs-*.log") for line in log.read_text().split())
    assert len(runs) == total and set(runs.values()) == {1}
    assert lab.app.stats()["queues"]["default"]["succeeded"] == total
    assert len(list(lab.path.glob("runs-*.log"))) == 3, "all three workers took part"


EVERY_BACKEND = sorted(URL_FACTORIES)


@pytest.fixture(params=[name for name in EVERY_BACKEND if name != "redis-cluster"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every backend but the Redis Cluster: the contract suite covers the client code workers run
    there, and all the worker tests on it would double the suite's Redis time. A test opts in
    with `@pytest.mark.parametrize("backend_url", EVERY_BACKEND, indirect=True)`."""
    return URL_FACTORIES[request.param](tmp_path)


#: For a long multi-process test: SQLite in the default suite, the servers behind `slow`.
SQLITE_BY_DEFAULT = pytest.mark.parametrize(
    "backend_url",
    [
        pytest.param(name, marks=() if name == "sqlite" else pytest.mark.slow)
        for name in EVERY_BACKEND
        if name != "redis-cluster"
    ],
    indirect=True,
)


@pytest.fixture
def lab(tmp_path: Path, backend_url: str) -> Iterator[Lab]:
    lab = Lab(tmp_path, backend_url)
    yield lab
    lab.close()


@pytest.fixture
def short_lease_lab(tmp_path: Path, backend_url: str) -> Iterator[Lab]:
    lab = Lab(tmp_path, backend_url, lease=1.0)
    yield lab
    lab.close()
