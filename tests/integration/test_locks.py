"""The one-run lock is one the OS (SQLite ledger: a file lock) or the database (PostgreSQL
ledger: an advisory lock) frees when its holder dies: real second processes, real kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from capisync.state import Ledger

HOLDER = """
import sys, time
from capisync.state import Ledger
ledger = Ledger(sys.argv[1])
assert ledger.try_lock(sys.argv[2], sys.argv[3], time.time()) is None
print("locked", flush=True)
time.sleep(600)
"""


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / ".capisync" / "state.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ledger(location: str) -> Iterator[Ledger]:
    ledger = Ledger(location)
    yield ledger
    ledger.close()


def hold_lock(location: str, sync: str, owner: str) -> subprocess.Popen[str]:
    """Another process that takes the lock and keeps it until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, location, sync, owner],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "locked", proc.stderr.read() if proc.stderr else ""
    return proc


def kill_hard(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def dead_pid() -> int:
    """A PID that no process of this machine has any more."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_the_lock_is_exclusive_per_sync_and_says_who_holds_it(
    ledger: Ledger, location: str
) -> None:
    other = Ledger(location)  # another connection / open file: as another process would
    try:
        assert ledger.try_lock("s", "host-a:11:x", 1000.0) is None
        holder = other.try_lock("s", "host-b:22:y", 1030.0)
        assert holder is not None
        assert "host-a:11:x" in holder and "since 1970-01-01 00:16:40 UTC" in holder
        assert "last heartbeat 30 s ago" in holder
        assert other.try_lock("t", "host-b:22:y", 1030.0) is None  # another sync: free
        ledger.unlock("s", "host-a:11:x")
        assert other.try_lock("s", "host-b:22:y", 1040.0) is None
    finally:
        other.close()


def test_a_holder_in_another_process_blocks_until_kill_9_frees_it_at_once(
    ledger: Ledger, location: str
) -> None:
    proc = hold_lock(location, "s", "other-host:4242:abc")
    try:
        holder = ledger.try_lock("s", "me:1:z", time.time())
        assert holder is not None and "other-host:4242:abc" in holder
    finally:
        kill_hard(proc)
    started = time.monotonic()
    while ledger.try_lock("s", "me:1:z", time.time()) is not None:
        assert time.monotonic() - started < 2.0, "the lock of a killed holder was not freed"
        time.sleep(0.05)
    # no heartbeat timeout to wait out: the OS or the server released it
    print(f"\nlock free {time.monotonic() - started:.3f} s after kill -9")


def test_a_live_holder_on_a_same_named_host_with_a_pid_gone_here_keeps_its_lock(
    ledger: Ledger, location: str
) -> None:
    # two containers with one host name: the holder's PID is in its own PID namespace, so
    # here it is "gone"; the old lock judged such a holder dead and took its lock away
    owner = f"{socket.gethostname()}:{dead_pid()}:0123abcd"
    proc = hold_lock(location, "s", owner)
    try:
        for _ in range(3):
            holder = ledger.try_lock("s", f"{socket.gethostname()}:{os.getpid()}:me", time.time())
            assert holder is not None and owner in holder
            time.sleep(0.1)
    finally:
        kill_hard(proc)
