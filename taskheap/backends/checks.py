"""Self-checks: what about a store may lose jobs or expose them, each a warning that names the fix.

Every backend's `self_checks()` builds its list from the helpers here; a worker logs them when it
starts and `taskheap status` shows them. A check is silenced by its code in $TASKHEAP_SILENCE
(comma-separated), for a warning that does not apply (a distribution's backported fix, say).
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from typing import NamedTuple

SILENCE_ENV = "TASKHEAP_SILENCE"

#: The first releases of each series that fix the Lua CVEs of 2025 (CVE-2025-49844, a
#: use-after-free in the Lua parser, and CVE-2025-46817, -46818, -46819), in Redis and in Valkey
#: (which reports `valkey_version`). Series not listed had no fixed release; a version past the
#: newest listed one is fixed.
LUA_FIXED = {
    "Redis": ((6, 2, 20), (7, 2, 11), (7, 4, 6), (8, 0, 4), (8, 2, 2)),
    "Valkey": ((7, 2, 11), (8, 0, 6), (8, 1, 4)),
}
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "glusterfs", "ceph", "afs", "lustre"}
)


class SelfCheck(NamedTuple):
    code: str  # what $TASKHEAP_SILENCE names to silence it
    message: str

    def __str__(self) -> str:
        return f"{self.message} (to silence: {SILENCE_ENV}={self.code})"


def unsilenced(checks: list[SelfCheck]) -> list[SelfCheck]:
    """The checks $TASKHEAP_SILENCE does not name."""
    silenced = {code.strip() for code in os.environ.get(SILENCE_ENV, "").split(",") if code.strip()}
    return [check for check in checks if check.code not in silenced]


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def lua_unfixed(server: str, version: tuple[int, ...]) -> bool:
    """Whether this version of `server` (a key of LUA_FIXED) predates the fix of the 2025 Lua
    CVEs in its series."""
    releases = LUA_FIXED[server]
    if version > releases[-1]:
        return False
    for fixed in releases:
        if version[:2] == fixed[:2]:
            return version < fixed
    return True  # a series without a fixed release


def is_loopback_host(host: str | None) -> bool:
    """localhost, a loopback address, or a Unix socket (a path): traffic that stays on this host."""
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def filesystem_of(path: str, mounts: str) -> str | None:
    """The type of the filesystem holding `path`, from a mount table in /proc/mounts' format."""
    best, kind = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def sqlite_file_checks(path: str) -> list[SelfCheck]:
    """A database file on a network filesystem (WAL needs one host's shared memory), or in a
    directory others can write (they could replace it, or its -wal and -shm files)."""
    checks: list[SelfCheck] = []
    directory = os.path.dirname(os.path.abspath(path))
    try:
        with open("/proc/mounts") as table:
            kind = filesystem_of(os.path.realpath(directory), table.read())
    except OSError:
        kind = None
    if kind in NETWORK_FILESYSTEMS:
        checks.append(
            SelfCheck(
                "sqlite-network-fs",
                f"SQLite database {path!r} is on a network filesystem ({kind}): SQLite's WAL mode needs"
                " every process on one host with a local disk; use a local path, or Redis or PostgreSQL",
            )
        )
    mode = os.stat(directory).st_mode
    if mode & stat.S_IWOTH:
        checks.append(
            SelfCheck(
                "sqlite-shared-dir",
                f"SQLite database {path!r} is in {directory}, which every user can write: another user"
                " could replace the database or its -wal and -shm files; keep it in a directory of its own",
            )
        )
    return checks


def plaintext_check(backend: str, where: str, host: str | None, encrypted: bool) -> list[SelfCheck]:
    """A store reached over the network without TLS."""
    if encrypted or is_loopback_host(host):
        return []
    return [
        SelfCheck(
            f"{backend.lower()}-no-tls",
            f"{backend} at {where} is reached over the network without TLS: jobs, results and"
            " credentials cross it in the clear",
        )
    ]


def lua_cve_check(server: str, version_text: str, where: str) -> list[SelfCheck]:
    """A Redis or Valkey below the releases that fix the 2025 Lua CVEs."""
    if not lua_unfixed(server, version_tuple(version_text)):
        return []
    fixed = ", ".join(".".join(map(str, release)) for release in LUA_FIXED[server])
    return [
        SelfCheck(
            "redis-lua-cve",
            f"{server} at {where} is {version_text}, older than the releases that fix the Lua CVEs of"
            f" 2025 (CVE-2025-49844 and CVE-2025-46817/46818/46819; fixed in {fixed}), which let a"
            " client that may run scripts run code on the server. Distributions such as Debian"
            " backport such fixes without changing the version: if yours has, this can be silenced",
        )
    ]


def clock_checks(skew: float, step: float = 1.0) -> list[SelfCheck]:
    """This process's wall clock off the SQLite store's by more than `step` seconds."""
    if abs(skew) <= step:
        return []
    return [
        SelfCheck(
            "sqlite-clock-step",
            f"this host's clock is {skew:+.1f} s off the SQLite store's clock (a wall-clock step, or"
            " this process's clock set apart): leases, delays and rescues keep the store's clock, so"
            " nothing runs early or twice, but the times the store records and shows differ from"
            " this clock by that much until the host reboots",
        )
    ]
