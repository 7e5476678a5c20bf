"""The ledger: what each sync sent, rejected or let expire, its runs, and the one-run lock.

SQLite in `.capisync/` by default; any SQLAlchemy URL (PostgreSQL beside the model) works the
same. Every write is one transaction, made after Meta acknowledged a batch, so a crash loses at
most the batches in flight; those are resent with the same event_id on the next run.
Only identifiers, event_ids, hashes, reason codes and Meta's messages are stored: never a raw
customer value, never a token.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from capisync.errors import ConfigError, LedgerError, LedgerUnavailableError
from capisync.state.dialects import sqlite_file, unsupported_ledger_url
from capisync.state.locks import RunLock, run_lock_for
from capisync.state.schema import (
    COUNT_FIELDS,
    END_STATES,
    INFO,
    LEDGER,
    LOCKS,
    RUNS,
    add_missing_columns,
    metadata,
)

SENT, REJECTED, EXPIRED, BASELINE = "sent", "rejected", "expired", "baseline"
# states a later run never sends again (a rejected row is re-evaluated every run)
SETTLED = frozenset({SENT, EXPIRED, BASELINE})
ROW_STATES = (SENT, REJECTED, EXPIRED, BASELINE)  # every state a ledger row is written in
RESET = "reset"  # the run history's entry of `capisync reset` (forget)
_LOOKUP_CHUNK = 900  # below SQLite's bound-parameter limit on old builds
_PG_LOOKUP_CHUNK = 5000  # one array parameter: no bound-parameter limit
_ENTRY_COLUMNS = (
    LEDGER.c.identifier,
    LEDGER.c.state,
    LEDGER.c.fingerprint,
    LEDGER.c.by_meta,
    LEDGER.c.reasons,
    LEDGER.c.run_id,
)
# PostgreSQL: one primary-key probe per identifier, whatever the statistics say. A plain
# `sync = :s AND identifier IN (...)` on a table never analyzed (a new ledger, autovacuum
# off) is estimated at a few dozen rows for the sync and planned as a scan of all its rows,
# filtered: 0.7 s a look-up at 2,000,000 rows. The LIMIT 1 lateral subquery keeps the plan
# a nested loop of index probes (3 ms for 900 identifiers, analyzed or not).
_PG_LOOKUP = sa.text(
    "SELECT l.identifier, l.state, l.fingerprint, l.by_meta, l.reasons, l.run_id "
    "FROM unnest(CAST(:ids AS text[])) AS k(id) CROSS JOIN LATERAL "
    f"(SELECT * FROM {LEDGER.name} AS t WHERE t.sync = :sync AND t.identifier = k.id "
    "LIMIT 1) AS l"
)
BUSY_TIMEOUT_S = 10  # how long a SQLite write waits for another process's write lock
NEARLY_FULL_BYTES = 1 << 20  # less free than this under an I/O error: the disk is full
ABANDONED_MESSAGE = (
    "the process running it stopped before the run finished (killed, crashed, or its machine "
    "went down); the counts are what the ledger recorded for it, and rows it had read but not "
    "recorded count as pending: the next run sends them"
)


@dataclass(frozen=True, slots=True)
class Entry:
    state: str
    fingerprint: str | None
    by_meta: bool  # rejected by Meta itself (not by our validation)
    reasons: list[dict[str, Any]]
    run_id: int | None  # the run that last wrote it


@dataclass(frozen=True, slots=True)
class Rejected:
    identifier: str
    reasons: list[
        dict[str, Any]
    ]  # [{"code", "key", "message"}], codes may carry Meta's code/subcode
    fingerprint: str | None = None
    by_meta: bool = False


@dataclass(frozen=True, slots=True)
class ReasonGroup:
    code: str
    rows: int  # rejected rows with this reason (a row with two reasons counts in both)
    examples: list[str]  # identifiers, the first few in order
    reason: dict[str, Any]  # one row's full reason: message, Meta's code and subcode


@dataclass(frozen=True, slots=True)
class RejectionSummary:
    total: int  # rejected rows
    groups: list[ReasonGroup]  # most rows first


@dataclass(frozen=True, slots=True)
class _ReasonSql:
    elements: str  # a FROM item yielding one row per reason of the ledger row `l`
    code: str  # that reason's code, as text
    value: str  # that reason, as JSON text


def _reason_elements(dialect: str) -> _ReasonSql:
    """The ledger's `reasons` JSON list, one SQL row per reason, in each ledger dialect."""
    if dialect == "postgresql":
        return _ReasonSql(
            "jsonb_array_elements(CAST(l.reasons AS jsonb)) AS r(value)",
            "(r.value ->> 'code')",
            "CAST(r.value AS text)",
        )
    return _ReasonSql("json_each(l.reasons) AS r", "json_extract(r.value, '$.code')", "r.value")


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One identifier's row: its state and what the run that wrote it recorded."""

    identifier: str
    state: str  # sent | rejected | expired | baseline
    event_id: str | None  # the event_id it was sent with (sent rows)
    run_id: int | None  # the run that last wrote it
    updated_at: float  # epoch seconds it was written
    fbtrace_id: str | None  # Meta's trace id of the request that carried it (sent rows)
    by_meta: bool  # rejected by Meta itself, not by capisync's validation
    reasons: list[dict[str, Any]]  # why it was rejected or expired


