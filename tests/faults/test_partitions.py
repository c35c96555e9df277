"""A partition between one worker and its store, through the loopback proxy (tests/faults/proxy.py):
a blackhole, half-open connections, latency with resets. Redis, PostgreSQL and the Redis Cluster
(its ci blackhole in the CI subset, the rest in the full run); not SQLite, which has no network
between a worker and its store.

Redis and PostgreSQL: the partitioned worker's URL names the proxy. The Cluster cannot be cut
so: its client connects to the node addresses the cluster announces (127.0.0.1:<node port>, in
CLUSTER SLOTS and MOVED replies), whatever the URL says. So the partitioned worker runs in a
network namespace of the test's own (tests/faults/netns.py), with a loopback of its own: there,
one proxy per node listens on 127.0.0.1:<that node's port> and forwards to the node on the
host's loopback. The worker keeps the ordinary cluster URL, every node it learns of is a proxy,
and each fault hits all the proxies at once. The direct worker and the test go to the nodes.
(A namespace needs root and iproute2: without them the Cluster cases skip, or fail under CI=true.)

Each case: a worker reaches the store through the proxy and runs two jobs a lease long; another
worker reaches it directly. The fault hits while those two run. Then: the partitioned worker
says so within its lease (one warning, not one per failed call; `detection_s` from the fault),
the direct worker takes the two jobs over once their leases run out, the partitioned worker's
late completions are refused (no stale completion accepted), nothing is lost, and the
partitioned worker, never restarted, runs jobs again after the heal (`recovery_s`: from the heal
until it finishes a job of a queue only it serves, enqueued during the fault) and says the store
is back.

The CI subset uses a 3 s lease, store timeouts of two leases (`socket_timeout` / `deadline` in
the URL: a call hung on a dead connection fails after them, and the leases lapse first, so the
direct worker always takes over) and faults of about two leases; the full run (faults_full) a
5 s lease, the default store timeouts (10 s) and faults of 15 s. (A fault shorter than the
lease costs no lease: the worker renews them once the store answers again.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis

from tests.conftest import wait_for
from tests.faults.harness import FaultLab, FaultWorker, record, repeats
from tests.faults.netns import Namespace
from tests.faults.proxy import Proxy

pytestmark = pytest.mark.faults

OUTAGE = "store unreachable since"
BACK = "store reachable again after"
RETRIED = "failed (will retry)"  # another call's failure, said at warning level unless unreachable


@dataclass(frozen=True)
class Setting:
    lease: float
    timeouts: float | None  # the store timeouts in the partitioned worker's URL; None: defaults
    hold: float  # seconds the fault lasts (at least; longer if the takeover takes longer)
    full: bool


CI = Setting(lease=3.0, timeouts=6.0, hold=7.0, full=False)
FULL = Setting(lease=5.0, timeouts=None, hold=15.0, full=True)


def cases(*, cluster_in_ci: bool = False) -> list[Any]:
    """The (setting, fault_backend) of a case: each setting on Redis, PostgreSQL and the
    Cluster. The full setting runs in the full run only, and so does the Cluster, unless
    `cluster_in_ci`: then its ci setting is in the CI subset too."""
    params = []
    for name, setting in (("ci", CI), ("full", FULL)):
        for backend in ("redis", "postgres", "redis-cluster"):
            full_only = setting.full or (backend == "redis-cluster" and not cluster_in_ci)
            marks = [pytest.mark.faults_full] if full_only else []
            params.append(pytest.param(setting, backend, id=f"{name}-{backend}", marks=marks))
    return params


#: the URL option that bounds a call to the store
TIMEOUT_OPTION = {"redis": "socket_timeout", "redis-cluster": "socket_timeout", "postgres": "deadline"}

Fault = Callable[[Sequence[Proxy]], None]  # done to every proxy between the cut worker and its store


def on_all(change: Callable[[Proxy], None]) -> Fault:
    def apply(proxies: Sequence[Proxy]) -> None:
        for proxy in proxies:
            change(proxy)

    return apply


@pytest.fixture
def namespaces() -> Iterator[Callable[[], Namespace]]:
    """`namespaces()`: a new network namespace; each removed after the test, pass or fail."""
    made: list[Namespace] = []

    def make() -> Namespace:
        made.append(Namespace())
        return made[-1]

    yield make
    for namespace in made:
        namespace.delete()


def node_ports(url: str) -> list[int]:
    """The ports of the nodes the Cluster at `url` announces to its clients (CLUSTER SLOTS)."""
    with redis.Redis(port=urlsplit(url).port, decode_responses=True) as client:
        nodes = {(node[0], node[1]) for entry in client.cluster("SLOTS") for node in entry[2:]}
    assert {host for host, _ in nodes} == {"127.0.0.1"}, f"not all on loopback: {nodes}"
    return sorted(port for _, port in nodes)


@dataclass
class Partition:
    lab: FaultLab
    proxies: list[Proxy]  # one, or (the Cluster) one per node
    cut: FaultWorker  # through the proxies, queues default and mine
    direct: FaultWorker | None  # started with the fault
    held: list[str]  # the two jobs the cut worker runs when the fault hits
    setting: Setting

    def output(self) -> str:
        return self.cut.output()

    def warned_at(self, text: str, after: int = 0) -> bool:
        return self.output().count(text) > after

    def took_over(self) -> bool:
        """The direct worker started each held job again."""
        starts = self.lab.ledger.events()
        direct = self.direct
        return direct is not None and all(
            any(e.kind == "start" and e.key == key and e.pid == direct.pid for e in starts)
            for key in self.held
        )

    def finished(self, keys: list[str], after: float) -> float | None:
        """When the cut worker first finished one of these jobs that it started after `after`."""
        events = self.lab.ledger.events()
        started = {e.nonce for e in events if e.kind == "start" and e.pid == self.cut.pid and e.at > after}
        return min(
            (e.at for e in events if e.kind == "done" and e.nonce in started and e.key in keys), default=None
        )


def partition(
    make_lab: Callable[..., FaultLab],
    backend: str,
    setting: Setting,
    namespaces: Callable[[], Namespace],
) -> Partition:
    """The partitioned worker running the two held jobs (the direct worker starts with the
    fault, so that it cannot claim them first)."""
    lab = make_lab(lease=setting.lease)
    if backend == "redis-cluster":
        namespace = namespaces()
        proxies = [Proxy(port, listener=namespace.listener(port)) for port in node_ports(lab.url)]
        url, wrap = lab.url, namespace.exec_prefix()
    else:
        proxies = [Proxy.to(lab.url)]
        url, wrap = proxies[0].url(lab.url), []
    url += f"&{TIMEOUT_OPTION[backend]}={setting.timeouts:g}" if setting.timeouts else ""
    cut = lab.worker("--concurrency", "2", "--queues", "default,mine", env={"TASKHEAP_URL": url}, wrap=wrap)
    held = lab.enqueue(2, seconds=setting.lease)
    wait_for(
        lambda: {e.key for e in lab.ledger.running([cut.pid])} == set(held),
        timeout=30,
        what="the partitioned worker to run both jobs",
    )
    return Partition(lab, proxies, cut, None, held, setting)


def outcome(p: Partition, case: str, fault: Fault, heal: Fault | None) -> None:
    """Inject `fault`, hold it, heal, then check and record the case. `heal` None: half-open,
    which needs no heal (new connections work at once) and cuts the worker off only if its
    heartbeat meets a dead connection (one it opened before the fault): then the outage is
    said and the held jobs taken over as after a blackhole; else neither need happen."""
    lease = p.setting.lease
    faulted = time.monotonic()
    fault(p.proxies)
    p.direct = p.lab.worker("--concurrency", "2")
    p.lab.enqueue(10, seconds=0.2)  # work for the direct worker meanwhile
    seen: list[float] = []  # when the test first saw the outage warning

    def warned() -> bool:
        if not seen and p.warned_at(OUTAGE):
            seen.append(time.monotonic())
        return bool(seen)

    mine: list[str] = []
    if heal is None:
        mine = p.lab.enqueue(3, seconds=0.1, queue="mine")  # only the partitioned worker serves it
        healed = faulted

        def resumed() -> bool:
            warned()  # the warning, if any, is seen while the test waits
            return p.finished(mine, healed) is not None

        wait_for(resumed, timeout=60, what="the partitioned worker to run a job again")
    else:
        wait_for(warned, timeout=4 * lease, what="the partitioned worker's warning")
        mine = p.lab.enqueue(3, seconds=0.1, queue="mine")
        wait_for(p.took_over, timeout=10 * lease, what="the direct worker to take the held jobs over")
        wait_for(lambda: time.monotonic() >= faulted + p.setting.hold, timeout=p.setting.hold + 1)
        healed = time.monotonic()
        heal(p.proxies)
    wait_for(lambda: p.finished(mine, healed), timeout=60, what="the partitioned worker to run a job again")
    finished = p.finished(mine, healed)
    assert finished is not None
    if seen:
        wait_for(lambda: p.warned_at(BACK), timeout=60, what="the partitioned worker to see the store back")
    p.lab.drain(timeout=60)
    result = p.lab.verdict(case, "full" if p.setting.full else "ci", recovery_s=[finished - healed])
    detection = seen[0] - faulted if seen else None
    result.extra.update(
        detection_s=None if detection is None else round(detection, 2),
        lease_s=lease,
        fault_s=round(healed - faulted, 1),
        took_over=p.took_over(),
    )
    record(result)
    result.check()
    assert p.cut.alive(), "the partitioned worker was never restarted: it must still run"
    assert p.output().count(OUTAGE) == (1 if seen else 0), f"one warning per outage:\n{p.output()[-4000:]}"
    assert RETRIED not in p.output(), f"only the outage is a warning, not each call:\n{p.output()[-4000:]}"
    if detection is not None:
        assert detection < lease, f"the outage was seen {detection:.1f}s after the fault, over the lease"
    if heal is not None or p.took_over():
        late = [
            key
            for key in p.held
            if any(e.kind == "done" and e.key == key and e.pid == p.cut.pid for e in p.lab.ledger.events())
        ]
        assert late, "the partitioned worker finished a held job during the fault: its completion came late"
    for proxy in p.proxies:
        proxy.close()
    for worker in p.lab.workers:
        worker.close()  # a repeat's workers stop with it: the next repeat's machine is not loaded by them


@pytest.mark.parametrize(("setting", "fault_backend"), cases(cluster_in_ci=True))
def test_a_blackhole_between_a_worker_and_its_store(
    make_lab: Callable[..., FaultLab],
    fault_backend: str,
    setting: Setting,
    namespaces: Callable[[], Namespace],
) -> None:
    for _ in range(repeats()):
        p = partition(make_lab, fault_backend, setting, namespaces)
        outcome(p, "partition: blackhole", on_all(Proxy.blackhole), on_all(Proxy.heal))


@pytest.mark.parametrize(("setting", "fault_backend"), cases())
def test_half_open_connections_between_a_worker_and_its_store(
    make_lab: Callable[..., FaultLab],
    fault_backend: str,
    setting: Setting,
    namespaces: Callable[[], Namespace],
) -> None:
    """The server forgets every connection the worker has open; new ones work at once."""
    for _ in range(repeats()):
        p = partition(make_lab, fault_backend, setting, namespaces)
        outcome(p, "partition: half-open", on_all(Proxy.half_open), None)


def flaky_then_refused(proxies: Sequence[Proxy]) -> None:
    """Latency with resets: first a slow path that resets one chunk in ten, then every one."""
    for proxy in proxies:
        proxy.latency(0.1, 0.1)
        proxy.resets(0.1)
    time.sleep(0.5)  # the fault's first phase: a duration, not a wait for something
    for proxy in proxies:
        proxy.resets(1.0)


@pytest.mark.parametrize(("setting", "fault_backend"), cases())
def test_latency_with_resets_between_a_worker_and_its_store(
    make_lab: Callable[..., FaultLab],
    fault_backend: str,
    setting: Setting,
    namespaces: Callable[[], Namespace],
) -> None:
    for _ in range(repeats()):
        p = partition(make_lab, fault_backend, setting, namespaces)
        outcome(p, "partition: latency with resets", flaky_then_refused, on_all(Proxy.heal))
