"""Wait briefly for a destination on this machine that is still starting (the local sandbox).

`capisync sandbox & capisync check`, pasted from the README, starts both at once: the
sandbox needs a moment (about 0.6 s on an idle 2-core machine, seconds on a busy one) before
it accepts connections. Only a loopback address that refuses connections is waited for: a
remote host is never probed here (its failures go through the client's own retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

log = logging.getLogger("capisync.reachability")

LOCAL_START_WAIT = 10.0  # seconds a loopback destination may take to start listening
_POLL = 0.1  # seconds between two connection attempts
_CONNECT_TIMEOUT = 1.0
_REMEMBER_GIVING_UP = 60.0  # seconds: a later sync of the same command does not wait again
_gave_up: dict[str, float] = {}  # origin -> when waiting for it ended in vain (clock time)


def is_loopback(host: str) -> bool:
    """`localhost`, `*.localhost`, 127.0.0.0/8 or ::1 (brackets allowed)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


async def wait_until_listening(
    url: str,
    *,
    seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> str | None:
    """None once `url`'s host accepts a TCP connection (at once when it is not a loopback
    address); else, after `seconds` (default LOCAL_START_WAIT) of trying, what is wrong and
    how to fix it. Says once, through logging (stderr by default), that it is waiting. An
    origin waited for in vain less than a minute ago is tried once, not waited for again (the
    next sync of the same `check` or `run`)."""
    parts = urlsplit(url)
    host = parts.hostname
    if host is None or not is_loopback(host):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    origin = f"{parts.scheme}://{parts.netloc}"
    if await _accepts(host, port):
        return None
    seconds = LOCAL_START_WAIT if seconds is None else seconds
    if clock() - _gave_up.get(origin, float("-inf")) < _REMEMBER_GIVING_UP:
        seconds = 0.0
    if seconds > 0:
        log.warning(
            "nothing answers at %s yet: waiting up to %g s for it to start "
            "(the local sandbox: `capisync sandbox`)",
            origin,
            seconds,
        )
        deadline = clock() + seconds
        while clock() < deadline:
            await sleep(_POLL)
            if await _accepts(host, port):
                return None
    _gave_up[origin] = clock()
    waited = f" (waited {seconds:g} s)" if seconds > 0 else ""
    return (
        f"nothing is listening at {origin}{waited}: if it is the local sandbox, start it "
        "first (`capisync sandbox`, in another terminal or in the background with `&`); "
        "otherwise fix destination.base_url"
    )


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), port), _CONNECT_TIMEOUT
        )
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
