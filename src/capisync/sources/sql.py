"""Any warehouse SQLAlchemy reaches (Postgres, Redshift, MySQL, Snowflake, BigQuery, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from capisync.errors import ConfigError, SourceError
from capisync.sources.base import Row, scrub_literals, wrap_model


class SqlSource:
    def __init__(self, url: str, model_sql: str) -> None:
        self.model_sql = model_sql
        try:
            self._engine = sa.create_engine(url)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise ConfigError(
                [
                    f"source.url: cannot use {_scheme(url)} ({scrub_literals(exc)}); expected a "
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
            result = self._execute(conn, wrap_model(self.model_sql, limit=limit))
            try:
                for part in result.mappings().partitions(size):
                    yield [dict(r) for r in part]
            except SQLAlchemyError as exc:
                raise SourceError(
                    f"the model failed while streaming rows: {_first_line(exc)}"
                ) from exc

    def close(self) -> None:
        self._engine.dispose()

    def _connect(self) -> sa.Connection:
        try:
            return self._engine.connect()
        except SQLAlchemyError as exc:
            raise SourceError(
                f"cannot connect to the warehouse at {self.display_url}: {_first_line(exc)} "
                "(check `source.url` in the project file and that the server is reachable)"
            ) from exc

    def _execute(self, conn: sa.Connection, sql: str) -> sa.CursorResult[Any]:
        try:
            # text() escapes % for the driver; every colon is made literal so that
            # `::date` or '12:30' in the model is never read as a bind parameter
            return conn.execute(sa.text(sql.replace(":", r"\:")))
        except SQLAlchemyError as exc:
            raise SourceError(f"the model failed in the warehouse: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = scrub_literals(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] + "://…"
