"""Ctrl-C during a run: the first one asks the run to stop cleanly, a second one quits."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable


def on_first_interrupt(callback: Callable[[], None]) -> Callable[[], None]:
    """Route the first SIGINT to `callback` (a second one interrupts as usual); returns the
    function that puts the default handling back. Only the main thread can receive signals."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()

    def first() -> None:
        loop.remove_signal_handler(signal.SIGINT)  # restores Python's KeyboardInterrupt
        callback()

    loop.add_signal_handler(signal.SIGINT, first)

    def restore() -> None:
        loop.remove_signal_handler(signal.SIGINT)

    return restore
