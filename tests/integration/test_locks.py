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


def test_a_lock_whose_session_was_cut_is_noticed_at_the_next_heartbeat(pg_url: str) -> None:
    import psycopg
    import pytest as _pytest

    from capisync.errors import LedgerUnavailableError
    from capisync.state.locks import advisory_key

    ledger = Ledger(pg_url)
    try:
        assert ledger.try_lock("s", "me:1:a", 1.0) is None
        ledger.heartbeat("s", "me:1:a", 2.0)
        with psycopg.connect(
            "host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True
        ) as admin:  # what a server restart or a network cut does to the lock's session
            schema = pg_url.rsplit("search_path%3D", 1)[1]
            key = advisory_key(schema, "s") & 0xFFFFFFFFFFFFFFFF
            cut = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid = %s AND objid = %s",
                (str(key >> 32), str(key & 0xFFFFFFFF)),
            ).fetchall()
            assert cut == [(True,)]
        with _pytest.raises(LedgerUnavailableError, match="lock of sync 's' was lost"):
            ledger.heartbeat("s", "me:1:a", 3.0)
    finally:
        ledger.close()


def test_ledgers_in_two_schemas_of_one_database_do_not_block_each_other(pg_url: str) -> None:
    import uuid

    import psycopg

    other_schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = "host=127.0.0.1 port=5432 dbname=test user=postgres"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {other_schema}")
    first, second = Ledger(pg_url), Ledger(pg_url.rsplit("%3D", 1)[0] + "%3D" + other_schema)
    try:
        assert first.try_lock("s", "a:1:x", 1.0) is None
        assert second.try_lock("s", "b:2:y", 1.0) is None  # another ledger: its own lock
        assert Ledger(pg_url).try_lock("s", "c:3:z", 1.0) is not None  # the same ledger: held
    finally:
        first.close()
        second.close()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {other_schema} CASCADE")
