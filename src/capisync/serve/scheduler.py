"""One sync's ticks: wait for the next one, claim it, start the run, or skip it and say why.

    ticker = Ticker("purchases", schedule, clock=time.time, sleep=asyncio.sleep,
                    is_running=..., claim=..., start=..., on_next=..., on_error=...)
    await ticker.run()      # until cancelled

For each tick of the schedule (serve/schedule.py), in order:
  - the sync is still running in this process: the tick is skipped and logged, never queued
    (the next run starts at the first tick after the run ends);
  - the clock jumped past several ticks (a suspended machine, a blocked loop): only the
    latest is run, the missed ones are logged, never replayed (coalesced);
  - the tick is claimed in the ledger (state/ticks.py): a tick another `serve` process
    claimed first is skipped, so every tick runs once across processes;
  - the run is started (`start`, which returns once the run holds the sync's lock or could
    not start: Service.start_run). A run that fails never stops the ticker.

The clock (epoch seconds) and sleep are injected: tests drive ticks with a fake clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from capisync.errors import CapisyncError
from capisync.jsonout import iso_time
from capisync.serve.schedule import Schedule

log = logging.getLogger("capisync.serve")


def iso(ts: float) -> str:
    """Epoch seconds as an ISO 8601 UTC time, for logs and the API: 2026-11-30T18:15:00Z."""
    return iso_time(ts, "seconds")


class Ticker:
    def __init__(
        self,
        name: str,
        schedule: Schedule,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        is_running: Callable[[], int | None],
        claim: Callable[[float], bool],
        start: Callable[[], Awaitable[object]],
        on_next: Callable[[float], None] = lambda _: None,
        on_error: Callable[[str], None] = lambda _: None,
    ) -> None:
        """`is_running()`: the run id this process runs for the sync now (0 while it starts),
        or None;
        `claim(tick)`: whether this process won the tick (raises CapisyncError when the ledger
        fails); `start()`: start a run; `on_next(tick)`: told each next tick (epoch seconds);
        `on_error(message)`: a tick that could not be run for an error (the sync is failing)."""
        self.name = name
        self.schedule = schedule
        self.clock = clock
        self.sleep = sleep
        self.is_running = is_running
        self.claim = claim
        self.start = start
        self.on_next = on_next
        self.on_error = on_error

    async def run(self) -> None:
        """Tick until cancelled."""
        after = self.clock()
        while True:
            tick = self.schedule.next_fire_ts(after)
            self.on_next(tick)
            await self._sleep_until(tick)
            after = self._coalesce(tick, self.clock())
            await self.tick(after)

    async def _sleep_until(self, when: float) -> None:
        while (left := when - self.clock()) > 0:
            await self.sleep(left)

    def _coalesce(self, tick: float, now: float) -> float:
        """The latest tick due at `now`; the earlier ones missed are logged, not replayed."""
        missed: list[float] = []
        while (later := self.schedule.next_fire_ts(tick)) <= now:
            missed.append(tick)
            tick = later
        if missed:
            log.warning(
                "%s: %d tick(s) missed (%s to %s): the clock jumped or the process was "
                "suspended; they are not replayed, the tick at %s runs",
                self.name,
                len(missed),
                iso(missed[0]),
                iso(missed[-1]),
                iso(tick),
            )
        return tick

    async def tick(self, tick: float) -> None:
        """Run the tick at `tick`, or skip it and log why. Never raises but CancelledError."""
        running = self.is_running()
        if running is not None:
            log.warning(
                "%s: tick at %s skipped: %s is still running (ticks are never queued; "
                "the next tick after it ends starts the next run)",
                self.name,
                iso(tick),
                f"run {running}" if running else "a run",
            )
            return
        try:
            if not self.claim(tick):
                log.info(
                    "%s: tick at %s skipped: another capisync serve on this ledger claimed it",
                    self.name,
                    iso(tick),
                )
                return
        except CapisyncError as exc:
            log.error("%s: tick at %s not run: %s", self.name, iso(tick), exc)
            self.on_error(str(exc))
            return
        except Exception as exc:  # a bug in claiming: said, and the next tick tries again
            message = internal_error(exc)
            log.error("%s: tick at %s not run: %s", self.name, iso(tick), message)
            self.on_error(message)
            return
        try:
            await self.start()
        except Exception as exc:  # a bug in starting: said, and the next tick tries again
            message = internal_error(exc)
            log.error(
                "%s: tick at %s: the run could not be started: %s", self.name, iso(tick), message
            )
            self.on_error(message)


def internal_error(exc: BaseException) -> str:
    """A bug's type and where it was raised, never its message (it might quote a row's
    value), as `capisync run` prints it: "internal error (KeyError at sync.py:412) ..."."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f" at {Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno}" if frame else ""
    return (
        f"internal error ({type(exc).__name__}{where}); this is a bug in capisync: please "
        "report it with this line"
    )
