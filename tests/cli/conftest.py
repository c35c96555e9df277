"""The `taskheap` console script, run as a real subprocess in a fresh directory holding a tasks
module, with an environment that names no store and no app unless a test says so."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import taskheap

TASKHEAP = str(Path(sys.executable).with_name("taskheap"))

TASKS = """
import taskheap

app = taskheap.App()
app.queue("mail")

@app.task(retries=0)
def add(x, y):
    return x + y

@app.task(retries=0)
def fails():
    raise RuntimeError("nope")

@app.task(queue="mail", retries=0)
def send(to, *, subject="hi"):
    return f"{subject} {to}"
"""


@dataclass
class Cli:
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.cwd}/cli.db"

    def __call__(
        self, *args: str, code: int = 0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `taskheap ARGS`; its exit status must be `code`."""
        done = subprocess.run(
            [TASKHEAP, *args],
            cwd=self.cwd,
            env=self.env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == code, f"exit {done.returncode}\n{done.stdout}{done.stderr}"
        return done

    def app(self) -> taskheap.App:
        """An App on the same store, to set up or check what the commands see."""
        return taskheap.App(self.url)


@pytest.fixture
def bare(tmp_path: Path) -> Cli:
    """No $TASKHEAP_URL and no $TASKHEAP_APP: only what the arguments say."""
    (tmp_path / "tasks.py").write_text(TASKS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKHEAP_")}
    return Cli(tmp_path, env)


@pytest.fixture
def cli(bare: Cli) -> Cli:
    """$TASKHEAP_URL names a SQLite file in the directory and $TASKHEAP_APP the tasks module."""
    bare.env |= {"TASKHEAP_URL": bare.url, "TASKHEAP_APP": "tasks:app"}
    return bare
