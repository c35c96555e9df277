"""Free TCP ports on loopback for the servers the tests start (redis-server, PostgreSQL, uvicorn).

A port the kernel hands out for `bind(0)` is an ephemeral one: any outgoing connection on the
machine may take it as its local port before the server binds it, or between a server's kill and
its start again on the same port. So the ports come from below the ephemeral range instead, one
after another from a counter in a file every test process on the machine shares (the xdist
workers, other checkouts' runs), under an exclusive lock: two processes never get the same
port, and a port is handed out again only after the counter has gone round the whole range.
A port something else listens on (or still holds) is passed over.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from pathlib import Path

FIRST = 20000  # below every ephemeral range Linux is configured with in practice (32768 by default)
COUNTER = Path(tempfile.gettempdir()) / "taskheap-test-ports"


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


END = _ephemeral_start()  # exclusive


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """The next port of the shared counter that nothing on loopback holds."""
    if END <= FIRST:
        raise RuntimeError(f"the ephemeral ports start at {END}, not above {FIRST}: no ports to hand out")
    fd = os.open(COUNTER, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        port = int(text) if text.isdigit() else FIRST
        for _ in range(END - FIRST):
            candidate = port if FIRST <= port < END else FIRST
            port = candidate + 1
            if _bindable(candidate):
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(port).encode(), 0)
                return candidate
        raise RuntimeError(f"no port from {FIRST} to {END - 1} is free on loopback")
    finally:
        os.close(fd)  # releases the lock
