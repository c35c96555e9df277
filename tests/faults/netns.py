"""Network namespaces of the test's own: a process run in one (`exec_prefix()`) has a loopback of
its own, where 127.0.0.1:<port> reaches only what listens on it there (`listener(port)`).

The partition cases put a worker in one to reach a Redis Cluster only through proxies: the
cluster client connects to the node addresses the cluster announces (127.0.0.1:<node port>),
and inside the namespace each of those is a proxy's, which forwards to the node on the host's
loopback. Making one needs root and iproute2's `ip`; `Namespace()` says why not through
tests.conftest.unavailable (a skip, or a failure under CI=true). `delete()` removes it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import threading
import uuid

from tests.conftest import unavailable

CLONE_NEWNET = 0x40000000  # setns(2): the descriptor names a network namespace


def missing() -> str | None:
    """None if this process can make network namespaces, else why not."""
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not on PATH: no network namespace for the test"
    if os.geteuid() != 0:
        return "making a network namespace needs root"
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


class Namespace:
    """A network namespace named th-<random>, its loopback up."""

    def __init__(self) -> None:
        problem = missing()
        if problem:
            unavailable(problem)
        self.name = f"th-{uuid.uuid4().hex[:10]}"
        try:
            _ip("netns", "add", self.name)
        except RuntimeError as exc:
            unavailable(f"cannot make a network namespace: {exc}")
        try:
            _ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")
        except RuntimeError:
            self.delete()
            raise

    def exec_prefix(self) -> list[str]:
        """Prefixed to a command, runs it in the namespace (`ip netns exec` execs it: its PID is
        the command's)."""
        return ["ip", "netns", "exec", self.name]

    def listener(self, port: int) -> socket.socket:
        """A socket listening on 127.0.0.1:`port` inside the namespace. A short-lived thread
        enters the namespace (a thread's own: the process stays where it is), makes it and
        ends; accepting on it works from any thread, and what they connect goes to the host's
        network."""
        made: list[socket.socket | OSError] = []
        thread = threading.Thread(target=self._listen, args=(port, made), name=f"listen-{self.name}")
        thread.start()
        thread.join()
        if isinstance(made[0], OSError):
            raise made[0]
        return made[0]

    def _listen(self, port: int, made: list[socket.socket | OSError]) -> None:
        try:
            fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns into {self.name}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            made.append(socket.create_server(("127.0.0.1", port)))
        except OSError as exc:
            made.append(exc)

    def delete(self) -> None:
        """Remove it (once removed, nothing happens)."""
        if os.path.exists(f"/run/netns/{self.name}"):
            _ip("netns", "del", self.name)
