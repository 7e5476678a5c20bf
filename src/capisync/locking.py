"""One run at a time per sync: take the sync's lock, or wait for it, or say who holds it.

The lock itself is one the operating system or the database releases when its holder dies
(state/locks.py): a run killed with SIGKILL, or a container gone, frees it at once, and no
host name or PID is ever used to guess whether a holder is alive. The owner string
(`host:pid:nonce`) and its heartbeat are kept beside the lock only to say who holds it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable

from capisync.errors import SyncLockedError
from capisync.state import Ledger

# the holder refreshes its heartbeat every LOCK_STALE_AFTER / 4 seconds; the heartbeat is shown
# to people (who holds the lock, last seen when), it never decides who may take the lock
LOCK_STALE_AFTER = 120.0
WAIT_POLL_SECONDS = 1.0


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def acquire_lock(
    ledger: Ledger,
    sync: str,
    owner: str,
    *,
    wait_seconds: float,
    clock: Callable[[], float],
    waiting: Callable[[str], None] | None = None,
) -> None:
    """Take the lock of `sync`, polling for up to `wait_seconds` (`on_locked: wait`);
    `waiting(holder)` is called once, when the wait begins.

    Raises SyncLockedError (exit 4) naming the holder when it is still held at the deadline."""
    deadline = clock() + wait_seconds
    told = False
    while True:
        holder = ledger.try_lock(sync, owner, clock())
        if holder is None:
            return
        if waiting is not None and not told and clock() < deadline:
            waiting(holder)
            told = True
        if clock() >= deadline:
            locked = SyncLockedError(
                f"sync '{sync}' is already running ({holder}); wait for it to finish, or set "
                "`on_locked: wait` to queue behind it"
            )
            locked.holder = holder
            raise locked
        await asyncio.sleep(WAIT_POLL_SECONDS)
