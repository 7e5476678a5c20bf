"""The write-back table: the identifiers a sync settled, beside the model, in its warehouse.

`writeback: {schema: capisync}` makes capisync keep `capisync.capisync_settled` in the
model's own database (PostgreSQL), one row per settled identifier:

    sync, identifier, state (sent | expired | baseline), event_id, run_id, settled_at,
    fbtrace_id (Meta's trace id of the request that carried it), ledger_key

It is written after each ledger checkpoint, and it is the per-row sync log users can query
from their warehouse. The model is then read through an anti-join against it (sqlplan.py), so
only new rows and rows to evaluate again leave the database. The ledger stays the source of
truth: a row the write-back lacks (it lags, it was dropped, a write failed) is read and looked
up in the ledger, which costs time, never a duplicate. `ledger_key` names the ledger that
settled the row (its first run of the sync): rows written for a ledger since deleted are not
trusted by the anti-join.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from capisync.errors import ConfigError, SourceError
from capisync.sources.messages import scrub_message

TABLE = "capisync_settled"
_DELETE_CHUNK = 10_000  # identifiers per DELETE (one array parameter)
log = logging.getLogger("capisync.writeback")

# (identifier, state, event_id, fbtrace_id)
SettledRow = tuple[str, str, str | None, str | None]


class Writeback:
    """The write-back table of one sync. Writes never raise: a failure is logged once and
    the write-back stops for the rest of the run (the ledger has the rows)."""

    def __init__(self, url: str, schema: str, sync: str, ledger_key: str) -> None:
        self.schema, self.sync, self.ledger_key = schema, sync, ledger_key
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name != "postgresql":
            self.engine.dispose()
            raise ConfigError(
                [
                    f"syncs.{sync}.writeback: the write-back table is supported on PostgreSQL "
                    f"models, not {self.engine.dialect.name}; remove `writeback:` (every row "
                    "read is then checked against the ledger in bulk)"
                ]
            )
        self.table = f'"{schema}".{TABLE}'
        self.working = True

    def ensure(self) -> bool:
        """Create the schema and table when missing; False (logged) when it cannot."""
        return self._run(
            "create the write-back table",
            [
                f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"',
                f"CREATE TABLE IF NOT EXISTS {self.table} (sync text NOT NULL, "
                "identifier text NOT NULL, state text NOT NULL, event_id text, run_id integer, "
                "settled_at timestamptz NOT NULL, fbtrace_id text, ledger_key text NOT NULL, "
                "PRIMARY KEY (sync, identifier))",
                # fresh statistics for the anti-join: without them a table just filled looks
                # empty, and PostgreSQL plans a scan of it per model row (20 s at 20,000)
                f"ANALYZE {self.table}",
            ],
        )

    def has_rows(self) -> bool:
        """Whether the table holds rows of this sync and ledger. Without any, there is nothing
        to anti-join: and a join planned against an empty table would scan it for each model
        row while this run fills it (invisible rows are still read)."""
        query = sa.text(
            f"SELECT EXISTS (SELECT 1 FROM {self.table} WHERE sync = :sync AND ledger_key = :key)"
        )
        try:
            with self.engine.connect() as conn:
                return bool(
                    conn.execute(query, {"sync": self.sync, "key": self.ledger_key}).scalar()
                )
        except SQLAlchemyError as exc:
            self._failed("read the write-back table", exc)
            return False

    def write(self, rows: Sequence[SettledRow], run_id: int, now: float) -> None:
        if not rows or not self.working:
            return
        at = datetime.fromtimestamp(now, UTC)
        params = [
            {
                "sync": self.sync,
                "identifier": ident,
                "state": state,
                "event_id": event_id,
                "run_id": run_id,
                "at": at,
                "trace": trace,
                "key": self.ledger_key,
            }
            for ident, state, event_id, trace in rows
        ]
        statement = sa.text(
            f"INSERT INTO {self.table} (sync, identifier, state, event_id, run_id, settled_at, "
            "fbtrace_id, ledger_key) VALUES (:sync, :identifier, :state, :event_id, :run_id, "
            ":at, :trace, :key) ON CONFLICT (sync, identifier) DO UPDATE SET "
            "state = excluded.state, event_id = excluded.event_id, run_id = excluded.run_id, "
            "settled_at = excluded.settled_at, fbtrace_id = excluded.fbtrace_id, "
            "ledger_key = excluded.ledger_key"
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(statement, params)
        except SQLAlchemyError as exc:
            self._failed("write the write-back table", exc)

    def forget(self, identifiers: Sequence[str] | None) -> int:
        """Delete this sync's rows for `identifiers` (None: all of them), as a reset does,
        so that the anti-join reads those rows again; 0 when the table does not exist.
        Unlike the writes of a run, raises SourceError: a reset that left them here would
        not resend them."""
        try:
            with self.engine.begin() as conn:
                if not sa.inspect(conn).has_table(TABLE, schema=self.schema):
                    return 0
                statement = f"DELETE FROM {self.table} WHERE sync = :sync"
                if identifiers is None:
                    return int(conn.execute(sa.text(statement), {"sync": self.sync}).rowcount)
                deleted = 0
                query = sa.text(statement + " AND identifier = ANY(:ids)")
                for start in range(0, len(identifiers), _DELETE_CHUNK):
                    ids = list(identifiers[start : start + _DELETE_CHUNK])
                    deleted += int(conn.execute(query, {"sync": self.sync, "ids": ids}).rowcount)
                return deleted
        except SQLAlchemyError as exc:
            raise SourceError(
                f"sync '{self.sync}': cannot delete the reset rows from the write-back table "
                f"{self.table} ({scrub_message(getattr(exc, 'orig', exc))}); nothing was "
                "reset: grant DELETE on it (or drop it) and run the reset again"
            ) from exc

    def _run(self, what: str, statements: list[str]) -> bool:
        try:
            with self.engine.begin() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        except SQLAlchemyError as exc:
            self._failed(what, exc)
        return self.working

    def _failed(self, what: str, exc: SQLAlchemyError) -> None:
        self.working = False
        log.warning(
            "sync '%s': cannot %s %s (%s); this run goes on without it: the ledger has every "
            "row, the next runs read more rows until it catches up",
            self.sync,
            what,
            self.table,
            scrub_message(getattr(exc, "orig", exc)),
        )

    def close(self) -> None:
        self.engine.dispose()
