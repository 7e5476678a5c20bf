"""What `capisync serve` holds: the syncs it serves, their runs in flight, their schedules.

    service = Service(project, syncs=["purchases"])        # every sync when None
    started = await service.start_run("purchases", trigger="api")   # StartedRun
    service.sync_states()                                  # [SyncState], for /api/syncs
    service.report_of(started.run_id)                      # the live RunReport, or None
    await service.run_schedules()                          # until cancelled
    await service.shutdown(signal.SIGTERM)                 # stop runs cleanly, wait for them

One run per sync at a time: a run in flight in this process answers "already running", and
the sync's ledger lock (taken without waiting) refuses one running in another process. A run
that fails, for any reason (the warehouse unreachable, an expired token, a bug), marks its
sync failing with its error (`SyncState.last_error`, never a raw value) and is logged with
the sync's name; the other syncs go on. After every run, whatever its status, the run is
given to the metrics and the alerter in tasks whose errors are logged and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from capisync.config import Project
from capisync.errors import CapisyncError, ConfigError, SyncLockedError
from capisync.interrupts import StopRequest
from capisync.locking import new_owner
from capisync.serve.alerts import Alerter
from capisync.serve.metrics import Metrics
from capisync.serve.schedule import Schedule, parse_schedule
from capisync.serve.scheduler import Ticker, internal_error, iso
from capisync.state import Ledger
from capisync.state.ticks import claim_tick
from capisync.sync import RunReport, run_sync_async

log = logging.getLogger("capisync.serve")

HOURLY_SECONDS = 3600.0  # how often the stale-model check and the quality check run
FIRST_HOURLY_DELAY_SECONDS = 60.0  # after start: a crash-looping serve does not hammer Meta
QUALITY_EVERY_SECONDS = 86400.0  # Meta's quality figures, fetched once a day per sync
SHUTDOWN_GRACE_SECONDS = 30.0  # how long shutdown waits for alerts still being posted


@dataclass(frozen=True)
class SyncState:
    name: str
    schedule: str | None  # as written: "every 15m" or "*/15 * * * *"
    schedule_timezone: str | None
    next_run: float | None  # epoch seconds, None when not scheduled
    running_run_id: int | None  # the run this process is running now
    failing: bool  # its last run failed (or could not start)
    last_error: str | None  # no raw values, as the CLI prints


@dataclass(frozen=True)
class StartedRun:
    sync: str
    run_id: int | None  # None when it could not start
    status: str  # "started" | "already running" | "failed to start"
    message: str | None


@dataclass
class _Flight:
    """A run in flight in this process."""

    trigger: str
    stop: StopRequest
    task: asyncio.Task[RunReport] | None = None
    report: RunReport | None = None  # set once the run holds its lock (on_start)

    @property
    def run_id(self) -> int | None:
        return None if self.report is None else self.report.run_id


@dataclass
class _Health:
    failing: bool = False
    last_error: str | None = None


@dataclass
class Service:
    project: Project
    syncs: list[str] | None = None  # the syncs served; None: every sync of the project
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    transport: Any = None  # an httpx transport for Meta's requests (tests)
    metrics: Metrics = field(default_factory=Metrics)
    alerter: Alerter | None = None  # built from the project's `alerts:` when not given
    token: str | None = field(init=False, repr=False)  # serve.token: never in a repr or log
    background_errors: int = field(default=0, init=False)  # failed metrics/alert tasks

    def __post_init__(self) -> None:
        if self.project.serve_problems:
            raise ConfigError(list(self.project.serve_problems), str(self.project.path))
        names = list(self.syncs) if self.syncs else list(self.project.syncs)
        for name in names:
            self.project.sync(name)  # ConfigError naming the file's syncs
        self.names = list(dict.fromkeys(names))
        serve = self.project.config.serve
        token = None if serve is None or serve.token is None else serve.token.get_secret_value()
        self.token = token or None
        if self.alerter is None:
            settings = getattr(self.project.config, "alerts", None)
            if settings is not None:
                self.alerter = Alerter(
                    settings,
                    self.project,
                    clock=self.clock,
                    transport=self.transport,
                    metrics=self.metrics,
                )
        self.schedules: dict[str, Schedule] = {}
        for name in self.names:
            config = self.project.sync(name)
            if config.schedule is not None:
                self.schedules[name] = parse_schedule(config.schedule, config.schedule_timezone)
        self.owner = new_owner()
        # runs never wait for a lock held elsewhere (`on_locked: wait` is for `capisync run`):
        # a tick or an API call answers at once that the sync is already running
        syncs = {
            n: c.model_copy(update={"on_locked": "fail"}) for n, c in self.project.syncs.items()
        }
        runs_config = self.project.config.model_copy(update={"syncs": syncs})
        self._run_project = Project(self.project.path, runs_config, self.project.warnings)
        self._flights: dict[str, _Flight] = {}
        self._by_run: dict[int, RunReport] = {}
        self._health = {name: _Health() for name in self.names}
        self._next: dict[str, float | None] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # background: alerts, stale checks
        self._tickers: list[asyncio.Task[None]] = []
        self.stopping = False

    # -- what the API and the dashboard read --------------------------------------------------

    @contextlib.contextmanager
    def ledger(self) -> Iterator[Ledger]:
        """The project's ledger, opened for the block and closed after. Raises LedgerError."""
        ledger = Ledger(self.project.state_location())
        try:
            yield ledger
        finally:
            ledger.close()

    def sync_states(self) -> list[SyncState]:
        states = []
        for name in self.names:
            config = self.project.sync(name)
            flight = self._flights.get(name)
            health = self._health[name]
            states.append(
                SyncState(
                    name=name,
                    schedule=config.schedule,
                    schedule_timezone=config.schedule_timezone,
                    next_run=self._next.get(name),
                    running_run_id=None if flight is None else flight.run_id,
                    failing=health.failing,
                    last_error=health.last_error,
                )
            )
        return states

    def report_of(self, run_id: int) -> RunReport | None:
        """The report of a run in flight in this process (live counts), else None."""
        return self._by_run.get(run_id)

    def serves(self, name: str) -> bool:
        return name in self._health

    # -- runs -------------------------------------------------------------------------------

    async def start_run(self, name: str, *, trigger: str) -> StartedRun:
        """Start a run of `name` (trigger: "schedule" | "api" | "dashboard") and return once
        it holds the sync's lock and has a run id, or could not start. Raises ConfigError for
        a sync this process does not serve."""
        if not self.serves(name):
            served = ", ".join(self.names)
            raise ConfigError([f"no sync named '{name}' is served here (served: {served})"])
        if self.stopping:
            return StartedRun(name, None, "failed to start", "capisync serve is stopping")
        running = self._flights.get(name)
        if running is not None:
            return StartedRun(
                name, running.run_id, "already running", f"run {running.run_id} is running"
            )
        loop = asyncio.get_running_loop()
        started: asyncio.Future[RunReport] = loop.create_future()
        flight = _Flight(trigger, StopRequest())

        def on_start(report: RunReport) -> None:
            flight.report = report
            if report.run_id is not None:
                self._by_run[report.run_id] = report
            log.info("%s: run %s started (%s)", name, report.run_id, trigger)
            if not started.done():
                started.set_result(report)

        run = run_sync_async(
            self._run_project,
            name,
            stop=flight.stop,
            on_start=on_start,
            clock=self.clock,
            transport=self.transport,
        )
        flight.task = asyncio.create_task(run, name=f"capisync run {name}")
        self._flights[name] = flight
        flight.task.add_done_callback(lambda task: self._finished(name, flight, task))
        await asyncio.wait({started, flight.task}, return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            return StartedRun(name, flight.run_id, "started", None)
        started.cancel()
        exc = None if flight.task.cancelled() else flight.task.exception()
        if isinstance(exc, SyncLockedError):
            return StartedRun(name, None, "already running", held_elsewhere(name, exc))
        return StartedRun(name, None, "failed to start", self._health[name].last_error)

    def _finished(self, name: str, flight: _Flight, task: asyncio.Task[RunReport]) -> None:
        """A run ended (any status): say so, update the sync's health, hand the report to
        the metrics and the alerter. A done callback: it must not raise."""
        if self._flights.get(name) is flight:
            del self._flights[name]
        report, exc = flight.report, None
        if task.cancelled():
            if report is not None:
                report.status = "interrupted"
        elif (exc := task.exception()) is not None:
            report = getattr(exc, "report", None) or report
        else:
            report = task.result()
        if report is not None and report.run_id is not None:
            self._by_run.pop(report.run_id, None)
        self._judge(name, report, exc)
        if report is None and exc is not None and not isinstance(exc, SyncLockedError):
            # it could not start (the ledger failed): a failed run without an id, for the
            # metrics and the alerts as for any failed run
            report = RunReport(name, None, "failed", error=self._health[name].last_error)
        if report is not None:
            self._observe(report)

    def _judge(self, name: str, report: RunReport | None, exc: BaseException | None) -> None:
        """Log how the run ended and mark the sync failing or healthy."""
        health = self._health[name]
        run = f"run {report.run_id}" if report is not None and report.run_id else "a run"
        if isinstance(exc, SyncLockedError):
            log.info("%s: not run: %s", name, held_elsewhere(name, exc))
            return
        if exc is not None:
            message = str(exc) if isinstance(exc, CapisyncError) else internal_error(exc)
            health.failing, health.last_error = True, message
            log.error("%s: %s failed: %s", name, run, message)
            return
        if report is None:  # cancelled before it held its lock
            log.warning("%s: a run was cancelled before it started", name)
            return
        if report.status == "failed":
            health.failing, health.last_error = True, report.error
            log.error("%s: %s failed: %s", name, run, report.error)
            return
        counts = report.counts
        summary = (
            f"read {counts['read']}, sent {counts['sent']}, rejected {counts['rejected']}, "
            f"expired {counts['expired']}, pending {counts['pending']} in {report.seconds:.1f} s"
        )
        if report.status == "interrupted":
            log.warning("%s: %s interrupted (%s): %s", name, run, report.stopped_by, summary)
            return
        health.failing, health.last_error = False, None
        log.info("%s: %s %s: %s", name, run, report.status, summary)

    def _observe(self, report: RunReport) -> None:
        try:
            self.metrics.observe_run(report)
        except Exception as exc:
            self.background_errors += 1
            log.error(
                "%s: metrics of run %s not recorded: %s",
                report.sync,
                report.run_id,
                internal_error(exc),
            )
        if self.alerter is not None:
            self.spawn(self.alerter.after_run(report), f"{report.sync}: alerts after a run")

    def spawn(self, work: Coroutine[Any, Any, object], what: str) -> None:
        """Run `work` in the background; its exception is logged (with `what`) and counted."""
        task = asyncio.create_task(work, name=what)
        self._tasks.add(task)

        def done(task: asyncio.Task[Any]) -> None:
            self._tasks.discard(task)
            if task.cancelled() or task.exception() is None:
                return
            self.background_errors += 1
            failure = task.exception()
            assert failure is not None
            why = str(failure) if isinstance(failure, CapisyncError) else internal_error(failure)
            log.error("%s failed: %s", what, why)

        task.add_done_callback(done)

    async def background_done(self, timeout: float | None = None) -> None:
        """Wait for the background tasks (alerts, quality fetches) running now; those still
        running after `timeout` seconds are logged and cancelled."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in late:
            log.error("%s did not finish within %.0f s; cancelled", task.get_name(), timeout)
            task.cancel()

    def _mark_failing(self, name: str, message: str) -> None:
        self._health[name].failing, self._health[name].last_error = True, message

    # -- schedules ----------------------------------------------------------------------------

    def _claim(self, name: str, tick: float) -> bool:
        with self.ledger() as ledger:
            return claim_tick(ledger, name, tick, owner=self.owner, now=self.clock())

    def _set_next(self, name: str, tick: float) -> None:
        self._next[name] = tick
        self.metrics.set_next_run(name, tick)

    async def run_schedules(self) -> None:
        """Tick every scheduled sync (and check for stale syncs hourly) until cancelled."""
        for name, schedule in self.schedules.items():
            ticker = Ticker(
                name,
                schedule,
                clock=self.clock,
                sleep=self.sleep,
                is_running=lambda n=name: self._running_id(n),  # type: ignore[misc]
                claim=lambda tick, n=name: self._claim(n, tick),  # type: ignore[misc]
                start=lambda n=name: self.start_run(n, trigger="schedule"),  # type: ignore[misc]
                on_next=lambda tick, n=name: self._set_next(n, tick),  # type: ignore[misc]
                on_error=lambda message, n=name: self._mark_failing(n, message),  # type: ignore[misc]
            )
            task = asyncio.create_task(ticker.run(), name=f"capisync schedule {name}")
            task.add_done_callback(lambda t, n=name: self._ticker_ended(n, t))  # type: ignore[misc]
            self._tickers.append(task)
        hourly = asyncio.create_task(self._hourly(), name="capisync hourly")
        hourly.add_done_callback(self._hourly_ended)
        self._tickers.append(hourly)
        try:
            # a ticker that ends on a bug marks its own sync failing (_ticker_ended); the
            # others tick on, so its exception is not raised here
            await asyncio.gather(*self._tickers, return_exceptions=True)
            await asyncio.get_running_loop().create_future()  # nothing scheduled: idle on
        finally:
            for task in self._tickers:
                task.cancel()

    def _running_id(self, name: str) -> int | None:
        """The run id of the sync's run in flight here (0 while it is still starting)."""
        flight = self._flights.get(name)
        if flight is None:
            return None
        return flight.run_id or 0

    def _ticker_ended(self, name: str, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        message = f"its schedule stopped: {internal_error(exc)}"
        self._mark_failing(name, message)
        log.error("%s: %s", name, message)

    def _hourly_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or (exc := task.exception()) is None:
            return
        self.background_errors += 1
        log.error(
            "the hourly checks (stale models, Meta's quality) stopped: %s", internal_error(exc)
        )

    async def _hourly(self) -> None:
        await self.sleep(FIRST_HOURLY_DELAY_SECONDS)
        while True:
            self.hourly_pass()
            await self.sleep(HOURLY_SECONDS)

    def hourly_pass(self) -> None:
        """Ask the alerter about stale models, and fetch Meta's quality figures of each sync
        last fetched a day ago or more (then the alerter judges EMQ drops). In background
        tasks: their errors are logged with the sync's name and counted."""
        if self.alerter is not None:
            self.spawn(self.alerter.check_stale(self.clock()), "stale-model check")
        for name in self.names:
            self.spawn(self._quality_if_due(name), f"{name}: Meta's quality figures")

    async def _quality_if_due(self, name: str) -> None:
        from capisync import quality

        latest = quality.latest_quality(self.project, name)
        if latest is not None and self.clock() - latest.fetched_at < QUALITY_EVERY_SECONDS:
            return
        await quality.fetch_quality_async(
            self.project, name, clock=self.clock, transport=self.transport
        )
        log.info("%s: Meta's quality figures fetched", name)
        if self.alerter is not None:
            history = quality.quality_history_for(self.project, name)
            await self.alerter.after_quality(name, history)

    def log_plan(self) -> None:
        """Log what is served and when each scheduled sync runs next."""
        for name in self.names:
            schedule = self.schedules.get(name)
            if schedule is None:
                log.info("%s: no schedule (runs when POST /api/syncs/%s/runs asks)", name, name)
                continue
            tick = schedule.next_fire_ts(self.clock())
            zone = "" if schedule.interval_seconds else f" ({schedule.timezone})"
            log.info("%s: schedule %s%s, next run at %s", name, schedule.text, zone, iso(tick))

    # -- stopping -------------------------------------------------------------------------------

    async def shutdown(self, signum: int) -> None:
        """Stop scheduling, ask every run in flight to stop (its batches in flight land and
        are checkpointed), wait for them, then for the alerts being posted (bounded)."""
        self.stopping = True
        for task in self._tickers:
            task.cancel()
        flights = list(self._flights.items())
        for name, flight in flights:
            log.info("%s: stopping run %s (batches in flight land first)", name, flight.run_id)
            flight.stop.request(signum)
        runs = [f.task for _, f in flights if f.task is not None]
        await asyncio.gather(*self._tickers, *runs, return_exceptions=True)
        await self.background_done(SHUTDOWN_GRACE_SECONDS)


def held_elsewhere(name: str, exc: SyncLockedError) -> str:
    """A run of `name` refused for the lock another process holds, said for serve: its runs
    never wait for a lock, so the CLI's hint (`on_locked: wait`) does not apply here."""
    holder = exc.holder or "held by another process"
    return (
        f"sync '{name}' is already running elsewhere ({holder}): wait for that run to end "
        "(capisync runs, or GET /api/syncs on the serve running it), or treat it as done"
    )
