"""Client-side deadlines for calls on sockets whose driver has none (libpq waits for a reply for
as long as the kernel keeps the connection: forever, when the peer's kernel still acknowledges
and answers keepalives but nothing answers above it: a stopped server process, a proxy or pooler
whose far side is gone, a half-open connection behind one).

A call is watched for its duration (`watch` ... `done`); one thread per Deadlines, waking every
tick (a tenth of the deadline, within 0.05 and 1 s; a backend gives all its calls the same
deadline), shuts down (SHUT_RDWR) the socket of a call still running past its deadline, so the
driver's wait ends at once with a lost connection, which the caller reports as a timeout
(`expired`). Watching costs a call two dict operations under an uncontended lock and wakes
nothing: woken on every call, the thread traded the lock and the GIL with the caller (a quarter
more time per small PostgreSQL call). The socket's descriptor stays open (the driver owns it), so
no other connection can be hit by mistake; a socket is shut down only under the lock `done`
takes, so never after its call has ended.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time


class Deadlines:
    def __init__(self, name: str) -> None:
        self.name = name
        self._watched: dict[int, tuple[float, int]] = {}  # token -> (deadline, socket fd)
        self._expired: set[int] = set()  # tokens whose socket was shut down, until `done`
        self._tokens = itertools.count()
        self._lock = threading.Lock()
        self._tick = 1.0
        self._thread: threading.Thread | None = None

    def watch(self, fileno: int, seconds: float) -> int:
        """Watch a call on the socket `fileno` from now for `seconds`: a token for `done`."""
        token = next(self._tokens)
        deadline = time.monotonic() + seconds
        with self._lock:
            self._watched[token] = (deadline, fileno)
            if self._thread is None:
                self._tick = min(1.0, max(0.05, seconds / 10))
                self._thread = threading.Thread(target=self._run, name=f"deadlines-{self.name}", daemon=True)
                self._thread.start()
        return token

    def done(self, token: int) -> bool:
        """The call ended: True if it had run out of time (its socket was shut down)."""
        with self._lock:
            self._watched.pop(token, None)
            if token in self._expired:
                self._expired.discard(token)
                return True
            return False

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                for token, (deadline, fileno) in list(self._watched.items()):
                    if deadline <= now:
                        del self._watched[token]
                        self._expired.add(token)
                        _shut_down(fileno)


def _shut_down(fileno: int) -> None:
    """End every wait on the socket, through a duplicate of its descriptor (closed here; the
    original stays with its owner)."""
    with contextlib.suppress(OSError):  # closed meanwhile: nothing waits on it any more
        duplicate = socket.socket(fileno=os.dup(fileno))
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        finally:
            duplicate.close()
