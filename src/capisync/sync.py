"""run_sync(): the one place that knows the order of steps.

    read a batch of rows ─> plan against the ledger (new? already sent? rejected before?)
    ─> build events (map, normalize, hash, validate: pure) ─> send in batches of <=1000
    ─> checkpoint each acknowledged batch in the ledger

Every row read ends the run in exactly one state: already (sent by an earlier run), baseline
(recorded, not sent, by a first run with skip_existing), sent, rejected (with reasons),
duplicate (its identifier came earlier in the run), expired (too old for Meta; once expired,
a row is not evaluated again), or pending (not sent because the run stopped, or sent but
not recorded because the ledger failed: the ledger does not hold it). The counts
always add up to `read`; a run that stopped early says so (`read_all` is False), since rows it
never read are in no count.

Before reading, a run judges the Graph API version (as `capisync check` does): expired or not
released fails it like Meta's refusal (exit 5); expiring within 90 days is a notice.

A run stops early, and cleanly (stop reading, let the batches in flight land and be
checkpointed, record the run, print the summary), on the first Ctrl-C or SIGTERM
(interrupted; the warehouse query in flight is cancelled through Source.interrupt), on a
run-fatal answer from Meta (failed, rows stay pending), and on any
exception in a send, checkpoint or heartbeat task, such as a ledger that cannot be written
(failed, and the exception is raised to the caller: nothing is sent that cannot be recorded).

A test run (a test_event_code, from the command line or the destination) sends to Meta's
Test Events view but settles no row: nothing it sends, rejects or lets expire is recorded in
the ledger, so the next real run sends those rows. It is recorded in the run history as a
test run and holds the sync's test lock, never the lock of real runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from capisync.blocking import run_blocking
from capisync.capi.issues import Issue
from capisync.capi.mapping import ResolvedMapping
from capisync.capi.outcome import EVENT_ID_FALLBACK, BuiltEvent, Rejection, ledger_identifier
from capisync.config import Project, SyncConfig, load_project
from capisync.errors import (
    CapisyncError,
    ConfigError,
    LedgerError,
    MetaError,
    MetaTransientError,
    SyncLockedError,
)
from capisync.interrupts import StopRequest, stop_on_signals
from capisync.locking import LOCK_STALE_AFTER, acquire_lock, new_owner
from capisync.meta import BatchResult, MetaClient, unencodable_among
from capisync.readplan import (
    PRUNE_AFTER_SECONDS,
    Narrowed,
    ReadPlan,
    WritebackRef,
    event_time_mapped,
    time_window,
)
from capisync.runstats import RunStats, event_id_source
from capisync.sources import Source
from capisync.sources.writeback import SettledRow, Writeback
from capisync.state import BASELINE, EXPIRED, SENT, SETTLED, Entry, Ledger, Rejected, settled_copy
from capisync.wiring import (
    client_settings,
    event_builder,
    open_source_for,
    reach_destination,
    resolve_for,
)


@dataclass
class RunReport:
    sync: str
    run_id: int | None
    status: str  # running | completed | failed | interrupted | dry-run
    counts: Counter[str] = field(default_factory=Counter)  # COUNT_FIELDS, and `unrecorded`
    reasons: Counter[str] = field(default_factory=Counter)  # rejection and expiry codes
    warnings: Counter[str] = field(default_factory=Counter)  # dropped values, by code
    coverage: Counter[str] = field(default_factory=Counter)  # match keys among built events
    # this run's rejected rows for the summary: the first MAX_REJECTIONS_KEPT of each reason
    # code, so memory stays flat however many rows a run rejects (`reasons` counts them all)
    rejections: list[Rejected] = field(default_factory=list)
    # every rejected row once, under its first reason code: adds up to counts["rejected"]
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    # of the rejected rows, those an earlier run had rejected already, evaluated again and
    # still not fixed: a backlog, not a new problem (the rejected-share alert leaves them out)
    rejected_again: int = 0
    # identifiers repeated in this run, the first MAX_DUPLICATES_KEPT (counts["duplicate"]: all)
    duplicates: list[str] = field(default_factory=list)
    error: str | None = None
    failure: CapisyncError | None = None  # why a failed run failed: its exit code, retryable
    seconds: float = 0.0
    read_all: bool = False  # the model was read to its end (else rows after `read` were not)
    limit: int | None = None  # at most this many events were to be sent
    test_event_code: str | None = None  # a test run: sent to Test Events, settled nothing
    stopped_by: str | None = None  # the signal that stopped it (SIGINT, SIGTERM)
    exit_code: int | None = None  # what the process exits with after that signal
    test_code_in_project: bool = False  # the test_event_code comes from the project file
    notices: list[str] = field(default_factory=list)  # warnings for the summary (api_version)
    # settled rows counted in the warehouse by an anti-join, never read out of it (in `read`)
    counted_in_warehouse: int = 0
    not_read_too_old: int = 0  # rows older than any event can be: not read, in no count
    started_at: float | None = None  # epoch seconds it took its lock and started (the clock's)
    # what Meta's outages and rate limits cost (MetaClient.stats): requests repeated, and
    # the retries that waited out a throttle, with their waits' seconds summed
    retries: int = 0
    throttle_waits: int = 0
    throttle_wait_seconds: float = 0.0
    # per event name match keys, freshness, dedup readiness of the events sent (runstats.py)
    stats: RunStats | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "dry-run")


Progress = Callable[[RunReport], None]
MAX_DUPLICATES_KEPT = 100
MAX_REJECTIONS_KEPT = 100  # per reason code


@dataclass
class SyncContext:
    """Everything one run needs, resolved from the project file."""

    name: str
    config: SyncConfig
    project: Project
    test_event_code: str | None = None
    dry_run: bool = False
    clock: Callable[[], float] = time.time
    progress: Progress | None = None
    transport: Any = None  # an httpx transport, for tests that need one
    lock_wait_seconds: float = 600.0
    limit: int | None = None  # send at most this many events, then stop reading
    waiting: Callable[[str], None] | None = None  # told once who holds the lock it waits for
    # told once the run holds its lock and has its run id (before anything is read)
    on_start: Callable[[RunReport], None] | None = None

    @property
    def test_code(self) -> str | None:
        """The test_event_code of a test run (command line first, then the destination)."""
        return self.test_event_code or self.config.destination.test_event_code

    @property
    def records_rows(self) -> bool:
        """Whether this run settles rows in the ledger: not a dry run, not a test run."""
        return not self.dry_run and self.test_code is None

    @property
    def lock_name(self) -> str:
        return lock_name(self.name, test=self.test_code is not None)


def check_test_event_code(code: str | None) -> None:
    """Refuse an empty or blank --test-event-code (what `--test-event-code "$CODE"` sends when
    $CODE is unset): read as "no code", it would make a real run that settles the rows.
    Raises ConfigError (exit 2)."""
    if code is not None and not code.strip():
        raise ConfigError(
            [
                "--test-event-code is empty: give the code Events Manager > Test Events shows "
                "(e.g. TEST12345), or leave the option out for a real run (is the variable "
                "your scheduler passes unset?)"
            ],
            "the command line",
        )


def lock_name(sync: str, *, test: bool) -> str:
    """Test runs queue behind each other, never behind (or in front of) real runs."""
    return f"{sync}:test-run" if test else sync


def run_sync(
    project: Project | str | Path,
    name: str,
    *,
    dry_run: bool = False,
    test_event_code: str | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
    waiting: Callable[[str], None] | None = None,
) -> RunReport:
    """Run one sync: see the module docstring. `project` is a loaded Project or the path of a
    project file. Returns the report of a run that completed, was interrupted
    (report.exit_code says how to exit) or was stopped by Meta (failed, rows pending). Raises
    CapisyncError (its .report holds what was done) when the warehouse, the ledger or the
    configuration fails, and re-raises any other exception after recording the run as failed.

    On the main thread, the first Ctrl-C or SIGTERM stops the run cleanly. Called from inside
    a running event loop (a notebook, an async web app), it runs in a worker thread with its
    own loop and blocks until done; async code should await run_sync_async instead."""
    run = run_sync_async(
        project,
        name,
        dry_run=dry_run,
        test_event_code=test_event_code,
        limit=limit,
        progress=progress,
        clock=clock,
        waiting=waiting,
        handle_signals=True,
    )
    return run_blocking(run, thread_name="capisync-run")


async def run_sync_async(
    project: Project | str | Path,
    name: str,
    *,
    dry_run: bool = False,
    test_event_code: str | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
    waiting: Callable[[str], None] | None = None,
    stop: StopRequest | None = None,
    handle_signals: bool = False,
    transport: Any = None,
    on_start: Callable[[RunReport], None] | None = None,
) -> RunReport:
    """The async twin of run_sync, for code that already runs an event loop (Dagster,
    FastAPI, `capisync serve`): same arguments, result and errors. The run stops cleanly
    (batches in flight land and are recorded, rows not sent stay pending) when `stop` is
    requested (`stop.request(signal.SIGTERM)`), or, with `handle_signals=True` on the main
    thread, on the first Ctrl-C or SIGTERM. Cancelling the task instead records the run as
    interrupted without waiting for batches in flight: prefer `stop`. `transport` is an
    httpx transport for Meta's requests (tests). `on_start` is called once the run holds the
    sync's lock and has its run id (report.run_id), before anything is read: a server that
    starts runs answers with that id."""
    if not isinstance(project, Project):
        project = load_project(project)
    check_test_event_code(test_event_code)
    ctx = SyncContext(name, project.sync(name), project, test_event_code, dry_run, clock, progress)
    ctx.limit, ctx.waiting, ctx.transport, ctx.on_start = limit, waiting, transport, on_start
    return await _run(ctx, stop or StopRequest(), handle_signals=handle_signals)


async def _run(ctx: SyncContext, stop: StopRequest, *, handle_signals: bool) -> RunReport:
    signals = stop_on_signals(stop) if handle_signals else contextlib.nullcontext(stop)
    with signals:
        ledger = Ledger(ctx.project.state_location())
        owner = new_owner()
        try:
            if not ctx.dry_run and not await _lock(ctx, ledger, owner, stop):
                return _stopped_before_start(ctx, stop)
            try:
                return await _run_locked(ctx, ledger, owner, stop)
            finally:
                if not ctx.dry_run:
                    _unlock(ledger, ctx.lock_name, owner)
        finally:
            ledger.close()


async def _lock(ctx: SyncContext, ledger: Ledger, owner: str, stop: StopRequest) -> bool:
    """Take the sync's lock (waiting for it with `on_locked: wait`); False when a stop was
    requested first. Raises SyncLockedError when another run holds it."""
    wait = ctx.lock_wait_seconds if ctx.config.on_locked == "wait" else 0.0
    taking = asyncio.create_task(
        acquire_lock(
            ledger, ctx.lock_name, owner, wait_seconds=wait, clock=ctx.clock, waiting=ctx.waiting
        )
    )

    def give_up() -> None:
        taking.cancel()  # once the lock is taken, this does nothing: the run itself stops

    stop.on_request(give_up)
    try:
        await taking
    except asyncio.CancelledError:
        if not stop.requested:
            raise
        return False
    return True


def _stopped_before_start(ctx: SyncContext, stop: StopRequest) -> RunReport:
    report = RunReport(ctx.name, None, "interrupted", stopped_by=stop.signal_name)
    report.exit_code = stop.exit_code
    report.error = (
        f"stopped by {stop.signal_name} while waiting for the sync's lock (another run holds "
        "it); this run read and sent nothing"
    )
    return report


def close_abandoned_runs(
    ledger: Ledger, syncs: list[str], clock: Callable[[], float] = time.time
) -> None:
    """Close the runs still marked running whose process is gone, as `capisync runs` shows
    them: for each sync (and its test runs) whose lock is free, no run is alive, so its
    running rows are closed as abandoned with the counts the ledger holds for them. A lock
    held means a live run: its row is left as it is. Raises LedgerError. (Inside an event
    loop, await close_abandoned_runs_async.)"""
    asyncio.run(close_abandoned_runs_async(ledger, syncs, clock))


async def close_abandoned_runs_async(
    ledger: Ledger, syncs: list[str], clock: Callable[[], float] = time.time
) -> None:
    """close_abandoned_runs, for code inside an event loop."""
    for sync in syncs:
        if not ledger.has_running(sync):
            continue
        for test in (False, True):
            name, owner = lock_name(sync, test=test), new_owner()
            try:
                await acquire_lock(ledger, name, owner, wait_seconds=0.0, clock=clock)
            except SyncLockedError:
                continue
            try:
                ledger.close_abandoned(sync, test=test, now=clock())
            finally:
                _unlock(ledger, name, owner)


def _unlock(ledger: Ledger, name: str, owner: str) -> None:
    """Release the lock; when the ledger cannot be written, the run has failed already and
    said why: the lock is left to go stale (its heartbeat stops) rather than hide that."""
    with contextlib.suppress(LedgerError):
        ledger.unlock(name, owner)


async def _run_locked(ctx: SyncContext, ledger: Ledger, owner: str, stop: StopRequest) -> RunReport:
    started = ctx.clock()
    run_id = (
        None
        if ctx.dry_run
        else ledger.start_run(ctx.name, dry_run=False, now=started, test_event_code=ctx.test_code)
    )
    report = RunReport(ctx.name, run_id, "dry-run" if ctx.dry_run else "running")
    report.started_at = started
    report.limit, report.test_event_code = ctx.limit, ctx.test_code
    report.test_code_in_project = ctx.test_event_code is None and ctx.test_code is not None
    if ctx.on_start is not None:
        ctx.on_start(report)
    try:
        if not ctx.dry_run and not _api_version_ok(ctx, report):
            _record_end(ledger, report, ctx, started, failing=True)
            return report
        source = open_source_for(ctx)
        stop.on_request(source.interrupt)  # a query in flight is cancelled, not waited for
        try:
            mapping = resolve_for(ctx, source.columns())
            baseline = (
                not ctx.dry_run
                and ctx.config.first_run == "skip_existing"
                and not ledger.has_history(ctx.name)
            )
            await _Runner(ctx, ledger, report, mapping, baseline, owner, stop).run(source)
        except Exception:
            # the stop cancelled the warehouse's query before the read loop took over (the
            # model's columns, the narrowing, the copy into the spool): the run was
            # interrupted as asked, not failed, and nothing was read
            if not stop.requested or report.counts["read"]:
                raise
            mark_stopped(report, stop)
        finally:
            source.close()
        if report.status == "running":
            report.status = "completed"
    except CapisyncError as exc:
        # the run history says why; the caller shows what was done and exits with the code
        report.status, report.error, report.failure = "failed", str(exc), exc
        _record_end(ledger, report, ctx, started, failing=True)
        exc.report = report  # type: ignore[attr-defined]
        raise
    except Exception as exc:
        # a bug: recorded without its message (it may hold a value), raised with its traceback
        report.status = "failed"
        report.error = f"internal error ({type(exc).__name__}); please report it with the traceback"
        _record_end(ledger, report, ctx, started, failing=True)
        raise
    except BaseException:
        report.status, report.error = "interrupted", "the run was stopped before it finished"
        _record_end(ledger, report, ctx, started, failing=True)
        raise
    _record_end(ledger, report, ctx, started, failing=False)
    return report


def _api_version_ok(ctx: SyncContext, report: RunReport) -> bool:
    """Judge the Graph API version as `capisync check` does, before anything is read: an
    expired or unreleased one fails the run as Meta's refusal would (exit 5, rows untouched);
    one expiring within 90 days adds a warning to the summary."""
    from capisync.checks import judge_api_version  # checks imports this module

    notice, failure = judge_api_version(ctx)
    if failure is not None:
        report.status, report.error, report.failure = "failed", str(failure), failure
        return False
    if notice.level == "warning":
        report.notices.append(notice.message)
    return True


def _record_end(
    ledger: Ledger, report: RunReport, ctx: SyncContext, started: float, *, failing: bool
) -> None:
    """Write the run's end to the history. When the ledger cannot take it either, a run that
    is failing already says so in its error; any other run fails with that LedgerError."""
    report.seconds = ctx.clock() - started
    if report.run_id is None:
        return
    try:
        _finish(ledger, report.run_id, report, ctx.clock())
    except LedgerError as exc:
        if not failing:
            report.status, report.error = "failed", str(exc)
            exc.report = report  # type: ignore[attr-defined]
            raise
        same = report.failure is not None and str(exc) == str(report.failure)
        why = "the same error" if same else str(exc) or type(exc).__name__
        report.error = (
            f"{report.error}\nThe run could not be recorded as {report.status} either "
            f"({why}); "
            f"`capisync runs` shows run {report.run_id} as running until the next run of this "
            "sync closes it."
        )


def _finish(ledger: Ledger, run_id: int, report: RunReport, now: float) -> None:
    details = {
        "reasons": dict(report.reasons),
        "warnings": dict(report.warnings),
        "coverage": dict(report.coverage),
        "read_all": report.read_all,
        "unrecorded": report.counts["unrecorded"],
        "unidentified": report.counts["unidentified"],
        "notices": report.notices,
        "test_code_in_project": report.test_code_in_project,
        "limit": report.limit,
        "stopped_by": report.stopped_by,
        "counted_in_warehouse": report.counted_in_warehouse,
        "not_read_too_old": report.not_read_too_old,
        "retries": report.retries,
        "throttle_waits": report.throttle_waits,
        "throttle_wait_seconds": round(report.throttle_wait_seconds, 3),
        "rejected_again": report.rejected_again,
    }
    if report.stats is not None:
        details["stats"] = report.stats.as_dict()
    ledger.finish_run(
        run_id,
        status=report.status,
        counts=dict(report.counts),
        now=now,
        error=report.error,
        details=details,
    )


@dataclass(slots=True)
class _Pending:
    identifier: str
    event_id: str
    event: dict[str, Any]  # wire shape; serialized by the client, a request at a time
    own_event_id: bool  # from the event_id column or template, not the identifier fallback


def mark_stopped(report: RunReport, stop: StopRequest) -> None:
    """The report of a run stopped by Ctrl-C or SIGTERM (`stop`): interrupted, its exit code."""
    name = stop.signal_name or "a signal"
    report.status, report.stopped_by = "interrupted", name
    report.exit_code = stop.exit_code
    again = "press Ctrl-C again" if name == "SIGINT" else "send SIGTERM again"
    report.error = (
        f"stopped by {'the user (Ctrl-C)' if name == 'SIGINT' else name}; batches already "
        "sent were recorded, rows read and not sent stay pending, and the next run sends "
        f"them ({again} to quit at once)"
    )


class _Runner:
    """One run's pipeline: read, plan, build, send, checkpoint."""

    def __init__(
        self,
        ctx: SyncContext,
        ledger: Ledger,
        report: RunReport,
        mapping: ResolvedMapping,
        baseline: bool,
        owner: str,
        stop: StopRequest,
    ) -> None:
        self.ctx, self.ledger, self.report = ctx, ledger, report
        self.builder = event_builder(ctx, mapping)
        self.identifier_column = mapping.identifier
        self.mapping = mapping
        report.stats = RunStats(event_id_source(ctx.config, mapping))
        self.baseline, self.owner, self.stop = baseline, owner, stop
        self.batch_size = ctx.config.delivery.batch_size
        # identifiers this run read but the ledger does not hold yet (queued, in flight); once a
        # batch is checkpointed, the ledger's run_id tells a repeated identifier instead, so
        # the set stays as small as the outbox (a dry or test run writes nothing, keeps them all)
        self.unsettled: set[str] = set()
        self.outbox: list[_Pending] = []
        self.in_flight: set[asyncio.Task[None]] = set()
        self.client: MetaClient | None = None
        self.stopped = False
        self.failure: BaseException | None = None  # the first exception of a background task
        # ledger writes run in this one thread, in the order they were asked for, so that the
        # event loop goes on sending while SQLite or PostgreSQL commits
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capisync-ledger")
        self.local: tuple[list[Rejected], list[str], list[str], float] | None = None
        self.writeback: Writeback | None = None  # settled identifiers beside the model
        # rows the write-back missed (it lagged, or was dropped): written back as they are met
        self.catch_up: list[SettledRow] = []
        self.settled_copy: Path | None = None  # the settled copy the source anti-joined

    async def run(self, source: Source) -> None:
        """Read, send and checkpoint until the model ends or the run must stop; then let the
        batches in flight land. Raises the first exception a send, checkpoint or heartbeat
        task raised (a ledger that cannot be written: LedgerError)."""
        unreachable = await reach_destination(self.ctx)
        if unreachable is not None:  # nothing read: the rows stay for the next run
            failure = MetaTransientError(unreachable)  # try again later (exit 75)
            self.report.status, self.report.error, self.report.failure = (
                "failed",
                unreachable,
                failure,
            )
            return
        async with MetaClient(client_settings(self.ctx), transport=self.ctx.transport) as client:
            self.client = client
            heartbeat = asyncio.create_task(self._keep_lock())
            heartbeat.add_done_callback(self._task_done)
            self.stop.on_request(self._stop_by_signal)
            try:
                await asyncio.to_thread(self._narrow, source)
                await self._read_and_send(source)
            finally:
                # whatever stopped the reading, batches already sent are checkpointed
                await self._drain()
                heartbeat.cancel()
                self.writer.shutdown(wait=True)
                if self.writeback is not None:
                    self.writeback.close()
                self.report.counts["pending"] += len(self.outbox)
                self.outbox.clear()
                report, stats = self.report, client.stats
                report.retries, report.throttle_waits = stats.retries, stats.throttle_waits
                report.throttle_wait_seconds = stats.throttle_wait_seconds
        if self.failure is not None:
            raise self.failure
        self._prune()
        self._refresh_copy(source)

    def _narrow(self, source: Source) -> None:
        """Leave in the warehouse what needs no work (readplan.py): rows older than any event
        can be are not read, settled rows are counted there, by state, and not read."""
        narrow: Callable[[ReadPlan], Narrowed] | None = getattr(source, "narrow", None)
        if narrow is None:
            return
        window = time_window(self.mapping, self.ctx.clock(), self.ctx.config.timezone)
        # a baseline run settles every row it reads: it must read them all
        settled = None if self.baseline else (lambda: self.ledger.settled(self.ctx.name, 20_000))
        copy = self._settled_copy if settled is not None and self.ctx.records_rows else None
        writeback = self._open_writeback()
        narrowed = narrow(ReadPlan(self.identifier_column, window, settled, writeback, copy))
        report = self.report
        for state, n in narrowed.settled.items():
            report.counts["read"] += n
            self._count_settled(state, n)
        report.counted_in_warehouse = narrowed.counted
        report.not_read_too_old = narrowed.too_old

    def _open_writeback(self) -> WritebackRef | None:
        """With `writeback:` on a run that records rows: the write-back table, made when
        missing (sources/writeback.py), to anti-join unless this run is the baseline."""
        config = self.ctx.config
        if config.writeback is None or config.source.url is None or not self.ctx.records_rows:
            return None
        key = self.ledger.identity(self.ctx.name)
        if key is None:
            return None
        url = config.source.url.get_secret_value()
        try:
            writeback = Writeback(url, config.writeback.target_schema, self.ctx.name, key)
        except ConfigError as exc:
            raise ConfigError(exc.problems, str(self.ctx.project.path)) from None
        self.writeback = writeback
        if not writeback.ensure() or self.baseline or not writeback.has_rows():
            return None
        return WritebackRef(writeback.table, self.ctx.name, key)

    def _settled_copy(self) -> Path | None:
        """The settled copy (state/settled_copy.py), brought up to the runs before this one,
        for a source that anti-joins it; None when it cannot be used."""
        assert self.report.run_id is not None  # a run that records rows
        path = settled_copy.copy_path(self.ledger, self.ctx.project.path.parent, self.ctx.name)
        self.settled_copy = path
        held = settled_copy.refresh(
            path, self.ledger, self.ctx.name, self.report.run_id - 1, pruned_before=None
        )
        return None if held is None else path

    def _refresh_copy(self, source: Source) -> None:
        """After a completed run: this run's settled rows into the settled copy, and the rows
        pruned from the ledger out of it, so the next run has them at hand. The source, read
        whole, is closed first: its DuckDB memory is not held while the copy's is used."""
        if self.settled_copy is None or self.stopped or self.report.run_id is None:
            return
        source.close()
        pruned = self._prune_cutoff()
        settled_copy.refresh(
            self.settled_copy, self.ledger, self.ctx.name, self.report.run_id, pruned_before=pruned
        )

    def _prune_cutoff(self) -> float | None:
        """Epoch seconds: rows last written before it are pruned after a completed run that
        records rows (readplan.PRUNE_AFTER_SECONDS); None: no pruning."""
        if not self.ctx.records_rows or self.stopped or not event_time_mapped(self.mapping):
            return None
        return self.ctx.clock() - PRUNE_AFTER_SECONDS

    def _prune(self) -> None:
        """After a completed run that records rows: forget rows settled so long ago that
        they can never be sent (readplan.PRUNE_AFTER_SECONDS); one that comes back expires."""
        cutoff = self._prune_cutoff()
        if cutoff is not None:
            self.ledger.prune(self.ctx.name, settled_before=cutoff)

    def _stop_by_signal(self) -> None:
        """Ctrl-C or SIGTERM: read no more, let the batches in flight land and be recorded."""
        if self.stopped:
            return
        self.stopped = True
        mark_stopped(self.report, self.stop)
        if self.client is not None:  # requests in flight land; no new post, no retry
            name = self.stop.signal_name or "a signal"
            self.client.abort(MetaTransientError(f"not sent: the run was stopped by {name}"))

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Every background task's end is looked at: an exception stops the run."""
        self.in_flight.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self.failure is None:
            self.failure = exc
            self.stopped = True

    async def _read_and_send(self, source: Source) -> None:
        rows_iter = iter(source.batches(self.batch_size))
        while not self.stopped and self._room():
            try:
                rows = await asyncio.to_thread(next, rows_iter, None)
            except CapisyncError:
                if self.stop.requested:
                    break  # the signal cancelled the query in flight (Source.interrupt)
                raise
            if rows is None:
                self.report.read_all = True
                break
            # with --limit, rows after the limit is reached are not looked at (nor counted)
            while rows and not self.stopped and (room := self._room()):
                self._plan(rows[:room])
                rows = rows[room:]
                await self._record_local()
                await self._dispatch(final=False)
        await self._dispatch(final=True)

    def _room(self) -> int:
        """How many more rows this run may look at: all of a batch, or with --limit as many
        as events it may still queue (rows rejected or already sent do not use it up)."""
        if self.ctx.limit is None:
            return self.batch_size
        return max(0, self.ctx.limit - self.report.coverage["events"])

    async def _keep_lock(self) -> None:
        """Refresh the lock while a slow batch retries, so no other machine takes it over."""
        if self.ctx.dry_run:
            return
        while True:
            await asyncio.sleep(LOCK_STALE_AFTER / 4)
            self.ledger.heartbeat(self.ctx.lock_name, self.owner, self.ctx.clock())

    def _plan(self, rows: list[dict[str, Any]]) -> None:
        counts, now = self.report.counts, self.ctx.clock()
        ids = [ledger_identifier(row.get(self.identifier_column)) for row in rows]
        known = self.ledger.lookup(self.ctx.name, [i for i in ids if i is not None])
        rejected: list[Rejected] = []
        expired: list[str] = []
        baseline: list[str] = []
        to_build: list[dict[str, Any]] = []
        entries: list[Entry | None] = []
        for ident, row in zip(ids, rows, strict=True):
            counts["read"] += 1
            entry = known.get(ident) if ident is not None else None
            if ident is not None and self._repeated(ident, entry):
                # reported, never stored: the ledger row belongs to the first row with it
                counts["new"] += 1
                counts["duplicate"] += 1
                if len(self.report.duplicates) < MAX_DUPLICATES_KEPT:
                    self.report.duplicates.append(ident)
                continue
            if entry is not None and entry.state in SETTLED:
                self._count_settled(entry.state)
                if self.writeback is not None and ident is not None:
                    self.catch_up.append((ident, entry.state, None, None))
                continue
            counts["retried" if entry is not None else "new"] += 1
            if ident is not None:
                self.unsettled.add(ident)
            to_build.append(row)
            entries.append(entry)
        outcomes = self._build(to_build, int(now))
        for outcome, entry in zip(outcomes, entries, strict=True):
            self.report.warnings.update(w.code for w in outcome.warnings)
            before = len(rejected)
            if isinstance(outcome, Rejection):
                self._classify_rejection(outcome, rejected, expired)
            elif self.baseline:
                baseline.append(outcome.identifier)
            else:
                self._enqueue(outcome, entry, rejected)
            if entry is not None and len(rejected) > before:
                self.report.rejected_again += 1
        self.local = (rejected, expired, baseline, now)

    def _repeated(self, ident: str, entry: Entry | None) -> bool:
        """The model gave this identifier twice in this run (its first row holds the key)."""
        this_run = self.report.run_id is not None and entry is not None
        return ident in self.unsettled or (
            entry is not None and this_run and entry.run_id == self.report.run_id
        )

    def _build(self, rows: list[dict[str, Any]], now: int) -> list[BuiltEvent | Rejection]:
        """Build a batch; should a row trip a bug in the builder, that row alone is rejected
        (internal_error) and the others go: one odd value never stops a sync."""
        try:
            return self.builder.build_batch(rows, now=now)
        except Exception:
            return [self._build_one(row, now) for row in rows]

    def _build_one(self, row: dict[str, Any], now: int) -> BuiltEvent | Rejection:
        try:
            return self.builder.build(row, now=now)
        except Exception as exc:
            ident = ledger_identifier(row.get(self.identifier_column)) or ""
            message = (
                f"capisync could not process this row ({type(exc).__name__}); it is retried "
                "on every run. Please report it with the row's identifier"
            )
            return Rejection(ident, (Issue("internal_error", message),), (), False)

    def _count_settled(self, state: str, rows: int = 1) -> None:
        """Rows an earlier run settled: sent, expired, or part of the baseline; never resent."""
        if state == SENT:
            self.report.counts["already"] += rows
        elif state == EXPIRED:
            self.report.counts["expired"] += rows
            self.report.reasons["event_time_too_old"] += rows
        else:
            self.report.counts["baseline"] += rows

    def _classify_rejection(
        self, outcome: Rejection, rejected: list[Rejected], expired: list[str]
    ) -> None:
        if outcome.expired:
            self.report.reasons.update(r.code for r in outcome.reasons)
            expired.append(outcome.identifier)
        else:
            rejected.append(Rejected(outcome.identifier, [r.as_dict() for r in outcome.reasons]))

    def _enqueue(self, built: BuiltEvent, entry: Entry | None, rejected: list[Rejected]) -> None:
        # Meta rejected this exact event before: do not ask again until the row changes
        if entry is not None and entry.by_meta and entry.fingerprint == _fingerprint(built.event):
            rejected.append(
                Rejected(built.identifier, entry.reasons, entry.fingerprint, by_meta=True)
            )
            return
        self.report.coverage.update(built.match_keys)
        self.report.coverage["events"] += 1
        own_id = all(w.code != EVENT_ID_FALLBACK.code for w in built.warnings)
        self.outbox.append(_Pending(built.identifier, built.event_id, built.event, own_id))

    async def _record_local(self) -> None:
        """Count and record the rows the last _plan settled without sending them."""
        if self.local is None:
            return
        (rejected, expired, baseline, now), self.local = self.local, None
        counts = self.report.counts
        counts["rejected"] += len(rejected)
        counts["expired"] += len(expired)
        counts["baseline"] += len(baseline)
        self._count_rejections(rejected)
        # a row without an identifier cannot be remembered; it is reported, not stored
        storable = [r for r in rejected if r.identifier]
        counts["unidentified"] += len(rejected) - len(storable)
        marked = {EXPIRED: expired, BASELINE: baseline}
        held = Counter(rejected=len(storable), expired=len(expired), baseline=len(baseline))
        # nothing to store: the counts go with the next checkpoint (one write less a batch)
        if sum(held.values()) or not self.ctx.records_rows:
            await self._write(now, held, rejected=storable, marked=marked)
        if self.ctx.records_rows:
            # rows settled locally are in the ledger now; queued ones stay until checkpointed
            self.unsettled.difference_update(expired, baseline, (r.identifier for r in rejected))
        if self.writeback is not None and self.catch_up and self.report.run_id is not None:
            missed, self.catch_up = self.catch_up, []
            await asyncio.get_running_loop().run_in_executor(
                self.writer, self.writeback.write, missed, self.report.run_id, now
            )

    async def _write(
        self,
        now: float,
        held: Counter[str],
        *,
        sent: list[tuple[str, str, str | None]] | None = None,
        rejected: list[Rejected] | None = None,
        marked: dict[str, list[str]] | None = None,
        heartbeat: bool = False,
    ) -> None:
        """One checkpoint: the rows this run settled and its counts so far, in one ledger
        transaction (a dry run writes nothing; a test run only its progress), made in the
        ledger's writer thread after every write asked for before it. `held`: the rows it
        settles, by column. When it fails before the ledger holds them, those rows move from
        their column to `pending` (the next run takes them again), are counted as
        `unrecorded` too, and the LedgerError stops the run."""
        run_id = self.report.run_id
        if run_id is None:
            return
        if not self.ctx.records_rows:
            sent, rejected, marked = None, None, None
        counts = Counter(self.report.counts)  # as they are now, with these rows
        recorded = False

        def write() -> None:
            nonlocal recorded
            self.ledger.checkpoint(
                self.ctx.name,
                run_id,
                now,
                sent=sent or (),
                rejected=rejected or (),
                marked=marked,
                counts=counts,
            )
            recorded = True  # the ledger holds them: a failing write-back cannot unsettle them
            if self.writeback is not None:  # after the ledger: it may lag, never lead
                settled: list[SettledRow] = [(i, SENT, e, t) for i, e, t in sent or ()]
                settled += [(i, st, None, None) for st, ids in (marked or {}).items() for i in ids]
                self.writeback.write(settled, run_id, now)
            if heartbeat:  # the lock's refresh, in the same job: no write in between
                self.ledger.heartbeat(self.ctx.lock_name, self.owner, now)

        try:
            await asyncio.get_running_loop().run_in_executor(self.writer, write)
        except Exception:
            if self.ctx.records_rows and not recorded:
                totals, rows = self.report.counts, sum(held.values())
                totals.subtract(held)
                totals["pending"] += rows
                totals["unrecorded"] += rows
            self.stopped = True
            raise

    def _count_rejections(self, rejected: list[Rejected]) -> None:
        reasons, kept = self.report.reasons, self.report.rejections
        for row in rejected:
            codes = [reason["code"] for reason in row.reasons]
            self.report.rejected_by_reason[codes[0] if codes else "unknown"] += 1
            # kept while one of its reasons has fewer than MAX_REJECTIONS_KEPT examples
            if any(reasons[code] < MAX_REJECTIONS_KEPT for code in codes):
                kept.append(row)
            reasons.update(codes)

    async def _dispatch(self, *, final: bool) -> None:
        while len(self.outbox) >= self.batch_size or (final and self.outbox):
            if self.ctx.dry_run:
                batch = self.outbox[: self.batch_size]
                del self.outbox[: self.batch_size]
                self._count_dry(batch)
                continue
            # bounded: never more batches in flight than requests the client may make
            while len(self.in_flight) >= self.ctx.config.delivery.concurrency and not self.stopped:
                await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
            if self.stopped:
                return  # what is left in the outbox stays pending
            batch = self.outbox[: self.batch_size]
            del self.outbox[: self.batch_size]
            task = asyncio.create_task(self._send(batch))
            self.in_flight.add(task)
            task.add_done_callback(self._task_done)
        self._notify()

    def _count_dry(self, batch: list[_Pending]) -> None:
        """A dry run's "would send", less what the client would set aside as unencodable."""
        events = [p.event for p in batch]
        left_out = unencodable_among(events, range(len(events)))
        rejected = [
            _local_rejection(batch[i].identifier, "internal_error", UNENCODABLE_MESSAGE)
            for i in left_out
        ]
        self.report.counts["sent"] += len(batch) - len(rejected)
        self.report.counts["rejected"] += len(rejected)
        self._count_rejections(rejected)
        self._observe(batch, set(range(len(batch))).difference(left_out))

    async def _drain(self) -> None:
        """Wait for every batch in flight; their outcomes (and exceptions) are taken by
        _task_done, so none is left unread."""
        while self.in_flight:
            await asyncio.wait(self.in_flight)
        self._notify()

    async def _send(self, batch: list[_Pending]) -> None:
        assert self.client is not None and self.report.run_id is not None
        try:
            result = await self.client.send([p.event for p in batch])
        except BaseException:
            self.report.counts["pending"] += len(batch)  # not known to have landed: resent
            raise
        await self._checkpoint(batch, result)

    async def _checkpoint(self, batch: list[_Pending], result: BatchResult) -> None:
        now, counts = self.ctx.clock(), self.report.counts
        sent = [(batch[i].identifier, batch[i].event_id, trace) for i, trace in result.accepted]
        rejected = [_meta_rejection(batch[i], err) for i, err in result.rejected]
        rejected += [
            _local_rejection(batch[i].identifier, "internal_error", UNENCODABLE_MESSAGE)
            for i in result.unencodable
        ]
        counts["sent"] += len(result.accepted)
        self._observe(batch, [i for i, _ in result.accepted])
        counts["rejected"] += len(rejected)
        counts["pending"] += len(result.pending)
        counts["requests"] += result.requests
        self._count_rejections(rejected)
        if result.fatal is not None and not self.stopped:
            self.stopped = True
            self.report.status, self.report.error = "failed", str(result.fatal)
            self.report.failure = result.fatal
        held = Counter(sent=len(sent), rejected=len(rejected))
        await self._write(now, held, sent=sent, rejected=rejected, heartbeat=True)
        if self.ctx.records_rows:
            # recorded: from now on the ledger's run_id tells a repeated identifier
            self.unsettled.difference_update(p.identifier for p in batch)
        self._notify()

    def _observe(self, batch: list[_Pending], sent: Iterable[int]) -> None:
        """Feed the run's statistics with the events of `batch` at indexes `sent`."""
        if self.report.stats is None:
            return
        chosen = [batch[i] for i in sorted(sent)]
        self.report.stats.observe_batch(
            [p.event for p in chosen], [p.own_event_id for p in chosen], now=self.ctx.clock()
        )

    def _notify(self) -> None:
        if self.ctx.progress is not None:
            self.ctx.progress(self.report)


