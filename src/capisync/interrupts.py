"""Stopping a run from outside: the first Ctrl-C (SIGINT) or SIGTERM (what cron wrappers,
Airflow, Kubernetes and systemd send) asks the run to stop cleanly; a second one acts as usual
(Ctrl-C raises KeyboardInterrupt, SIGTERM ends the process at once).

    stop = StopRequest()
    with stop_on_signals(stop):          # inside a running event loop, on the main thread
        stop.on_request(runner.stop)     # called at once if a signal came first
        ...
    stop.exit_code                       # 130 after SIGINT, 143 after SIGTERM (128 + signal)
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class StopRequest:
    """Whether, and by which signal, a clean stop was asked for."""

    signum: int | None = None
    _listeners: list[Callable[[], None]] = field(default_factory=list)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    @property
    def exit_code(self) -> int | None:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum if self.signum is not None else None

    def request(self, signum: int) -> None:
        if self.signum is not None:
            return
        self.signum = signum
        for listener in self._listeners:
            listener()

    def on_request(self, listener: Callable[[], None]) -> None:
        """Call `listener` when a stop is requested (at once if it already was)."""
        self._listeners.append(listener)
        if self.requested:
            listener()


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """Route the first SIGINT or SIGTERM to `stop`; handling goes back to the default after
    it and when the block ends. Only the main thread can receive signals: elsewhere (a web
    worker, a test thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    loop = asyncio.get_running_loop()

    def restore() -> None:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)  # SIGINT: KeyboardInterrupt; SIGTERM: default

    def first(signum: int) -> None:
        restore()
        stop.request(signum)

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, first, signum)
    try:
        yield stop
    finally:
        restore()