@dataclass(frozen=True, slots=True)
class RowChoice:
    """Which rows of a sync a reset forgets: these identifiers, the rows written since an
    instant, or all of them (exactly one)."""

    identifiers: tuple[str, ...] = ()
    since: float | None = None  # epoch seconds: rows the ledger wrote at or after it
    everything: bool = False

    def where(self, sync: str) -> Iterator[list[sa.ColumnElement[bool]]]:
        """WHERE clauses picking the rows, one per chunk of identifiers."""
        base = [LEDGER.c.sync == sync]
        if self.everything:
            yield base
        elif self.since is not None:
            yield [*base, LEDGER.c.updated_at >= self.since]
        for start in range(0, len(self.identifiers), _LOOKUP_CHUNK):
            chunk = self.identifiers[start : start + _LOOKUP_CHUNK]
            yield [*base, LEDGER.c.identifier.in_(chunk)]


@dataclass
class RunRecord:
    id: int
    sync: str
    started_at: float
    ended_at: float | None
    status: str
    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    test_event_code: str | None = None  # set for a test run: it settled no row


class Ledger:
    def __init__(self, location: str) -> None:
        self.location = location
        self._locks: dict[str, RunLock] = {}  # run locks this ledger holds, by sync
        # the SQLite file, watched so that a ledger deleted or replaced mid-run stops the run
        self.path = sqlite_file(location)
        url = location if "://" in location else _sqlite_url(Path(location))
        if (unsupported := unsupported_ledger_url(url)) is not None:
            raise ConfigError([f"state.url: {unsupported}"])
        self.shown = sa.engine.make_url(url).render_as_string(hide_password=True)
        try:
            self.engine = sa.create_engine(url)
            if self.engine.dialect.name == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            _create_tables(self.engine)
        except SQLAlchemyError as exc:
            raise ledger_failure(exc, f"cannot open the ledger at {self._describe(exc)}") from exc
        self._identity = _file_identity(self.path) if self.path is not None else None

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        """One write transaction. Raises LedgerError saying what to fix: the disk is full,
        another process holds the write lock, a file is read-only, or the SQLite file was
        deleted or replaced since the ledger was opened (then nothing is committed)."""
        try:
            with self.engine.begin() as conn:
                self.check_file()
                yield conn
                self.check_file()  # before the commit: a write into a deleted file is lost
        except SQLAlchemyError as exc:
            raise ledger_failure(exc, f"ledger write failed at {self._describe(exc)}") from exc

    def check_file(self) -> None:
        """Raise LedgerError when the SQLite file is no longer the one this ledger opened:
        SQLite goes on writing into a deleted file, and the next run would find none of it."""
        if self.path is None or self._identity is None:
            return
        now = _file_identity(self.path)
        if now == self._identity:
            return
        what = "deleted" if now is None else "replaced by another file"
        raise LedgerError(
            f"the ledger file {self.path} was {what} while this run was using it: what the "
            "run recorded since is lost, and the next run sends those rows again (Meta "
            "deduplicates them by event_id). Keep .capisync/ while a run works; to start "
            "over on purpose, delete it between runs"
        )

    def _describe(self, exc: SQLAlchemyError) -> str:
        """Where the ledger is and what went wrong, with the fix when SQLite says which."""
        orig = getattr(exc, "orig", exc)
        first = (str(orig).splitlines() or [type(orig).__name__])[0]
        name = str(getattr(orig, "sqlite_errorname", ""))
        path = self.path
        if path is None:
            return f"{self.shown}: {type(orig).__name__}: {first}"
        if name == "SQLITE_FULL" or (name.startswith("SQLITE_IOERR") and _nearly_full(path)):
            return (
                f"{path}: the disk holding it is full ({first}); free space there, then run "
                "again (rows not recorded stay pending and are sent then)"
            )
        if name == "SQLITE_BUSY":
            return (
                f"{path}: another process held its write lock for more than {BUSY_TIMEOUT_S} s "
                f"({first}); find what keeps it open in a write transaction (a `sqlite3` "
                "shell, a backup job, a second ledger writer) and run again"
            )
        if name.startswith("SQLITE_READONLY") or name == "SQLITE_CANTOPEN":
            return f"{path}: {_read_only_culprit(path)} ({first})"
        return f"{path}: {type(orig).__name__}: {first}"

    # -- rows -------------------------------------------------------------------------------

    def lookup(self, sync: str, identifiers: Sequence[str]) -> dict[str, Entry]:
        """The ledger rows of these identifiers, by identifier (unknown ones are absent), in
        a few bulk queries that probe the primary key. Raises SQLAlchemyError."""
        found: dict[str, Entry] = {}
        pg = self.engine.dialect.name == "postgresql"
        step = _PG_LOOKUP_CHUNK if pg else _LOOKUP_CHUNK
        with self.engine.connect() as conn:
            for start in range(0, len(identifiers), step):
                chunk = list(identifiers[start : start + step])
                if pg:
                    rows = conn.execute(_PG_LOOKUP, {"ids": chunk, "sync": sync})
                else:  # SQLite: the primary key's IN list, SQL text made once per size
                    rows = conn.exec_driver_sql(_sqlite_lookup(len(chunk)), (sync, *chunk))
                for ident, state, fp, by_meta, reasons, run_id in rows:
                    found[ident] = Entry(
                        state, fp, bool(by_meta), json.loads(reasons or "[]"), run_id
                    )
        return found

    def settled(self, sync: str, chunk: int = 100_000) -> Iterator[list[tuple[str, str]]]:
        """(identifier, state) of every settled row of `sync` (sent, expired, baseline), in
        lists of up to `chunk`, streamed from the ledger (its (sync, state, run_id) index)."""
        for part in self.settled_after(sync, 0, None, chunk):
            yield [(i, st) for i, st, _ in part]

    def settled_after(
        self, sync: str, after_run: int, through_run: int | None, chunk: int = 100_000
    ) -> Iterator[list[tuple[str, str, float]]]:
        """(identifier, state, updated_at) of the rows of `sync` settled by the runs after
        `after_run` (through `through_run`, None: every later run), in lists of up to
        `chunk`, streamed from the (sync, state, run_id) index. Rows come straight from the
        driver's cursor (SQLAlchemy's row objects cost 4x the read itself at 2,000,000 rows).
        Raises LedgerError."""
        pg = self.engine.dialect.name == "postgresql"
        mark = "%s" if pg else "?"  # the driver's own parameter style (psycopg, sqlite3)
        states = sorted(SETTLED)
        sql = (
            f"SELECT identifier, state, updated_at FROM {LEDGER.name} WHERE sync = {mark} "
            f"AND state IN ({', '.join([mark] * len(states))})"
        )
        params: list[object] = [sync, *states]
        if after_run > 0:  # 0: every settled row, those of a ledger that kept no run_id too
            sql += f" AND run_id > {mark}"
            params.append(after_run)
        if through_run is not None:
            sql += f" AND run_id <= {mark}"
            params.append(through_run)
        try:
            with self.engine.connect() as conn:
                dbapi: Any = conn.connection.dbapi_connection
                # PostgreSQL: a server-side cursor, so the client holds one chunk at a time
                cursor = dbapi.cursor(name="capisync_settled") if pg else dbapi.cursor()
                try:
                    cursor.execute(sql, params)
                    while part := cursor.fetchmany(chunk):
                        yield [(str(i), str(st), float(at)) for i, st, at in part]
                finally:
                    cursor.close()
        except Exception as exc:
            if not isinstance(exc, (SQLAlchemyError, *_driver_errors(self.engine))):
                raise
            failed = exc if isinstance(exc, SQLAlchemyError) else sa.exc.DBAPIError(sql, None, exc)
            where = self._describe(failed)
            raise ledger_failure(failed, f"ledger read failed at {where}") from exc

    def identity(self, sync: str) -> str | None:
        """This ledger's name for `sync`: the ledger's own random key, and the sync's first
        run (id and start time). A ledger deleted and made again, or another ledger, gives
        another, so tables keyed by it (the write-back, the settled copy) never carry rows
        settled by a ledger that is gone. None before the sync's first run."""
        query = (
            sa.select(RUNS.c.id, RUNS.c.started_at)
            .where(RUNS.c.sync == sync)
            .order_by(RUNS.c.id)
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else f"{self.key()}:{row[0]}@{row[1]!r}"

    def key(self) -> str:
        """The ledger's random key, made the first time it is asked for (two processes
        asking at once agree: the first insert wins)."""
        select = sa.select(INFO.c.value).where(INFO.c.name == "key")
        with self.engine.begin() as conn:
            found = conn.execute(select).scalar()
            if found is None:
                insert = dialect_insert(self.engine)(INFO).values(
                    name="key", value=uuid.uuid4().hex
                )
                conn.execute(insert.on_conflict_do_nothing(index_elements=[INFO.c.name]))
                found = conn.execute(select).scalar_one()
        return str(found)

    def run_started(self, sync: str, run_id: int) -> float | None:
        """When run `run_id` of `sync` started (epoch seconds); None when the ledger has no
        such run."""
        query = sa.select(RUNS.c.started_at).where(RUNS.c.id == run_id, RUNS.c.sync == sync)
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else float(found)

    def reset_after(self, sync: str, run_id: int) -> bool:
        """Whether `capisync reset` forgot rows of `sync` after run `run_id` (forget())."""
        query = sa.select(RUNS.c.id).where(
            RUNS.c.sync == sync, RUNS.c.status == RESET, RUNS.c.id > run_id
        )
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def last_run(self, sync: str, through_run: int) -> tuple[int, float] | None:
        """(id, started_at) of the latest run of `sync` whose id is at most `through_run`
        (run ids count the runs of every sync); None when it has none."""
        query = (
            sa.select(RUNS.c.id, RUNS.c.started_at)
            .where(RUNS.c.sync == sync, RUNS.c.id <= through_run)
            .order_by(RUNS.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row[0]), float(row[1]))

    def prune(self, sync: str, *, settled_before: float) -> int:
        """Delete the rows of `sync` last written before `settled_before` (epoch seconds):
        rows so old they can never be sent again (a row that comes back is expired), so the
        ledger does not grow without bound. Returns how many were deleted. Raises LedgerError.

        Only rows of runs that started before the cutoff can be that old (a row is written
        after its run started), so the delete walks the (sync, state, run_id) index up to the
        last such run instead of every row of the sync (1.2 s a run at 2,000,000 rows on
        PostgreSQL), and a ledger younger than the cutoff is not searched at all."""
        last_old_run = sa.select(sa.func.max(RUNS.c.id)).where(
            RUNS.c.sync == sync, RUNS.c.started_at < settled_before
        )
        with self._tx() as conn:
            through = conn.execute(last_old_run).scalar()
            if through is None:
                return 0
            result = conn.execute(
                LEDGER.delete().where(
                    LEDGER.c.sync == sync,
                    LEDGER.c.state.in_(ROW_STATES),
                    LEDGER.c.run_id <= through,
                    LEDGER.c.updated_at < settled_before,
                )
            )
            return int(result.rowcount or 0)

    def checkpoint(
        self,
        sync: str,
        run_id: int,
        now: float,
        *,
        sent: Iterable[tuple[str, str, str | None]] = (),
        rejected: Iterable[Rejected] = (),
        marked: Mapping[str, Iterable[str]] | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> None:
        """Record rows and the run's progress in one transaction, so that the run's counts in
        the history always match the rows the ledger holds for it, even after a kill -9.
        `sent` holds (identifier, event_id, fbtrace_id); `marked` maps a state (expired,
        baseline) to identifiers; `counts` are the run's counts so far. Raises LedgerError."""
        rows = [_row(sync, i, SENT, run_id, now, event_id=e, fbtrace_id=t) for i, e, t in sent]
        rows += [
            _row(
                sync,
                r.identifier,
                REJECTED,
                run_id,
                now,
                fingerprint=r.fingerprint,
                by_meta=r.by_meta,
                reasons=json.dumps(r.reasons),
            )
            for r in rejected
        ]
        for state, identifiers in (marked or {}).items():
            rows += [_row(sync, i, state, run_id, now) for i in identifiers]
        if not rows and counts is None:
            return
        with self._tx() as conn:
            self._upsert(conn, rows)
            if counts is not None:
                conn.execute(
                    RUNS.update().where(RUNS.c.id == run_id).values(**_count_values(counts))
                )

    def mark_sent(
        self,
        sync: str,
        run_id: int,
        items: Iterable[tuple[str, str]],
        fbtrace_id: str | None,
        now: float,
    ) -> None:
        self.checkpoint(sync, run_id, now, sent=[(i, e, fbtrace_id) for i, e in items])

    def mark_rejected(self, sync: str, run_id: int, items: Iterable[Rejected], now: float) -> None:
        self.checkpoint(sync, run_id, now, rejected=items)

    def mark(
        self, sync: str, run_id: int, identifiers: Iterable[str], state: str, now: float
    ) -> None:
        self.checkpoint(sync, run_id, now, marked={state: identifiers})

    def _upsert(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        insert = dialect_insert(self.engine)(LEDGER)
        keys = (
            "state",
            "event_id",
            "run_id",
            "updated_at",
            "fbtrace_id",
            "fingerprint",
            "by_meta",
            "reasons",
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[LEDGER.c.sync, LEDGER.c.identifier],
            set_={k: insert.excluded[k] for k in keys},
        )
        conn.execute(stmt, rows)

    def has_history(self, sync: str) -> bool:
        with self.engine.connect() as conn:
            q = (
                sa.select(RUNS.c.id)
                .where(
                    RUNS.c.sync == sync,
                    RUNS.c.status.not_in(("running", RESET)),  # a reset read no row
                    RUNS.c.dry_run.is_(False),
                    RUNS.c.test_event_code.is_(None),  # a test run settles nothing
                )
                .limit(1)
            )
            return conn.execute(q).first() is not None

    def rejections(
        self, sync: str, limit: int = 1000
    ) -> list[tuple[str, float, list[dict[str, Any]]]]:
        """Up to `limit` rejected rows, by identifier: (identifier, updated_at, reasons)."""
        with self.engine.connect() as conn:
            q = (
                sa.select(LEDGER.c.identifier, LEDGER.c.updated_at, LEDGER.c.reasons)
                .where(LEDGER.c.sync == sync, LEDGER.c.state == REJECTED)
                .order_by(LEDGER.c.identifier)
                .limit(limit)
            )
            return [(i, t, json.loads(r or "[]")) for i, t, r in conn.execute(q)]

    def rejection_summary(self, sync: str, *, examples: int) -> RejectionSummary:
        """Every rejected row of `sync` counted in SQL (however many there are), by reason
        code, with up to `examples` identifiers and one full reason per code."""
        reason = _reason_elements(self.engine.dialect.name)
        where = "l.sync = :sync AND l.state = :state"
        params: dict[str, Any] = {"sync": sync, "state": REJECTED}
        with self.engine.connect() as conn:
            total = conn.execute(
                sa.text(f"SELECT count(*) FROM {LEDGER.name} l WHERE {where}"), params
            ).scalar_one()
            counts = conn.execute(
                sa.text(
                    f"SELECT {reason.code} AS code, count(DISTINCT l.identifier) AS n "
                    f"FROM {LEDGER.name} l, {reason.elements} WHERE {where} "
                    "GROUP BY 1 ORDER BY 2 DESC, 1"
                ),
                params,
            ).all()
            groups = []
            for code, n in counts:
                rows = conn.execute(
                    sa.text(
                        f"SELECT l.identifier, {reason.value} FROM {LEDGER.name} l, "
                        f"{reason.elements} WHERE {where} AND {reason.code} = :code "
                        "ORDER BY l.identifier LIMIT :limit"
                    ),
                    {**params, "code": code, "limit": max(examples, 1)},
                ).all()
                first = json.loads(rows[0][1]) if rows else {"code": code, "message": ""}
                groups.append(
                    ReasonGroup(str(code), int(n), [r[0] for r in rows[:examples]], first)
                )
        return RejectionSummary(int(total), groups)

    def row(self, sync: str, identifier: str) -> LedgerRow | None:
        """The ledger's row of one identifier (`capisync status`), None when it has none."""
        query = sa.select(LEDGER).where(LEDGER.c.sync == sync, LEDGER.c.identifier == identifier)
        with self.engine.connect() as conn:
            found = conn.execute(query).first()
        if found is None:
            return None
        m = found._mapping
        return LedgerRow(
            identifier=m["identifier"],
            state=m["state"],
            event_id=m["event_id"],
            run_id=m["run_id"],
            updated_at=m["updated_at"],
            fbtrace_id=m["fbtrace_id"],
            by_meta=bool(m["by_meta"]),
            reasons=json.loads(m["reasons"] or "[]"),
        )

    def count_states(self, sync: str, chosen: RowChoice) -> dict[str, int]:
        """How many rows of `sync` `chosen` picks, by state (the states with none absent)."""
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for where in chosen.where(sync):
                q = sa.select(LEDGER.c.state, sa.func.count()).where(*where)
                for state, n in conn.execute(q.group_by(LEDGER.c.state)):
                    counts[str(state)] = counts.get(str(state), 0) + int(n)
        return counts

    def chosen_identifiers(self, sync: str, chosen: RowChoice) -> list[str]:
        """The identifiers of the rows `chosen` picks (for the write-back table's delete)."""
        with self.engine.connect() as conn:
            return [
                str(i)
                for where in chosen.where(sync)
                for (i,) in conn.execute(sa.select(LEDGER.c.identifier).where(*where))
            ]

    def forget(
        self, sync: str, chosen: RowChoice, *, now: float, details: dict[str, Any]
    ) -> tuple[dict[str, int], int]:
        """Delete the rows `chosen` picks, so that the next run sends them again (a reset),
        and record the reset in the run history (status "reset", `details` under "reset"),
        in one transaction; call it holding the sync's lock. Returns (rows deleted by state,
        the history's id of the reset). Raises LedgerError."""
        forgotten: dict[str, int] = {}
        with self._tx() as conn:
            for where in chosen.where(sync):
                q = sa.select(LEDGER.c.state, sa.func.count()).where(*where)
                for state, n in conn.execute(q.group_by(LEDGER.c.state)):
                    forgotten[str(state)] = forgotten.get(str(state), 0) + int(n)
                conn.execute(LEDGER.delete().where(*where))
            record = {**details, "forgotten": forgotten, "rows": sum(forgotten.values())}
            result = conn.execute(
                RUNS.insert().values(
                    sync=sync,
                    started_at=now,
                    ended_at=now,
                    status=RESET,
                    dry_run=False,
                    details=json.dumps({"reset": record}),
                )
            )
            key = result.inserted_primary_key
            assert key is not None  # an INSERT of one row always has it
        return forgotten, int(key[0])

    # -- runs -------------------------------------------------------------------------------

    def start_run(
        self, sync: str, *, dry_run: bool, now: float, test_event_code: str | None = None
    ) -> int:
        """Record a new run as running; call it holding the sync's lock (a test run: the
        sync's test lock). Runs of the same kind still marked running were left by a process
        that died (the lock is ours): they are closed as abandoned with the counts the ledger
        holds for them."""
        with self._tx() as conn:
            _close_left_running(conn, sync, test=test_event_code is not None, now=now)
            result = conn.execute(
                RUNS.insert().values(
                    sync=sync,
                    started_at=now,
                    status="running",
                    dry_run=dry_run,
                    test_event_code=test_event_code,
                )
            )
            key = result.inserted_primary_key
            assert key is not None  # an INSERT of one row always has it
            return int(key[0])

    def has_running(self, sync: str) -> bool:
        """Whether a run of the sync (a test run too) is marked running."""
        with self.engine.connect() as conn:
            q = sa.select(RUNS.c.id).where(RUNS.c.sync == sync, RUNS.c.status == "running")
            return conn.execute(q.limit(1)).first() is not None

    def close_abandoned(self, sync: str, *, test: bool, now: float) -> None:
        """Close the sync's runs (test runs, with `test`) still marked running; call it
        holding the matching lock, which proves their process is gone."""
        with self._tx() as conn:
            _close_left_running(conn, sync, test=test, now=now)

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        counts: dict[str, int],
        now: float,
        error: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        values = _count_values(counts)
        with self._tx() as conn:
            conn.execute(
                RUNS.update()
                .where(RUNS.c.id == run_id)
                .values(
                    status=status,
                    ended_at=now,
                    error=error,
                    details=json.dumps(details or {}),
                    **values,
                )
            )

    def run(self, run_id: int) -> RunRecord | None:
        """One run of the history by its id, None when there is none."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(RUNS).where(RUNS.c.id == run_id)).first()
        return None if found is None else _run_record(found._mapping)

    def runs(self, sync: str | None = None, limit: int = 20) -> list[RunRecord]:
        q = sa.select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)
        if sync is not None:
            q = q.where(RUNS.c.sync == sync)
        with self.engine.connect() as conn:
            return [_run_record(row._mapping) for row in conn.execute(q)]

    # -- one run at a time ------------------------------------------------------------------

    def try_lock(self, sync: str, owner: str, now: float) -> str | None:
        """Take the sync's run lock (an OS file lock or a PostgreSQL advisory lock, see
        state/locks.py); None on success, else who holds it and since when, for display."""
        lock = run_lock_for(self.engine, sync)
        try:
            acquired = lock.try_acquire()
        except SQLAlchemyError as exc:
            raise ledger_failure(exc, f"cannot take the lock of sync '{sync}': {exc}") from exc
        if not acquired:
            return self._holder(sync, now)
        self._locks[sync] = lock
        try:
            with self._tx() as conn:  # who holds it, for `runs` and the locked error
                conn.execute(LOCKS.delete().where(LOCKS.c.sync == sync))
                conn.execute(
                    LOCKS.insert().values(sync=sync, owner=owner, acquired_at=now, heartbeat_at=now)
                )
        except BaseException:
            self._locks.pop(sync).release()
            raise
        return None

    def _holder(self, sync: str, now: float) -> str:
        with self.engine.connect() as conn:
            held = conn.execute(sa.select(LOCKS).where(LOCKS.c.sync == sync)).first()
        if held is None:
            return "held by another process"
        m = held._mapping
        since = datetime.fromtimestamp(m["acquired_at"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (
            f"held by {m['owner']} since {since}, last heartbeat "
            f"{max(now - m['heartbeat_at'], 0):.0f} s ago"
        )

    def heartbeat(self, sync: str, owner: str, now: float) -> None:
        """Refresh the holder row (for display), after checking the lock is still ours.

        Raises LedgerUnavailableError when the lock was lost (its PostgreSQL session cut):
        another run may already hold it, so this one must stop."""
        lock = self._locks.get(sync)
        if lock is not None and not lock.still_held():
            raise LedgerUnavailableError(
                f"the lock of sync '{sync}' was lost (its connection to the ledger was cut); "
                "the run stops so that two runs never send at once"
            )
        with self._tx() as conn:
            conn.execute(
                LOCKS.update()
                .where(LOCKS.c.sync == sync, LOCKS.c.owner == owner)
                .values(heartbeat_at=now)
            )

    def unlock(self, sync: str, owner: str) -> None:
        lock = self._locks.pop(sync, None)
        try:
            with self._tx() as conn:
                conn.execute(LOCKS.delete().where(LOCKS.c.sync == sync, LOCKS.c.owner == owner))
        finally:
            if lock is not None:
                lock.release()

    def close(self) -> None:
        for lock in self._locks.values():
            lock.release()
        self._locks.clear()
        self.engine.dispose()


# the ledger is there but busy, or its server cannot be reached now: a later run succeeds
_UNAVAILABLE = re.compile(
    r"(?i)database is locked|database is busy|connection refused|could not connect|"
    r"connection timed out|timeout expired|server closed the connection|"
    r"the database system is (?:starting up|shutting down)|too many connections"
)


def ledger_failure(exc: SQLAlchemyError, message: str) -> LedgerError:
    """The ledger's error as the kind a scheduler acts on: LedgerUnavailableError (try again
    later: a busy SQLite file, a PostgreSQL server down or restarting) or LedgerError (a
    person must act: disk full, read-only file, refused login)."""
    invalidated = isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
    if invalidated or _UNAVAILABLE.search(str(getattr(exc, "orig", exc))):
        return LedgerUnavailableError(message + " (try again later)")
    return LedgerError(message)


def _row(
    sync: str, identifier: str, state: str, run_id: int, now: float, **fields: Any
) -> dict[str, Any]:
    """One ledger row; every column is set, so an upsert clears what an earlier state left."""
    return {
        "sync": sync,
        "identifier": identifier,
        "state": state,
        "run_id": run_id,
        "updated_at": now,
        "event_id": None,
        "fbtrace_id": None,
        "fingerprint": None,
        "by_meta": False,
        "reasons": None,
        **fields,
    }


def _run_record(m: Any) -> RunRecord:
    return RunRecord(
        id=m["id"],
        sync=m["sync"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        status=m["status"],
        dry_run=bool(m["dry_run"]),
        counts={k: int(m[k] or 0) for k in COUNT_FIELDS},
        error=m["error"],
        details=json.loads(m["details"] or "{}"),
        test_event_code=m["test_event_code"],
    )


def _count_values(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: int(counts.get(k, 0)) for k in COUNT_FIELDS}


def _close_left_running(conn: sa.Connection, sync: str, *, test: bool, now: float) -> None:
    kind = RUNS.c.test_event_code.is_not(None) if test else RUNS.c.test_event_code.is_(None)
    left = conn.execute(
        sa.select(RUNS).where(RUNS.c.sync == sync, RUNS.c.status == "running", kind)
    )
    for row in left.all():
        _close_abandoned(conn, row._mapping, now)


def _close_abandoned(conn: sa.Connection, run: Any, now: float) -> None:
    """Close a run whose process died: its states are what the ledger holds for it (its
    progress is flushed with every checkpoint; rows of a ledger made before that are counted
    by run_id), and rows it read but did not record are pending."""
    counts = {k: int(run[k] or 0) for k in COUNT_FIELDS}
    held = conn.execute(
        sa.select(LEDGER.c.state, sa.func.count())
        .where(LEDGER.c.sync == run["sync"], LEDGER.c.run_id == run["id"])
        .group_by(LEDGER.c.state)
    )
    for state, n in held:
        if state in counts:
            counts[state] = max(counts[state], int(n))
    settled = sum(counts[k] for k in END_STATES if k != "pending")
    counts["read"] = max(counts["read"], settled)
    counts["pending"] = counts["read"] - settled
    # it ended, as far as anyone can tell, at its last checkpoint: not when it was found dead
    last = conn.execute(
        sa.select(sa.func.max(LEDGER.c.updated_at)).where(
            LEDGER.c.sync == run["sync"], LEDGER.c.run_id == run["id"]
        )
    ).scalar()
    ended = min(now, max(float(last or run["started_at"]), float(run["started_at"])))
    conn.execute(
        RUNS.update()
        .where(RUNS.c.id == run["id"])
        .values(status="abandoned", ended_at=ended, error=ABANDONED_MESSAGE, **counts)
    )


def create_on_first_use(engine: sa.Engine, table: sa.Table) -> None:
    """Create `table` unless it exists (a table made on first use, so an older ledger gains
    it without a migration). Of two processes creating it at once, the loser's CREATE fails
    (PostgreSQL: a duplicate key in pg_type, an IntegrityError; SQLite: "already exists"):
    the table is there all the same. Raises SQLAlchemyError when it is not."""
    try:
        table.create(engine, checkfirst=True)
    except SQLAlchemyError:
        if not sa.inspect(engine).has_table(table.name, schema=table.schema):
            raise


def _create_tables(engine: sa.Engine) -> None:
    # two processes starting at once may both find a table (or a column) missing; the
    # loser's CREATE or ALTER fails with "already exists", and a second pass sees it
    for attempt in range(3):
        try:
            metadata.create_all(engine)
            add_missing_columns(engine)
            return
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
            if attempt == 2:
                raise
            time.sleep(0.05 * (attempt + 1))


def _driver_errors(engine: sa.Engine) -> tuple[type[Exception], ...]:
    """The driver's own error class (DB-API `Error`), raised by a raw cursor."""
    error = getattr(engine.dialect.dbapi, "Error", None)
    return (error,) if isinstance(error, type) and issubclass(error, Exception) else ()


@functools.lru_cache(maxsize=8)
def _sqlite_lookup(size: int) -> str:
    """SQLite's look-up of `size` identifiers of a sync, as plain SQL (no compiling per
    call: 4,000 look-ups in a 2,000,000-row run spent more time compiling than searching)."""
    columns = ", ".join(c.name for c in _ENTRY_COLUMNS)
    marks = ", ".join("?" * size)
    return f"SELECT {columns} FROM {LEDGER.name} WHERE sync = ? AND identifier IN ({marks})"


def dialect_insert(engine: sa.Engine) -> Any:
    """The ledger dialect's `insert` (PostgreSQL's or SQLite's), which has
    `on_conflict_do_nothing` / `on_conflict_do_update`: for tables beside the ledger's own
    (schedule ticks) as for its rows. Raises ConfigError for another dialect."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert
    # unreachable: Ledger() refuses such a URL before creating an engine (state/dialects.py)
    raise ConfigError([f"state.url: {unsupported_ledger_url(engine.url.render_as_string())}"])


def _sqlite_url(path: Path) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(
            f"cannot create the ledger folder {path.parent} ({exc.strerror}); check "
            "`state.path` in the project file"
        ) from exc
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cur.execute("PRAGMA journal_mode=WAL")  # readers (dashboard, `runs`) never block the run
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file, None when it is gone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _nearly_full(path: Path) -> bool:
    """Whether the disk holding `path` has less than NEARLY_FULL_BYTES free: then SQLite's
    "disk I/O error" (growing the WAL index of a new connection fails: SQLITE_IOERR_SHMSIZE)
    means a full disk, though SQLite does not say SQLITE_FULL."""
    try:
        return shutil.disk_usage(path.parent).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def _read_only_file_system(folder: Path) -> bool:
    """Whether `folder` is on a file system mounted read-only (EROFS), which no chmod fixes."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _read_only_culprit(path: Path) -> str:
    """Which files or folder make the SQLite ledger read-only, and how to fix it. A WAL
    ledger writes three files: state.db, state.db-wal and state.db-shm, and creates the last
    two in the folder: one left read-only (e.g. by a run as another user) fails every write
    even after state.db itself is fixed, so every such file is named at once."""
    if _read_only_file_system(path.parent):
        return (
            f"the file system holding {path.parent} is mounted read-only; set `state.path` "
            "to a writable folder (in a container: a writable volume)"
        )
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    stuck = [str(f) for f in files if f.exists() and not os.access(f, os.W_OK)]
    if stuck:
        which = f"{stuck[0]} is" if len(stuck) == 1 else f"{', '.join(stuck)} are"
        return (
            f"{which} read-only for this user (left by a run as another user?); make "
            f"{'it' if len(stuck) == 1 else 'each'} writable (chmod u+w, or chown to the user "
            "that runs capisync)"
        )
    if not os.access(path.parent, os.W_OK):
        return (
            f"the folder {path.parent} is read-only for this user, and SQLite must create "
            f"{path.name}-wal and {path.name}-shm there; make it writable"
        )
    return "the ledger is read-only (is its file system mounted read-only?)"
