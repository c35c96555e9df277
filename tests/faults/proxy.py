"""A loopback TCP proxy between a worker and its store, whose faults a test switches at run time.

`Proxy(port)` listens on 127.0.0.1:<a free port> and forwards each connection to 127.0.0.1:port
(the shared Redis or PostgreSQL: forwarding only, the servers themselves are never touched).
A worker reaches the store through it by its URL (`proxy.url(url)`); the test's own App goes
direct. `Proxy(port, listener=sock)` serves a listening socket made elsewhere instead: one on
127.0.0.1:port in a network namespace of the test's own, where a worker that connects to the
address itself (a Redis Cluster client, to the nodes the cluster announces) finds the proxy.
The faults, each taking effect at once:

- `heal()`: pass everything through (the start state); buffered bytes flow again;
- `blackhole()`: a partition. Every socket stays open and nothing is forwarded either way (the
  bytes stay in the kernels' buffers, as TCP would retransmit them); new connections are
  accepted and connected upstream, and forward nothing either;
- `half_open()`: the server forgets the connections open now (their upstream sides are closed)
  while their clients do not: their client sides stay open and silent, what the client sends is
  discarded. New connections work;
- `latency(seconds, jitter)`: each chunk is delivered `seconds` + uniform(0, jitter) late, in
  order;
- `resets(probability)`: each chunk forwarded resets its connection with that probability, both
  sides, with RST (SO_LINGER 0).

`latency` and `resets` combine; `heal` clears both, and the blackhole. Unlike a real
partition, the proxy's own kernel acknowledges what a client sends and answers its TCP keepalive
probes, so only the client's own timeouts (socket or statement timeouts, deadlines) can find a
silent store here. `close()` closes every socket. One thread runs the proxy: a select loop.
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

TICK = 0.05  # the longest the loop sleeps without a wake-up
CHUNK = 65536


@dataclass(frozen=True)
class Faults:
    blackhole: bool = False
    delay: float = 0.0
    jitter: float = 0.0
    reset: float = 0.0  # probability per chunk


@dataclass
class _Pipe:
    """One direction of a link: bytes read from `source`, due for `sink` at their time."""

    source: socket.socket
    sink: socket.socket | None
    due: deque[tuple[float, bytes]] = field(default_factory=deque)
    out: bytearray = field(default_factory=bytearray)
    last_due: float = 0.0


class _Link:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self.up = _Pipe(client, upstream)  # client -> server
        self.down = _Pipe(upstream, client)  # server -> client
        self.orphan = False  # half-open: the upstream side is gone, the client side stays silent

    def sockets(self) -> list[socket.socket]:
        return [self.client] if self.orphan else [self.client, self.upstream]

    def forget_upstream(self) -> None:
        """The server forgets the connection; the client keeps it, and hears nothing more."""
        self.orphan = True
        _close(self.upstream)
        self.up = _Pipe(self.client, None)
        self.down = _Pipe(self.upstream, None)

    def close(self, reset: bool = False) -> None:
        for sock in (self.client, self.upstream):
            if reset:
                with contextlib.suppress(OSError):  # closed already
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


class Proxy:
    def __init__(
        self,
        target_port: int,
        target_host: str = "127.0.0.1",
        *,
        seed: int | None = None,
        listener: socket.socket | None = None,
    ) -> None:
        """`listener`: a listening socket to serve instead of one on a free loopback port (one
        made in another network namespace, tests/faults/netns.py); the proxy closes it."""
        self.target = (target_host, target_port)
        self._listener = listener or socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._faults = Faults()
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._rng = random.Random(seed)
        self._waker, self._wakee = socket.socketpair()
        self._closing = False
        self._forget = False  # half_open() asked: the loop forgets the upstream sides of its links
        self._turns = 0  # turns of the loop begun so far
        self._turned = threading.Condition(self._lock)
        self.accepted = 0  # connections accepted so far
        self.resets_sent = 0  # connections reset by `resets`
        self.failure: BaseException | None = None  # what ended the loop, if anything did
        self._thread = threading.Thread(target=self._serve, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()

    @classmethod
    def to(cls, url: str, *, seed: int | None = None) -> Proxy:
        """A proxy to the server `url` names (on loopback)."""
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.port is None:
            raise ValueError(f"the proxy forwards to loopback only, with an explicit port: {url}")
        return cls(parts.port, seed=seed)

    def url(self, url: str) -> str:
        """`url` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        user = parts.netloc.rpartition("@")[0]
        netloc = f"{user}@127.0.0.1:{self.port}" if user else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def live(self) -> int:
        """Connections open now (half-open ones included)."""
        with self._lock:
            return len(self._links)

    # -- the faults ---------------------------------------------------------------------
    def heal(self) -> None:
        self._set(Faults())

    def blackhole(self) -> None:
        self._set(Faults(blackhole=True))

    def half_open(self) -> None:
        with self._lock:
            self._forget = True
        self._settled()

    def latency(self, seconds: float, jitter: float = 0.0) -> None:
        with self._lock:
            faults = self._faults
        self._set(Faults(delay=seconds, jitter=jitter, reset=faults.reset))

    def resets(self, probability: float) -> None:
        with self._lock:
            faults = self._faults
        self._set(Faults(delay=faults.delay, jitter=faults.jitter, reset=probability))

    def _set(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
        self._settled()

    def _settled(self) -> None:
        """Return once a turn of the loop has begun after the change: it is in effect."""
        with self._turned:
            target = self._turns + 2
            self._wake()
            if not self._turned.wait_for(lambda: self._turns >= target or self.failure is not None, 5):
                raise RuntimeError("the proxy's loop did not turn within 5 s")

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # closed, or the loop has wake-ups pending already
            self._waker.send(b"x")

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        self._closing = True
        self._wake()
        self._thread.join(5)
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()
        for sock in (self._listener, self._waker, self._wakee):
            _close(sock)

    def __enter__(self) -> Proxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the loop -----------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while not self._closing:
                self._turn()
        except BaseException as exc:  # a test reads it: a dead proxy must not pass for a partition
            with self._turned:
                self.failure = exc
                self._turned.notify_all()
            raise

    def _turn(self) -> None:
        with self._turned:
            self._turns += 1
            self._turned.notify_all()
            if self._forget:
                self._forget = False
                for link in self._links:
                    if not link.orphan:
                        link.forget_upstream()
            faults, links = self._faults, list(self._links)
        readers: list[socket.socket] = [self._listener, self._wakee]
        writers: list[socket.socket] = []
        now = time.monotonic()
        timeout = TICK
        if not faults.blackhole:
            for link in links:
                readers += link.sockets()
                for pipe in (link.up, link.down):
                    self._release_due(pipe, now)
                    if pipe.out and pipe.sink is not None:
                        writers.append(pipe.sink)
                    if pipe.due:
                        timeout = min(timeout, max(0.0, pipe.due[0][0] - now))
        readable, writable, _ = select.select(readers, writers, [], timeout)
        if self._wakee in readable:
            self._wakee.recv(CHUNK)
        if self._listener in readable:
            self._accept()
        if faults.blackhole:
            return
        for link in links:
            try:
                self._pump(link, faults, readable, writable)
            except OSError:
                self._drop(link)

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)  # the server refused: so does the proxy
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._links.append(_Link(client, upstream))
            self.accepted += 1

    def _pump(
        self, link: _Link, faults: Faults, readable: list[socket.socket], writable: list[socket.socket]
    ) -> None:
        for pipe in (link.up, link.down):
            if pipe.sink is not None and pipe.sink in writable and pipe.out:
                del pipe.out[: pipe.sink.send(pipe.out)]
            if pipe.source in readable:
                data = pipe.source.recv(CHUNK)
                if not data:
                    self._drop(link)
                    return
                if pipe.sink is None:
                    continue  # half-open: the client's bytes go nowhere
                if faults.reset and self._rng.random() < faults.reset:
                    self._drop(link, reset=True)
                    return
                due = time.monotonic() + faults.delay + self._rng.uniform(0.0, faults.jitter)
                pipe.last_due = max(due, pipe.last_due)  # jitter never reorders a stream
                pipe.due.append((pipe.last_due, data))

    @staticmethod
    def _release_due(pipe: _Pipe, now: float) -> None:
        while pipe.due and pipe.due[0][0] <= now:
            pipe.out += pipe.due.popleft()[1]

    def _drop(self, link: _Link, reset: bool = False) -> None:
        with self._lock:
            if link in self._links:
                self._links.remove(link)
            if reset:
                self.resets_sent += 1
        link.close(reset=reset)
