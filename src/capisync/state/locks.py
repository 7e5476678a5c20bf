"""One run at a time per sync, with locks their holder's death releases at once.

    SQLite ledger       an OS file lock (flock, through `filelock`) on `<ledger>.<sync>.lock`,
                        next to the ledger file: the kernel frees it when the process dies
    PostgreSQL ledger   a session-level advisory lock (`pg_try_advisory_lock`) on a connection
                        of its own, held for the run: the server frees it when that session
                        ends, a killed process included

Nothing here judges whether a holder is alive (a host name and a PID say nothing across
containers that share a host name): the operating system or the database knows. The
`capisync_locks` row the ledger keeps beside the lock only says who holds it, for display.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Protocol

import filelock
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from capisync.errors import LedgerError


class RunLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting; whether it is now held."""
        ...

    def release(self) -> None: ...

    def still_held(self) -> bool:
        """Whether the lock is still ours (a PostgreSQL session can be cut under a run)."""
        ...


class FileRunLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        # no soft fallback: a lock file that outlives a killed holder is what this replaces;
        # the file is kept, so two waiters never lock two different files of one name
        self._lock = filelock.FileLock(
            path, thread_local=False, fallback_to_soft=False, preserve_lock_file=True
        )

    def try_acquire(self) -> bool:
        try:
            self._lock.acquire(blocking=False)
        except filelock.Timeout:
            return False
        except (OSError, NotImplementedError) as exc:
            raise LedgerError(
                f"cannot lock {self.path} ({exc}); the ledger needs a local file system that "
                "supports file locks, or a PostgreSQL ledger (`state.url`)"
            ) from exc
        return True

    def release(self) -> None:
        self._lock.release(force=True)

    def still_held(self) -> bool:
        return self._lock.is_locked


class AdvisoryRunLock:
    def __init__(self, url: sa.URL, sync: str) -> None:
        # a connection of its own, never pooled: closing it ends the session and its lock
        self._engine = sa.create_engine(url, poolclass=NullPool)
        self._sync = sync
        self._conn: sa.Connection | None = None

    def try_acquire(self) -> bool:
        conn = self._engine.connect()
        try:
            # advisory locks are database-wide: the ledger's schema is part of the key, so
            # two ledgers in one database never block each other's syncs
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
            got = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"),
                {"key": advisory_key(str(schema), self._sync)},
            ).scalar_one()
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1")).scalar_one()
            self._conn.commit()
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the session ends, and with it the advisory lock
            self._conn = None
        self._engine.dispose()


def advisory_key(schema: str, sync: str) -> int:
    """A stable signed 64-bit key per ledger schema and sync (advisory locks take a bigint)."""
    digest = hashlib.sha256(f"capisync:{schema}:{sync}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


TEST_RUN_KIND = "test-run"  # `capisync.sync.lock_name` names a test run's lock `<sync>:test-run`


def lock_file(ledger_file: Path, lock_name: str) -> Path:
    """`state.db.<sync>.lock` beside the ledger, `state.db.<sync>.test-run.lock` for the test
    runs of a sync: one stable file per sync and kind, whatever the run, so files never pile
    up (the file is kept: see FileRunLock). A sync name with other characters than letters,
    digits, `_` and `-` gets a short hash of itself appended, so two names never share a file
    and a sync's name never reads as another's kind."""
    sync, kind = lock_name, ""
    if lock_name.endswith(":" + TEST_RUN_KIND):
        sync, kind = lock_name[: -len(TEST_RUN_KIND) - 1], TEST_RUN_KIND
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", sync)
    if safe != sync:
        safe += "-" + hashlib.sha256(sync.encode()).hexdigest()[:8]
    return ledger_file.with_name(f"{ledger_file.name}.{safe}{'.' + kind if kind else ''}.lock")


def run_lock_for(engine: sa.Engine, sync: str) -> RunLock:
    """The lock of `sync` for a ledger on `engine` (SQLite file or PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        return AdvisoryRunLock(engine.url, sync)
    database = engine.url.database
    if not database or database == ":memory:":
        raise LedgerError("an in-memory SQLite ledger cannot be locked across processes")
    return FileRunLock(lock_file(Path(database), sync))
