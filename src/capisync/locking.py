"""One run at a time per sync: take the ledger's lock, wait for it or fail, recover dead ones.

The lock lives in the ledger, so it holds across processes and machines that share one. Its
owner is `host:pid:nonce`; a holder whose process is gone from this host is left over and
taken at once, one on another host once its heartbeat is older than LOCK_STALE_AFTER.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable

from capisync.errors import SyncLockedError
from capisync.state import Ledger

LOCK_STALE_AFTER = 120.0  # seconds without a heartbeat before another machine may take the lock


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def acquire_lock(
    ledger: Ledger, sync: str, owner: str, *, wait_seconds: float, clock: Callable[[], float]
) -> None:
    deadline = clock() + wait_seconds
    while True:
        holder = ledger.try_lock(
            sync, owner, clock(), stale_after=LOCK_STALE_AFTER, is_dead=owner_is_dead
        )
        if holder is None:
            return
        if clock() >= deadline:
            raise SyncLockedError(
                f"sync '{sync}' is already running ({holder}); wait for it to finish, or set "
                "`on_locked: wait` to queue behind it"
            )
        await asyncio.sleep(1.0)


def owner_is_dead(owner: str) -> bool:
    """A lock held by a process of this machine that no longer exists is left over."""
    host, _, rest = owner.partition(":")
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return False
