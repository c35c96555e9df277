"""The self-checks' decisions, on the inputs a store reports (backends/checks.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import taskheap
from taskheap.backends.checks import (
    filesystem_of,
    is_loopback_host,
    lua_unfixed,
    plaintext_check,
    sqlite_file_checks,
    version_tuple,
)


@pytest.mark.parametrize(
    ("server", "version", "unfixed"),
    [
        ("Redis", "7.0.15", True),  # Debian 12's: a series that never had a fixed release
        ("Redis", "5.0.14", True),
        ("Redis", "6.2.19", True),
        ("Redis", "6.2.20", False),
        ("Redis", "7.2.10", True),
        ("Redis", "7.2.11", False),
        ("Redis", "7.4.5", True),
        ("Redis", "7.4.6", False),
        ("Redis", "8.0.3", True),
        ("Redis", "8.0.4", False),
        ("Redis", "8.2.1", True),
        ("Redis", "8.2.2", False),
        ("Redis", "8.4.0", False),
        ("Valkey", "8.0.5", True),
        ("Valkey", "8.0.6", False),
        ("Valkey", "8.1.3", True),
        ("Valkey", "8.1.4", False),
        ("Valkey", "9.0.1", False),
    ],
)
def test_the_lua_cve_floor_of_each_series(server: str, version: str, unfixed: bool) -> None:
    assert lua_unfixed(server, version_tuple(version)) is unfixed


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "/var/run/postgresql", None]
)
def test_loopback_addresses_and_sockets_stay_on_this_host(host: str | None) -> None:
    assert is_loopback_host(host)
    assert plaintext_check("Redis", "somewhere", host, encrypted=False) == []


@pytest.mark.parametrize("host", ["10.0.0.5", "db.internal", "2001:db8::1"])
def test_a_network_address_without_tls_is_warned_about(host: str) -> None:
    assert not is_loopback_host(host)
    (check,) = plaintext_check("PostgreSQL", "db", host, encrypted=False)
    assert check.code == "postgresql-no-tls" and "without TLS" in check.message
    assert plaintext_check("PostgreSQL", "db", host, encrypted=True) == []


MOUNTS = """\
/dev/vda1 / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw 0 0
fileserver:/export/jobs /mnt/jobs nfs4 rw,vers=4.2 0 0
//nas/share /mnt/with\\040space cifs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/mnt/jobs/queue.db", "nfs4"),
        ("/mnt/jobs", "nfs4"),
        ("/mnt/jobsx/queue.db", "ext4"),  # a prefix of the name is not the mount point
        ("/mnt/with space/q.db", "cifs"),
        ("/tmp/q.db", "tmpfs"),
        ("/home/app/q.db", "ext4"),
    ],
)
def test_the_filesystem_of_a_path_is_its_longest_mount_point(path: str, kind: str) -> None:
    assert filesystem_of(path, MOUNTS) == kind


def test_a_database_in_a_directory_every_user_can_write_is_warned_about(tmp_path: Path) -> None:
    shared, private = tmp_path / "shared", tmp_path / "private"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    private.mkdir(mode=0o700)
    assert [check.code for check in sqlite_file_checks(str(shared / "jobs.db"))] == ["sqlite-shared-dir"]
    assert sqlite_file_checks(str(private / "jobs.db")) == []


def test_status_shows_the_stores_warnings_and_how_to_silence_them(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    url = f"sqlite:///{shared}/jobs.db"
    taskheap.App(url).backend.close()  # the store exists: status never creates one

    def status(*args: str, silence: str = "") -> str:
        env = {"PATH": "/usr/bin:/bin", "TASKHEAP_SILENCE": silence}
        done = subprocess.run(
            [sys.executable, "-m", "taskheap", "--url", url, "status", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=True,
        )
        return done.stdout

    assert "warning: SQLite database" in status() and "TASKHEAP_SILENCE=sqlite-shared-dir" in status()
    assert '"warnings": [' in status("--json")
    assert "warning" not in status(silence="sqlite-shared-dir")
