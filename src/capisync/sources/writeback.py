"""The write-back table: the identifiers a sync settled, beside the model, in its warehouse.

`writeback: {schema: capisync}` makes capisync keep `capisync.capisync_settled` in the
model's own database (PostgreSQL, MySQL/MariaDB, Snowflake), one row per settled identifier:

    sync, identifier, state (sent | expired | baseline), event_id, run_id, settled_at,
    fbtrace_id (Meta's trace id of the request that carried it), ledger_key

It is written after each ledger checkpoint, and it is the per-row sync log users can query
from their warehouse. The model is then read through an anti-join against it (sqlplan.py), so
only new rows and rows to evaluate again leave the database. The ledger stays the source of
truth: a row the write-back lacks (it lags, it was dropped, a write failed) is read and looked
up in the ledger, which costs time, never a duplicate. `ledger_key` names the ledger that
settled the row (its first run of the sync): rows written for a ledger since deleted are not
trusted by the anti-join.

On MySQL/MariaDB the schema is a database (`CREATE DATABASE IF NOT EXISTS`), and `sync` and
`identifier` compare byte for byte, trailing spaces included (utf8mb4_nopad_bin on MariaDB,
utf8mb4_0900_bin on MySQL 8): the server's default collations would take `A1` and `a1 ` for
one identifier. On Snowflake, which has no INSERT ... ON CONFLICT (and enforces no primary
key), rows are written with MERGE. Other warehouses (BigQuery, Redshift, Databricks) cannot
keep it yet: `writeback:` there is refused, and every row read is checked against the ledger
in bulk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.exc import SQLAlchemyError

from capisync.capi.outcome import LEDGER_TEXT_CHARS
from capisync.errors import ConfigError, SourceError
from capisync.sources.messages import scrub_message

TABLE = "capisync_settled"
_DELETE_CHUNK = 10_000  # identifiers per DELETE (an IN list of bound parameters)
log = logging.getLogger("capisync.writeback")
# the SQLAlchemy dialects that can keep the table (a MariaDB server may be reached as mysql)
WRITEBACK_DIALECTS = ("postgresql", "mysql", "mariadb", "snowflake")
MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})
_MERGE_ROWS = 1000  # rows per Snowflake MERGE (its parameters are bound client-side)
_UPDATED = ("state", "event_id", "run_id", "settled_at", "fbtrace_id", "ledger_key")
_COLUMNS = ("sync", "identifier", *_UPDATED)

# (identifier, state, event_id, fbtrace_id)
SettledRow = tuple[str, str, str | None, str | None]


class Writeback:
    """The write-back table of one sync. Writes never raise: a failure is logged once and
    the write-back stops for the rest of the run (the ledger has the rows)."""

    def __init__(self, url: str, schema: str, sync: str, ledger_key: str) -> None:
        self.schema, self.sync, self.ledger_key = schema, sync, ledger_key
        self.engine = sa.create_engine(url)
        name = self.engine.dialect.name
        if name not in WRITEBACK_DIALECTS:
            self.engine.dispose()
            raise ConfigError(
                [
                    f"syncs.{sync}.writeback: the write-back table is supported on PostgreSQL, "
                    f"MySQL/MariaDB and Snowflake models, not {name}; remove `writeback:` "
                    "(every row read is then checked against the ledger in bulk)"
                ]
            )
        self.settled = settled_table(schema, self.engine.dialect)
        self.table = self.engine.dialect.identifier_preparer.format_table(self.settled)
        self.working = True

    def ensure(self) -> bool:
        """Create the schema and table when missing; False (logged) when it cannot."""
        # fresh statistics for the anti-join: without them a table just filled looks empty,
        # and PostgreSQL plans a scan of it per model row (20 s at 20,000)
        name = self.engine.dialect.name
        analyze = "ANALYZE TABLE" if name in MYSQL_DIALECTS else "ANALYZE"
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
                # made again now that the dialect knows its server (MariaDB or MySQL)
                settled_table(self.schema, self.engine.dialect).create(conn, checkfirst=True)
                if name != "snowflake":  # Snowflake keeps its statistics itself
                    conn.exec_driver_sql(f"{analyze} {self.table}")
        except SQLAlchemyError as exc:
            self._failed("create the write-back table", exc)
        return self.working

    def has_rows(self) -> bool:
        """Whether the table holds rows of this sync and ledger. Without any, there is nothing
        to anti-join: and a join planned against an empty table would scan it for each model
        row while this run fills it (invisible rows are still read)."""
        t = self.settled.c
        query = sa.select(sa.exists().where(t.sync == self.sync, t.ledger_key == self.ledger_key))
        try:
            with self.engine.connect() as conn:
                return bool(conn.execute(query).scalar())
        except SQLAlchemyError as exc:
            self._failed("read the write-back table", exc)
            return False

    def write(self, rows: Sequence[SettledRow], run_id: int, now: float) -> None:
        if not rows or not self.working:
            return
        at = datetime.fromtimestamp(now, UTC)
        if self.engine.dialect.name in MYSQL_DIALECTS:  # DATETIME: naive, in UTC
            at = at.replace(tzinfo=None)
        params = [
            {
                "sync": self.sync,
                "identifier": ident,
                "state": state,
                "event_id": event_id,
                "run_id": run_id,
                "settled_at": at,
                "fbtrace_id": trace,
                "ledger_key": self.ledger_key,
            }
            for ident, state, event_id, trace in rows
        ]
        try:
            with self.engine.begin() as conn:
                if self.engine.dialect.name == "snowflake":
                    for start in range(0, len(params), _MERGE_ROWS):
                        part = params[start : start + _MERGE_ROWS]
                        conn.execute(_merge(self.table, len(part)), _numbered(part))
                else:
                    conn.execute(self._upsert(), params)
        except SQLAlchemyError as exc:
            self._failed("write the write-back table", exc)

    def _upsert(self) -> Any:
        """INSERT, or UPDATE the row of an identifier already there, in the dialect's words."""
        if self.engine.dialect.name in MYSQL_DIALECTS:
            insert = mysql.insert(self.settled)
            return insert.on_duplicate_key_update({k: insert.inserted[k] for k in _UPDATED})
        pg = postgresql.insert(self.settled)
        return pg.on_conflict_do_update(
            index_elements=["sync", "identifier"], set_={k: pg.excluded[k] for k in _UPDATED}
        )

    def forget(self, identifiers: Sequence[str] | None) -> int:
        """Delete this sync's rows for `identifiers` (None: all of them), as a reset does,
        so that the anti-join reads those rows again; 0 when the table does not exist.
        Unlike the writes of a run, raises SourceError: a reset that left them here would
        not resend them."""
        t = self.settled.c
        try:
            with self.engine.begin() as conn:
                if not sa.inspect(conn).has_table(TABLE, schema=self.schema):
                    return 0
                mine = self.settled.delete().where(t.sync == self.sync)
                if identifiers is None:
                    return int(conn.execute(mine).rowcount)
                deleted = 0
                for start in range(0, len(identifiers), _DELETE_CHUNK):
                    ids = list(identifiers[start : start + _DELETE_CHUNK])
                    deleted += int(conn.execute(mine.where(t.identifier.in_(ids))).rowcount)
                return deleted
        except SQLAlchemyError as exc:
            raise SourceError(
                f"sync '{self.sync}': cannot delete the reset rows from the write-back table "
                f"{self.table} ({scrub_message(getattr(exc, 'orig', exc))}); nothing was "
                "reset: grant DELETE on it (or drop it) and run the reset again"
            ) from exc

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


