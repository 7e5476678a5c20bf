"""DuckDB, the embedded warehouse: a local file opened read-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb

from capisync.errors import SourceError, SourceUnavailableError
from capisync.sources.base import Row
from capisync.sources.messages import describe_model_failure, scrub_message, wrap_model


class DuckDBSource:
    def __init__(self, path: Path, model_sql: str, origin: str = "the model") -> None:
        if not path.is_file():
            raise SourceError(
                f"DuckDB file not found: {path} (check `source.duckdb` in the project file, "
                "or run `capisync init` to create the demo warehouse)"
            )
        self.path = path
        self.model_sql = model_sql
        self.origin = origin
        try:
            # read_only lets a dbt run or another reader hold the same file at the same time
            self._con = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:  # held by a writer (a dbt run): free again soon
            raise SourceUnavailableError(
                f"cannot open DuckDB file {path} now: {scrub_message(exc)}"
            ) from exc
        except duckdb.Error as exc:
            raise SourceError(f"cannot open DuckDB file {path}: {scrub_message(exc)}") from exc

    def columns(self) -> list[str]:
        cursor = self._execute(wrap_model(self.model_sql, limit=0))
        return [d[0] for d in cursor.description or ()]

    def batches(self, size: int, *, limit: int | None = None) -> Iterator[list[Row]]:
        cursor = self._execute(wrap_model(self.model_sql, limit=limit))
        names = [d[0] for d in cursor.description or ()]
        while True:
            try:
                chunk = cursor.fetchmany(size)
            except duckdb.Error as exc:
                raise self._failure("the model failed while streaming rows", exc) from exc
            if not chunk:
                return
            yield [dict(zip(names, values, strict=True)) for values in chunk]

    def close(self) -> None:
        self._con.close()

    def _execute(self, sql: str) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(sql)
        except duckdb.Error as exc:
            raise self._failure(f"the model failed in DuckDB ({self.path.name})", exc) from exc

    def _failure(self, what: str, exc: duckdb.Error) -> SourceError:
        message, line = describe_model_failure(self.model_sql, self.origin, exc)
        return SourceError(f"{what}: {message}", model_line=line)
