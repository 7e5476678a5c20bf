"""Running a coroutine to its end from synchronous code, wherever that code is called.

`asyncio.run` refuses inside a running event loop (a notebook cell, an async web app, an
orchestrator's async task): the library's blocking entry points (run_sync, fetch_quality,
alerts_after_run) go through run_blocking, which then gives the coroutine its own loop in a
worker thread and waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_blocking(coro: Coroutine[Any, Any, T], *, thread_name: str) -> T:
    """Run `coro` to completion and return its result (or raise its exception): with
    asyncio.run on this thread when no loop runs here, else in a worker thread named
    `thread_name` with a loop of its own, blocking the caller until it is done."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name) as pool:
        return pool.submit(asyncio.run, coro).result()