DUPLICATE_MESSAGE = (
    "the model returned this identifier more than once; make the identifier column unique "
    "(one row per event): only the first row with it is sent"
)
UNENCODABLE_MESSAGE = (
    "capisync could not write this event as JSON, so it was not sent; it is retried on every "
    "run. Please report it with the row's identifier"
)


def _local_rejection(ident: str, code: str, message: str) -> Rejected:
    """A row refused here, not by Meta: no fingerprint, so every run evaluates it again."""
    return Rejected(ident, [{"code": code, "key": None, "message": message}])


def _meta_rejection(item: _Pending, err: MetaError) -> Rejected:
    code = "meta_rejected"
    message = err.user_message or str(err)
    reason = {
        "code": code,
        "key": None,
        "message": message,
        "meta_code": err.code,
        "meta_subcode": err.subcode,
        "fbtrace_id": err.fbtrace_id,
    }
    return Rejected(item.identifier, [reason], _fingerprint(item.event), by_meta=True)


def _fingerprint(event: dict[str, Any]) -> str | None:
    """The event as sent (the same bytes as in its request): Meta refused this exact one.
    None for an event JSON cannot carry: it matches no fingerprint, and the client sets it
    aside as unencodable."""
    try:
        return hashlib.sha256(orjson.dumps(event)).hexdigest()
    except orjson.JSONEncodeError:
        return None


def ensure_syncs(project: Project, names: list[str]) -> list[str]:
    """The syncs to run: those named, or every sync of the project, in file order."""
    if not names:
        return list(project.syncs)
    unknown = [n for n in names if n not in project.syncs]
    if unknown:
        known = ", ".join(project.syncs)
        raise ConfigError(
            [f"no sync named '{n}' (the file defines: {known})" for n in unknown], str(project.path)
        )
    return list(dict.fromkeys(names))  # each once, in the order given
