"""Any warehouse SQLAlchemy reaches (Postgres, Redshift, MySQL, Snowflake, BigQuery, ...)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from capisync.errors import ConfigError, SourceError, SourceUnavailableError
from capisync.readplan import Narrowed, ReadPlan
from capisync.sources import sqlplan
from capisync.sources.base import Row
from capisync.sources.messages import describe_model_failure, scrub_message, wrap_model

# a refused login or a wrong database name: no retry fixes it (PostgreSQL, MySQL/MariaDB)
_REFUSED_LOGIN = re.compile(
    r"(?i)password authentication failed|no pg_hba\.conf entry|role .* does not exist|"
    r"database .* does not exist|access denied|unknown database"
)


class SqlSource:
    def __init__(self, url: str, model_sql: str, origin: str = "the model") -> None:
        self.model_sql = model_sql
        self.origin = origin
        self._query: str | None = None  # the narrowed read (see narrow), else the model
        try:
            self._engine = sa.create_engine(url)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise ConfigError(
                [
                    f"source.url: cannot use {_scheme(url)} ({scrub_message(exc)}); expected a "
                    "SQLAlchemy URL such as postgresql+psycopg://user@host/db, with its driver "
                    "installed"
                ]
            ) from exc
        self.display_url = self._engine.url.render_as_string(hide_password=True)

    def columns(self) -> list[str]:
        with self._connect() as conn:
            result = self._execute(conn, wrap_model(self.model_sql, limit=0))
            return list(result.keys())

    def batches(self, size: int, *, limit: int | None = None) -> Iterator[list[Row]]:
        with self._connect() as conn:
            # server-side cursor: the warehouse hands rows over a batch at a time
            conn = conn.execution_options(stream_results=True, yield_per=size)
            query = self._query or wrap_model(self.model_sql)
            query = query if limit is None else f"{query} LIMIT {int(limit)}"
            result = self._execute(conn, query)
            try:
                for part in result.mappings().partitions(size):
                    yield [dict(r) for r in part]
            except SQLAlchemyError as exc:
                raise self._failure("the model failed while streaming rows", exc) from exc

    def narrow(self, plan: ReadPlan) -> Narrowed:
        """Read only rows inside the time window from now on (sources/sqlplan.py)."""
        with self._connect() as conn:
            self._query, narrowed = sqlplan.narrow(
                lambda sql: self._execute(conn, sql),
                self._engine.dialect.name,
                wrap_model(self.model_sql),
                plan,
            )
        return narrowed

    def close(self) -> None:
        self._engine.dispose()

    def _connect(self) -> sa.Connection:
        try:
            return self._engine.connect()
        except SQLAlchemyError as exc:
            text = _driver_text(exc)
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
                f"({scrub_message(_driver_text(exc))}); the next run reads the model again"
            )
        message, line = describe_model_failure(
            self.model_sql, self.origin, _driver_text(exc), _statement_position(exc)
        )
        return SourceError(f"{what}: {message}", model_line=line)


def _driver_text(exc: BaseException) -> str:
    """The driver's own message: PyMySQL's is the tuple (errno, text)."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        return f"{args[1]} (error {args[0]})"
    return str(orig) or type(orig).__name__


def _statement_position(exc: BaseException) -> int | None:
    """PostgreSQL's 1-based character offset of the error in the query (psycopg, psycopg2)."""
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    position = getattr(diag, "statement_position", None)
    try:
        return int(position) if position else None
    except (TypeError, ValueError):
        return None


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] + "://…"
