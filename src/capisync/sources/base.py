"""The Source protocol and the factory that picks an adapter from a sync's config."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

Row = dict[str, Any]


class Source(Protocol):
    """A model's rows, streamed: never more than one batch in memory at a time."""

    def columns(self) -> list[str]: ...

    def batches(self, size: int, *, limit: int | None = None) -> Iterator[list[Row]]: ...

    def close(self) -> None: ...


_QUOTED = re.compile(r"'(?:[^']|'')*'")


def scrub_literals(message: object) -> str:
    """A warehouse's error text without its quoted values: a failed cast quotes the cell
    ("Could not convert string 'jane@example.com' to INT32"), and that must not reach a
    terminal, a log or the run history. Identifiers ("double quoted") stay."""
    return _QUOTED.sub("'…'", str(message))


def wrap_model(sql: str, limit: int | None = None) -> str:
    """The model as a subquery, so a LIMIT or a column probe never edits the user's SQL."""
    body = sql.strip().rstrip(";").strip()
    # the model starts on the first line, so a warehouse's "LINE n" points into the user's SQL
    wrapped = f"SELECT * FROM ({body}\n) AS capisync_model"
    return wrapped if limit is None else f"{wrapped} LIMIT {int(limit)}"


def open_source(*, duckdb_path: Path | None, url: str | None, model_sql: str) -> Source:
    if duckdb_path is not None:
        from capisync.sources.duckdb import DuckDBSource

        return DuckDBSource(duckdb_path, model_sql)
    assert url is not None
    from capisync.sources.sql import SqlSource

    return SqlSource(url, model_sql)