def _merge(table: str, rows: int) -> sa.TextClause:
    """Snowflake's upsert: a MERGE of `rows` rows given as VALUES (Snowflake has no
    INSERT ... ON CONFLICT; its primary keys are not enforced)."""
    values = ", ".join("(" + ", ".join(f":{k}_{i}" for k in _COLUMNS) + ")" for i in range(rows))
    names = ", ".join(
        f"CAST(column{n + 1} AS TIMESTAMP_TZ) AS {k}"
        if k == "settled_at"
        else f"column{n + 1} AS {k}"
        for n, k in enumerate(_COLUMNS)
    )
    return sa.text(
        f"MERGE INTO {table} t USING (SELECT {names} FROM VALUES {values}) s "
        "ON t.sync = s.sync AND t.identifier = s.identifier "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(f'{k} = s.{k}' for k in _UPDATED)} "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(_COLUMNS)}) "
        f"VALUES ({', '.join(f's.{k}' for k in _COLUMNS)})"
    )


def _numbered(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows' values as the numbered parameters of _merge (times as ISO text)."""
    out: dict[str, Any] = {}
    for i, row in enumerate(rows):
        for k in _COLUMNS:
            value = row[k]
            out[f"{k}_{i}"] = value.isoformat() if isinstance(value, datetime) else value
    return out


def binary_collation(dialect: sa.Dialect) -> str:
    """MySQL/MariaDB's utf8mb4 collation comparing byte for byte, trailing spaces included."""
    return "utf8mb4_nopad_bin" if getattr(dialect, "is_mariadb", False) else "utf8mb4_0900_bin"


def settled_table(schema: str, dialect: sa.Dialect) -> sa.Table:
    """The write-back table in `schema`, its text keys byte for byte on MySQL/MariaDB."""
    key: Any = sa.String
    if dialect.name in MYSQL_DIALECTS:
        binary = binary_collation(dialect)
        key = lambda n: mysql.VARCHAR(n, charset="utf8mb4", collation=binary)  # noqa: E731
    return sa.Table(
        TABLE,
        sa.MetaData(),
        sa.Column("sync", key(200), primary_key=True),
        sa.Column("identifier", key(LEDGER_TEXT_CHARS), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(LEDGER_TEXT_CHARS)),
        sa.Column("run_id", sa.Integer),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fbtrace_id", sa.String(100)),
        sa.Column("ledger_key", sa.String(200), nullable=False),
        schema=schema,
    )
