"""DuckDB, the embedded warehouse: a local file opened read-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb

from capisync.errors import SourceError, SourceUnavailableError
from capisync.readplan import Narrowed, ReadPlan
from capisync.sources import antijoin
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
        self._query: str | None = None  # the narrowed read (see narrow), else the model
        try:
            # read_only lets a dbt run or another reader hold the same file at the same time
            self._con = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as exc:  # held by a writer (a dbt run): free again soon
            raise SourceUnavailableError(
                f"cannot open DuckDB file {path} now: {scrub_message(exc)}"
            ) from exc
        except duckdb.Error as exc:
            raise SourceError(f"cannot open DuckDB file {path}: {scrub_message(exc)}") from exc
        antijoin.limit_memory(self._execute)

    def columns(self) -> list[str]:
        cursor = self._execute(wrap_model(self.model_sql, limit=0))
        return [d[0] for d in cursor.description or ()]

    def batches(self, size: int, *, limit: int | None = None) -> Iterator[list[Row]]:
        query = self._query or wrap_model(self.model_sql)
        cursor = self._execute(query if limit is None else f"{query} LIMIT {int(limit)}")
        names = [d[0] for d in cursor.description or ()]
        while True:
            try:
                chunk = cursor.fetchmany(size)
            except duckdb.Error as exc:
                raise self._failure("the model failed while streaming rows", exc) from exc
            if not chunk:
                return
            yield [dict(zip(names, values, strict=True)) for values in chunk]

    def narrow(self, plan: ReadPlan) -> Narrowed:
        """Read only rows with work to do from now on (sources/antijoin.py)."""
        self._query, narrowed = antijoin.narrow(self._execute, wrap_model(self.model_sql), plan)
        return narrowed

    def close(self) -> None:
        self._con.close()

    def _execute(self, sql: str, params: list[object] | None = None) -> duckdb.DuckDBPyConnection:
        try:
            return self._con.execute(sql, params)
        except duckdb.Error as exc:
            raise self._failure(f"the model failed in DuckDB ({self.path.name})", exc) from exc

    def _failure(self, what: str, exc: duckdb.Error) -> SourceError:
        message, line = describe_model_failure(self.model_sql, self.origin, exc)
        return SourceError(f"{what}: {message}", model_line=line)
