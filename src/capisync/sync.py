"""run_sync(): the one place that knows the order of steps.

    read a batch of rows ─> plan against the ledger (new? already sent? rejected before?)
    ─> build events (map, normalize, hash, validate: pure) ─> send in batches of <=1000
    ─> checkpoint each acknowledged batch in the ledger

Every row read ends the run in exactly one state: already (sent by an earlier run), baseline
(recorded, not sent, by a first run with skip_existing), sent, rejected (with reasons),
expired (too old for Meta; once expired, a row is not evaluated again), or pending (not sent
because the run stopped). The counts always add up to `read`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from capisync.capi.event import EventBuilder
from capisync.capi.issues import Issue
from capisync.capi.mapping import ResolvedMapping
from capisync.capi.outcome import BuiltEvent, Rejection, ledger_identifier
from capisync.config import Project, SyncConfig
from capisync.errors import CapisyncError, ConfigError, MetaError
from capisync.interrupts import on_first_interrupt
from capisync.locking import LOCK_STALE_AFTER, acquire_lock, new_owner
from capisync.meta import BatchResult, MetaClient, unencodable_among
from capisync.sources import Source
from capisync.state import EXPIRED, SENT, SETTLED, Entry, Ledger, Rejected
from capisync.wiring import build_options, client_settings, open_source_for, resolve_for


@dataclass
class RunReport:
    sync: str
    run_id: int | None
    status: str  # completed | failed | dry-run
    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)  # rejection and expiry codes
    warnings: Counter[str] = field(default_factory=Counter)  # dropped values, by code
    coverage: Counter[str] = field(default_factory=Counter)  # match keys among built events
    rejections: list[Rejected] = field(default_factory=list)  # this run's, for the summary
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "dry-run")


Progress = Callable[[RunReport], None]


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


def run_sync(
    project: Project,
    name: str,
    *,
    dry_run: bool = False,
    test_event_code: str | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
) -> RunReport:
    ctx = SyncContext(name, project.sync(name), project, test_event_code, dry_run, clock, progress)
    return asyncio.run(_run(ctx))


async def _run(ctx: SyncContext) -> RunReport:
    ledger = Ledger(ctx.project.state_location())
    owner = new_owner()
    try:
        if not ctx.dry_run:
            wait = ctx.lock_wait_seconds if ctx.config.on_locked == "wait" else 0.0
            await acquire_lock(ledger, ctx.name, owner, wait_seconds=wait, clock=ctx.clock)
        try:
            return await _run_locked(ctx, ledger, owner)
        finally:
            if not ctx.dry_run:
                ledger.unlock(ctx.name, owner)
    finally:
        ledger.close()


async def _run_locked(ctx: SyncContext, ledger: Ledger, owner: str) -> RunReport:
    started = ctx.clock()
    run_id = None if ctx.dry_run else ledger.start_run(ctx.name, dry_run=False, now=started)
    report = RunReport(ctx.name, run_id, "dry-run" if ctx.dry_run else "running")
    try:
        source = open_source_for(ctx)
        try:
            mapping = resolve_for(ctx, source.columns())
            baseline = (
                not ctx.dry_run
                and ctx.config.first_run == "skip_existing"
                and not ledger.has_history(ctx.name)
            )
            await _Runner(ctx, ledger, report, mapping, baseline, owner).run(source)
        finally:
            source.close()
        if report.status == "running":
            report.status = "completed"
    except CapisyncError as exc:
        # the run history says why; the caller shows what was done and exits with the code
        report.status, report.error = "failed", str(exc)
        exc.report = report  # type: ignore[attr-defined]
        raise
    except BaseException:
        report.status, report.error = "interrupted", "the run was stopped before it finished"
        raise
    finally:
        report.seconds = ctx.clock() - started
        if run_id is not None:
            _finish(ledger, run_id, report, ctx.clock())
    return report


def _finish(ledger: Ledger, run_id: int, report: RunReport, now: float) -> None:
    details = {
        "reasons": dict(report.reasons),
        "warnings": dict(report.warnings),
        "coverage": dict(report.coverage),
    }
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
    ) -> None:
        self.ctx, self.ledger, self.report = ctx, ledger, report
        self.builder = EventBuilder(mapping, build_options(ctx.config))
        self.identifier_column = mapping.identifier
        self.baseline, self.owner = baseline, owner
        self.batch_size = ctx.config.delivery.batch_size
        # identifiers this run read but the ledger does not hold yet (queued, in flight); once a
        # batch is checkpointed, the ledger's run_id tells a repeated identifier instead, so
        # the set stays as small as the outbox (a dry run writes nothing and keeps them all)
        self.unsettled: set[str] = set()
        self.outbox: list[_Pending] = []
        self.in_flight: set[asyncio.Task[None]] = set()
        self.client: MetaClient | None = None
        self.stopped = False

    async def run(self, source: Source) -> None:
        async with MetaClient(client_settings(self.ctx), transport=self.ctx.transport) as client:
            self.client = client
            heartbeat = asyncio.create_task(self._keep_lock())
            stop_on_ctrl_c = on_first_interrupt(self._stop_by_user)
            try:
                await self._read_and_send(source)
            finally:
                stop_on_ctrl_c()
                # whatever stopped the reading, batches already sent are checkpointed
                await self._drain()
                heartbeat.cancel()
                self.report.counts["pending"] += len(self.outbox)
                self.outbox.clear()

    def _stop_by_user(self) -> None:
        """Ctrl-C: read no more, let the batches in flight land and be recorded, then stop."""
        if not self.stopped:
            self.stopped = True
            self.report.status = "interrupted"
            self.report.error = (
                "stopped by the user; batches already sent were recorded, the rest stay pending "
                "and the next run sends them (press Ctrl-C again to quit at once)"
            )

    async def _read_and_send(self, source: Source) -> None:
        rows_iter = iter(source.batches(self.batch_size))
        while not self.stopped:
            rows = await asyncio.to_thread(next, rows_iter, None)
            if rows is None:
                break
            self._plan(rows)
            await self._dispatch(final=False)
        await self._dispatch(final=True)

    async def _keep_lock(self) -> None:
        """Refresh the lock while a slow batch retries, so no other machine takes it over."""
        if self.ctx.dry_run:
            return
        while True:
            await asyncio.sleep(LOCK_STALE_AFTER / 4)
            self.ledger.heartbeat(self.ctx.name, self.owner, self.ctx.clock())

    def _plan(self, rows: list[dict[str, Any]]) -> None:
        counts, now = self.report.counts, self.ctx.clock()
        ids = [ledger_identifier(row.get(self.identifier_column)) for row in rows]
        known = self.ledger.lookup(self.ctx.name, [i for i in ids if i is not None])
        rejected: list[Rejected] = []
        expired: list[str] = []
        baseline: list[str] = []
        to_build: list[dict[str, Any]] = []
        entries: list[Entry | None] = []
        duplicates: list[Rejected] = []
        for ident, row in zip(ids, rows, strict=True):
            counts["read"] += 1
            entry = known.get(ident) if ident is not None else None
            if ident is not None and self._repeated(ident, entry):
                counts["new"] += 1
                duplicate = _local_rejection(ident, "duplicate_identifier", DUPLICATE_MESSAGE)
                duplicates.append(duplicate)
                continue
            if entry is not None and entry.state in SETTLED:
                self._count_settled(entry.state)
                continue
            counts["retried" if entry is not None else "new"] += 1
            if ident is not None:
                self.unsettled.add(ident)
            to_build.append(row)
            entries.append(entry)
        outcomes = self._build(to_build, int(now))
        for outcome, entry in zip(outcomes, entries, strict=True):
            self.report.warnings.update(w.code for w in outcome.warnings)
            if isinstance(outcome, Rejection):
                self._classify_rejection(outcome, rejected, expired)
            elif self.baseline:
                baseline.append(outcome.identifier)
            else:
                self._enqueue(outcome, entry, rejected)
        self._record_local(rejected, expired, baseline, now)
        self._count_duplicates(duplicates)
        if not self.ctx.dry_run:
            # rows settled locally are in the ledger now; queued ones stay until checkpointed
            self.unsettled.difference_update(expired, baseline, (r.identifier for r in rejected))

    def _repeated(self, ident: str, entry: Entry | None) -> bool:
        """The model gave this identifier twice in this run (its first row holds the key)."""
        this_run = self.report.run_id is not None and entry is not None
        return ident in self.unsettled or (
            entry is not None and this_run and entry.run_id == self.report.run_id
        )

    def _count_duplicates(self, duplicates: list[Rejected]) -> None:
        # reported, never stored: the ledger row belongs to the first row with the identifier
        self.report.counts["rejected"] += len(duplicates)
        self._count_rejections(duplicates)

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

    def _count_settled(self, state: str) -> None:
        """A row an earlier run settled: sent, expired, or part of the baseline; never resent."""
        if state == SENT:
            self.report.counts["already"] += 1
        elif state == EXPIRED:
            self.report.counts["expired"] += 1
            self.report.reasons["event_time_too_old"] += 1
        else:
            self.report.counts["baseline"] += 1

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
        self.outbox.append(_Pending(built.identifier, built.event_id, built.event))

    def _record_local(
        self, rejected: list[Rejected], expired: list[str], baseline: list[str], now: float
    ) -> None:
        counts = self.report.counts
        counts["rejected"] += len(rejected)
        counts["expired"] += len(expired)
        counts["baseline"] += len(baseline)
        self._count_rejections(rejected)
        if self.ctx.dry_run or self.report.run_id is None:
            return
        # a row without an identifier cannot be remembered; it is reported, not stored
        storable = [r for r in rejected if r.identifier]
        self.ledger.mark_rejected(self.ctx.name, self.report.run_id, storable, now)
        self.ledger.mark(self.ctx.name, self.report.run_id, expired, "expired", now)
        self.ledger.mark(self.ctx.name, self.report.run_id, baseline, "baseline", now)

    def _count_rejections(self, rejected: list[Rejected]) -> None:
        self.report.rejections.extend(rejected)
        self.report.reasons.update(reason["code"] for r in rejected for reason in r.reasons)

    async def _dispatch(self, *, final: bool) -> None:
        while len(self.outbox) >= self.batch_size or (final and self.outbox):
            if self.stopped:
                return
            batch = self.outbox[: self.batch_size]
            del self.outbox[: self.batch_size]
            if self.ctx.dry_run:
                self._count_dry(batch)
                continue
            # bounded: never more batches in flight than requests the client may make
            while len(self.in_flight) >= self.ctx.config.delivery.concurrency:
                await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
            task = asyncio.create_task(self._send(batch))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
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

    async def _drain(self) -> None:
        while self.in_flight:
            await asyncio.wait(self.in_flight)
        self._notify()

    async def _send(self, batch: list[_Pending]) -> None:
        assert self.client is not None and self.report.run_id is not None
        result = await self.client.send([p.event for p in batch])
        self._checkpoint(batch, result)

    def _checkpoint(self, batch: list[_Pending], result: BatchResult) -> None:
        now, run_id, counts = self.ctx.clock(), self.report.run_id, self.report.counts
        self.unsettled.difference_update(p.identifier for p in batch)
        assert run_id is not None
        by_trace: dict[str | None, list[tuple[str, str]]] = {}
        for index, trace in result.accepted:
            by_trace.setdefault(trace, []).append((batch[index].identifier, batch[index].event_id))
        for trace, items in by_trace.items():
            self.ledger.mark_sent(self.ctx.name, run_id, items, trace, now)
        rejected = [_meta_rejection(batch[i], err) for i, err in result.rejected]
        rejected += [
            _local_rejection(batch[i].identifier, "internal_error", UNENCODABLE_MESSAGE)
            for i in result.unencodable
        ]
        self.ledger.mark_rejected(self.ctx.name, run_id, rejected, now)
        self.ledger.heartbeat(self.ctx.name, self.owner, now)
        counts["sent"] += len(result.accepted)
        counts["rejected"] += len(rejected)
        counts["pending"] += len(result.pending)
        counts["requests"] += result.requests
        self._count_rejections(rejected)
        if result.fatal is not None and not self.stopped:
            self.stopped = True
            self.report.status, self.report.error = "failed", str(result.fatal)
        self._notify()

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
