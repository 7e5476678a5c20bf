"""The ledger: what each sync sent, rejected or let expire, its runs, and the one-run lock.

SQLite in `.capisync/` by default; any SQLAlchemy URL (PostgreSQL beside the model) works the
same. Every write is one transaction, made after Meta acknowledged a batch, so a crash loses at
most the batches in flight; those are resent with the same event_id on the next run.
Only identifiers, event_ids, hashes, reason codes and Meta's messages are stored: never a raw
customer value, never a token.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from capisync.errors import LedgerError, LedgerUnavailableError
from capisync.state.locks import RunLock, run_lock_for
from capisync.state.schema import COUNT_FIELDS, LEDGER, LOCKS, RUNS, metadata

SENT, REJECTED, EXPIRED, BASELINE = "sent", "rejected", "expired", "baseline"
# states a later run never sends again (a rejected row is re-evaluated every run)
SETTLED = frozenset({SENT, EXPIRED, BASELINE})
_LOOKUP_CHUNK = 900  # below SQLite's bound-parameter limit on old builds


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


class Ledger:
    def __init__(self, location: str) -> None:
        self.location = location
        self._locks: dict[str, RunLock] = {}  # run locks this ledger holds, by sync
        url = location if "://" in location else _sqlite_url(Path(location))
        try:
            self.engine = sa.create_engine(url)
            if self.engine.dialect.name == "sqlite":
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            _create_tables(self.engine)
        except SQLAlchemyError as exc:
            shown = sa.engine.make_url(url).render_as_string(hide_password=True)
            raise ledger_failure(
                exc,
                f"cannot open the ledger at {shown}: {exc.__class__.__name__}: "
                f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}",
            ) from exc

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise ledger_failure(
                exc, f"ledger write failed: {str(getattr(exc, 'orig', exc)).splitlines()[0]}"
            ) from exc

    # -- rows -------------------------------------------------------------------------------

    def lookup(self, sync: str, identifiers: Sequence[str]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        cols = (
            LEDGER.c.identifier,
            LEDGER.c.state,
            LEDGER.c.fingerprint,
            LEDGER.c.by_meta,
            LEDGER.c.reasons,
            LEDGER.c.run_id,
        )
        with self.engine.connect() as conn:
            for start in range(0, len(identifiers), _LOOKUP_CHUNK):
                chunk = identifiers[start : start + _LOOKUP_CHUNK]
                query = sa.select(*cols).where(
                    LEDGER.c.sync == sync, LEDGER.c.identifier.in_(chunk)
                )
                for ident, state, fp, by_meta, reasons, run_id in conn.execute(query):
                    found[ident] = Entry(
                        state, fp, bool(by_meta), json.loads(reasons or "[]"), run_id
                    )
        return found

    def mark_sent(
        self,
        sync: str,
        run_id: int,
        items: Iterable[tuple[str, str]],
        fbtrace_id: str | None,
        now: float,
    ) -> None:
        self._upsert(
            [_row(sync, i, SENT, run_id, now, event_id=e, fbtrace_id=fbtrace_id) for i, e in items]
        )

    def mark_rejected(self, sync: str, run_id: int, items: Iterable[Rejected], now: float) -> None:
        self._upsert(
            [
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
                for r in items
            ]
        )

    def mark(
        self, sync: str, run_id: int, identifiers: Iterable[str], state: str, now: float
    ) -> None:
        self._upsert([_row(sync, i, state, run_id, now) for i in identifiers])

    def _upsert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        insert = _dialect_insert(self.engine)(LEDGER)
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
        with self._tx() as conn:
            conn.execute(stmt, rows)

    def has_history(self, sync: str) -> bool:
        with self.engine.connect() as conn:
            q = (
                sa.select(RUNS.c.id)
                .where(RUNS.c.sync == sync, RUNS.c.status != "running", RUNS.c.dry_run.is_(False))
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

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, sync: str, *, dry_run: bool, now: float) -> int:
        with self._tx() as conn:
            # a run still marked running here was killed: its lock is already ours
            conn.execute(
                RUNS.update()
                .where(RUNS.c.sync == sync, RUNS.c.status == "running")
                .values(
                    status="interrupted",
                    ended_at=now,
                    error="the process stopped before the run finished",
                )
            )
            result = conn.execute(
                RUNS.insert().values(sync=sync, started_at=now, status="running", dry_run=dry_run)
            )
            key = result.inserted_primary_key
            assert key is not None  # an INSERT of one row always has it
            return int(key[0])

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
        values = {k: counts.get(k, 0) for k in COUNT_FIELDS}
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
    )


def _create_tables(engine: sa.Engine) -> None:
    # two processes starting at once may both find a table missing; the loser's CREATE
    # fails with "already exists", and a second pass (checkfirst) then sees the table
    for attempt in range(3):
        try:
            metadata.create_all(engine)
            return
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
            if attempt == 2:
                raise
            time.sleep(0.05 * (attempt + 1))


def _dialect_insert(engine: sa.Engine) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert
    raise LedgerError(f"the ledger supports SQLite and PostgreSQL, not {engine.dialect.name}")


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
    cur.execute("PRAGMA journal_mode=WAL")  # readers (dashboard, `runs`) never block the run
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
