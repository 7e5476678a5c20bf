"""Any warehouse SQLAlchemy reaches (PostgreSQL, MySQL/MariaDB, BigQuery, Snowflake,
Redshift, Databricks, SQLite...), each through the dialect and driver its extra installs
(sources/drivers.py)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from capisync.errors import SourceError, SourceUnavailableError
from capisync.readplan import Narrowed, ReadPlan
from capisync.sources import sqlplan
from capisync.sources.base import Row
from capisync.sources.cells import plain
from capisync.sources.drivers import driver_text, open_engine
from capisync.sources.messages import describe_model_failure, scrub_message, wrap_model

# drivers whose cells are already plain Python values (sources/cells.py): not looked at
_PLAIN_DRIVERS = frozenset({"psycopg", "psycopg2", "pymysql", "mysqldb", "pysqlite"})
# MySQL/MariaDB TIMESTAMP (FIELD_TYPE 7) is stored in UTC and shown in the session's zone:
# the session is set to UTC, and the column's naive values are marked as UTC
_MYSQL_DIALECTS = frozenset({"mysql", "mariadb"})
_MYSQL_TIMESTAMP = 7

# a refused login or a wrong database name: no retry fixes it (PostgreSQL, MySQL/MariaDB)
_REFUSED_LOGIN = re.compile(
    r"(?i)password authentication failed|no pg_hba\.conf entry|role .* does not exist|"
    r"database .* does not exist|access denied|unknown database"
)


class SqlSource:
    """`field` and `project_file` say where the URL was written, for a ConfigError that names
    the file and the sync (`syncs.<name>.source.url`)."""

    def __init__(
        self,
        url: str,
        model_sql: str,
        origin: str = "the model",
        *,
        field: str = "source.url",
        project_file: str | None = None,
    ) -> None:
        self.model_sql = model_sql
        self.origin = origin
        self._query: str | None = None  # the narrowed read (see narrow), else the model
        self._engine = open_engine(url, field=field, project_file=project_file)
        dialect = self._engine.dialect
        self._plain = dialect.driver in _PLAIN_DRIVERS
        self._mysql = dialect.name in _MYSQL_DIALECTS
        if self._mysql:
            sa.event.listen(self._engine, "connect", _mysql_session_in_utc)
        self.display_url = self._engine.url.render_as_string(hide_password=True)
        self._reading: sa.Connection | None = None  # the connection batches() reads with

    def columns(self) -> list[str]:
        with self._connect() as conn:
            result = self._execute(conn, wrap_model(self.model_sql, limit=0))
            return list(result.keys())

    def batches(self, size: int, *, limit: int | None = None) -> Iterator[list[Row]]:
        with self._connect() as conn:
            self._reading = conn
            # server-side cursor: the warehouse hands rows over a batch at a time
            conn = conn.execution_options(stream_results=True, yield_per=size)
            if self._query is None:
                query = wrap_model(self.model_sql, limit=limit)
            else:
                query = self._query if limit is None else f"{self._query} LIMIT {int(limit)}"
            result = self._execute(conn, query)
            utc_columns = self._utc_columns(result)
            try:
                for part in result.mappings().partitions(size):
                    rows = [dict(r) for r in part] if self._plain else _plain_rows(part)
                    for name in utc_columns:
                        _mark_utc(rows, name)
                    yield rows
            except SQLAlchemyError as exc:
                raise self._failure("the model failed while streaming rows", exc) from exc

    def interrupt(self) -> None:
        """Cancel the query batches() runs: the driver's cancel() (psycopg, psycopg2), or
        KILL QUERY from a second connection (MySQL/MariaDB). Other drivers: nothing."""
        conn = self._reading
        if conn is None or conn.closed:
            return
        dbapi: Any = conn.connection.dbapi_connection
        if self._mysql and hasattr(dbapi, "thread_id"):
            with contextlib.suppress(SQLAlchemyError), self._engine.connect() as killer:
                killer.execute(sa.text(f"KILL QUERY {int(dbapi.thread_id())}"))
        elif callable(getattr(dbapi, "cancel", None)):
            with contextlib.suppress(Exception):  # the query may have ended meanwhile
                dbapi.cancel()

    def narrow(self, plan: ReadPlan) -> Narrowed:
        """Read only rows inside the time window from now on (sources/sqlplan.py)."""
        with self._connect() as conn:
            self._query, narrowed = sqlplan.narrow(
                lambda sql: self._execute(conn, sql),
                self._engine.dialect,
                wrap_model(self.model_sql),
                plan,
            )
        return narrowed

    def close(self) -> None:
        self._engine.dispose()

    def _utc_columns(self, result: sa.CursorResult[Any]) -> list[str]:
        """The columns whose naive datetimes are UTC: MySQL/MariaDB TIMESTAMP columns."""
        if not self._mysql:
            return []
        description = result.cursor.description or ()
        return [d[0] for d in description if d[1] == _MYSQL_TIMESTAMP]

    def _connect(self) -> sa.Connection:
        try:
            return self._engine.connect()
        except SQLAlchemyError as exc:
            text = driver_text(exc)
            kind = SourceError if _REFUSED_LOGIN.search(text) else SourceUnavailableError
            raise kind(
                f"cannot connect to the warehouse at {self.display_url}: {scrub_message(text)} "
                "(check `source.url` in the project file and that the server is reachable)"
            ) from exc

    def _execute(self, conn: sa.Connection, sql: str) -> sa.CursorResult[Any]:
        try:
            # text() escapes % for the driver; every colon is made literal so that
            # `::date` or '12:30' in the model is never read as a bind parameter
            return conn.execute(sa.text(sql.replace(":", r"\:")))
        except SQLAlchemyError as exc:
            raise self._failure("the model failed in the warehouse", exc) from exc

    def _failure(self, what: str, exc: SQLAlchemyError) -> SourceError:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return SourceUnavailableError(
                f"{what}: the connection to the warehouse was lost "
                f"({scrub_message(driver_text(exc))}); the next run reads the model again"
            )
        message, line = describe_model_failure(
            self.model_sql, self.origin, driver_text(exc), _statement_position(exc)
        )
        return SourceError(f"{what}: {message}", model_line=line)


def _plain_rows(part: Any) -> list[Row]:
    return [{name: plain(value) for name, value in r.items()} for r in part]


def _mark_utc(rows: list[Row], name: str) -> None:
    for row in rows:
        value = row[name]
        if type(value) is datetime and value.tzinfo is None:
            row[name] = value.replace(tzinfo=UTC)


def _mysql_session_in_utc(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET time_zone = '+00:00'")
    finally:
        cursor.close()


def _statement_position(exc: BaseException) -> int | None:
    """PostgreSQL's 1-based character offset of the error in the query (psycopg, psycopg2)."""
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    position = getattr(diag, "statement_position", None)
    try:
        return int(position) if position else None
    except (TypeError, ValueError):
        return None
