"""The Source protocol and the factory that picks an adapter from a sync's config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from capisync.sources.messages import scrub_message, wrap_model

Row = dict[str, Any]

__all__ = ["Row", "Source", "open_source", "scrub_message", "wrap_model"]


class Source(Protocol):
    """A model's rows, streamed: never more than one batch in memory at a time."""

    def columns(self) -> list[str]: ...

    def batches(self, size: int, *, limit: int | None = None) -> Iterator[list[Row]]: ...

    def close(self) -> None: ...

    def interrupt(self) -> None:
        """Cancel the warehouse query in flight, from another thread (a run being stopped by
        a signal); the reading thread then gets a SourceError. Does nothing when no query
        runs, or when the warehouse offers no way to cancel one."""
        ...


def open_source(
    *,
    duckdb_path: Path | None,
    url: str | None,
    model_sql: str,
    origin: str = "the model",
    field: str = "source.url",
    project_file: str | None = None,
    search_dir: Path | None = None,
) -> Source:
    """`origin` names where the model's SQL comes from (`models/purchases.sql`, or
    `syncs.x.model in capisync.yml`), for errors that point at a line of it; `field`
    (`syncs.x.source.url`) and `project_file` name where the URL is, for a ConfigError (exit
    2) when its dialect or driver is not installed or it is no URL; `search_dir` (the
    project's folder) is where DuckDB looks for a relative CSV/Parquet path after the
    current directory."""
    if duckdb_path is not None:
        from capisync.sources.duckdb import DuckDBSource

        return DuckDBSource(duckdb_path, model_sql, origin, search_dir=search_dir)
    assert url is not None
    from capisync.sources.sql import SqlSource

    return SqlSource(url, model_sql, origin, field=field, project_file=project_file)
