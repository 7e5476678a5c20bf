"""DuckDB, the embedded warehouse: the user's file is held only while the model is read.

DuckDB lets one process write a file, or many processes read it, never both at once
(https://duckdb.org/docs/stable/connect/concurrency). A dbt run writing the same file as a
capisync run reading it would fail, so capisync never keeps the user's file open while it
sends. Each read:

1. attaches the user's file READ_ONLY to a private in-memory DuckDB, under the name DuckDB
   itself would give it (its file name without extension: `warehouse.duckdb` is
   `warehouse`), and makes it the default catalog, so the model sees what `duckdb
   warehouse.duckdb` shows;
2. copies the model's rows, in DuckDB, into a spool file capisync owns (in a
   `capisync-spool-*` folder of the system temporary folder, `TMPDIR`): Parquet, or a
   DuckDB file when a column is a HUGEINT (which Parquet would store as a DOUBLE). DuckDB
   does it within MEMORY_LIMITS, spilling to that folder if needed;
3. detaches the user's file: from here on a writer (dbt) can take it;
4. streams the spool in batches of `size` rows while the run sends; the spool is deleted when
   the source is closed.

narrow() (sources/antijoin.py) makes the copied query the model narrowed to the rows with
work to do: the settled identifiers are attached to the private DuckDB (the settled copy
capisync keeps between runs, state/settled_copy.py, or an in-memory database loaded from the
ledger; never the user's file), and the copy reads the model through an anti-join against
them, within the event-time window. Like the user's file, the settled copy is attached only
while the plan and the copy run, so that the run can refresh it once it is done.

A file held by a writer (a `dbt build` in progress) is waited for, up to `wait_seconds`,
with one warning on the `capisync.sources` logger; past that the run fails with
SourceUnavailableError (exit 75: try again later).

Relative file paths inside the model (`FROM 'orders.parquet'`, `read_csv_auto('x.csv')`) are
looked up as DuckDB does with `file_search_path`: first in the current directory, then in
`search_dir` (the project file's folder).
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import duckdb

from capisync.errors import SourceError, SourceUnavailableError
from capisync.locking import LOCK_STALE_AFTER
from capisync.readplan import Narrowed, ReadPlan
from capisync.sources import antijoin
from capisync.sources.base import Row
from capisync.sources.messages import describe_model_failure, scrub_message, wrap_model

log = logging.getLogger("capisync.sources")

# how long a read waits for a writer (dbt) to let go of the file: the sync's own lock is not
# refreshed while the model's columns are read, so the wait stays well under its staleness
LOCK_WAIT_SECONDS = LOCK_STALE_AFTER / 2
_FIRST_RETRY, _MAX_RETRY = 0.05, 2.0  # seconds between attempts, doubling
# DuckDB's memory for the model and the spool (it spills to the spool folder past it), the
# next one tried when a model does not fit. Measured on 2,000,000 18-column rows: peak RSS
# ~185-200 MB at 200,000 and at 2,000,000 rows with 128MB, 600-700 MB with no limit; 64MB runs
# out of memory copying that plain table. The settled identifiers narrow() loaded for the
# anti-join come on top of each (antijoin.settled_mb).
MEMORY_LIMITS = (f"{antijoin.MEMORY_LIMIT_MB}MB", "512MB", "2GB")
_SIZE = re.compile(r"^\s*(\d+)\s*(MB|GB)\s*$", re.IGNORECASE)
# DuckDB's own words when another process holds a conflicting lock on the file
_LOCKED = ("Could not set lock on file", "Conflicting lock is held")


class DuckDBSource:
    """`path`: the user's DuckDB file; `search_dir`: where relative file paths in the model
    resolve after the current directory (None: the current directory only). `sleep` and
    `monotonic` are the clock of the wait for a writer (tests pass their own)."""

    def __init__(
        self,
        path: Path,
        model_sql: str,
        origin: str = "the model",
        *,
        search_dir: Path | None = None,
        wait_seconds: float = LOCK_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not path.is_file():
            raise SourceError(
                f"DuckDB file not found: {path} (check `source.duckdb` in the project file, "
                "or run `capisync init` to create the demo warehouse)"
            )
        self.path = path
        self.model_sql = model_sql
        self.origin = origin
        self.search_dir = search_dir
        self.wait_seconds = wait_seconds
        self._sleep, self._monotonic = sleep, monotonic
        self._spool_dir: Path | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._spools = count()
        self._query: str | None = None  # the narrowed read (see narrow), else the model
        self._settled_mb = 0  # DuckDB memory the settled identifiers of narrow() take
        self._settled_copy: str | None = None  # the settled copy's file the narrowed read joins
        self.held_seconds: list[float] = []  # how long each read held the user's file
        self._held_since = 0.0

    def columns(self) -> list[str]:
        con = self._connection()
        catalog = self._attach(con)
        try:
            cursor = self._execute(con, wrap_model(self.model_sql, limit=0))
            return [d[0] for d in cursor.description or ()]
        finally:
            self._detach(con, catalog)

    def batches(self, size: int, *, limit: int | None = None) -> Iterator[list[Row]]:
        """The model's rows, `size` at a time. The first batch costs the copy of the whole
        model into the spool (the only time the user's file is held); memory stays bounded
        by `size` rows and MEMORY_LIMITS, whatever the model's size."""
        con = self._connection()
        assert self._spool_dir is not None
        number = next(self._spools)
        catalog = self._attach(con)
        try:
            if self._settled_copy is not None:
                self._execute(
                    con, f"ATTACH ? AS {antijoin.PLAN_DB} (READ_ONLY)", [self._settled_copy]
                )
            if self._query is None:
                model = wrap_model(self.model_sql, limit)
            else:
                model = self._query if limit is None else f"{self._query} LIMIT {int(limit)}"
            if _parquet_keeps(self._execute(con, f"DESCRIBE {model}").fetchall()):
                parquet = _literal(self._spool_dir / f"model-{number}.parquet")
                self._copy(con, f"COPY ({model}) TO {parquet} (FORMAT parquet)")
                spool = f"read_parquet({parquet})"
            else:  # exact, about 2x slower to write: a DuckDB file of the spool's own
                spool = f"spool_{number}.main.model"
                con.execute(
                    f"ATTACH ? AS spool_{number}",
                    [str(self._spool_dir / f"model-{number}.duckdb")],
                )
                self._copy(con, f"CREATE OR REPLACE TABLE {spool} AS {model}")
        finally:
            if self._settled_copy is not None:
                con.execute(f"DETACH DATABASE IF EXISTS {antijoin.PLAN_DB}")
            self._detach(con, catalog)
        yield from self._stream(con.cursor(), spool, number, size)

    def narrow(self, plan: ReadPlan) -> Narrowed:
        """Read only rows with work to do from now on (sources/antijoin.py): the narrowed
        query is what batches() copies into the spool. The settled identifiers go into an
        in-memory database attached to the private DuckDB; the user's file is only read."""
        con = self._connection()
        con.execute("SET memory_limit = ?", [f"{antijoin.MEMORY_LIMIT_MB}MB"])
        catalog = self._attach(con)
        try:
            self._query, narrowed = antijoin.narrow(
                lambda sql, params: self._execute(con, sql, params),
                wrap_model(self.model_sql),
                plan,
            )
            if narrowed.anti_join:
                attached = self._execute(
                    con,
                    "SELECT path FROM duckdb_databases() WHERE database_name = ?",
                    [antijoin.PLAN_DB],
                ).fetchone()
                if attached is not None and attached[0]:  # a file: held only while read
                    self._settled_copy = str(attached[0])
                    con.execute(f"DETACH {antijoin.PLAN_DB}")
                else:  # in memory: it stays, and takes its memory on top of the model's
                    loaded = self._execute(
                        con, f"SELECT count(*) FROM {antijoin.PLAN_DB}.settled"
                    ).fetchone()
                    self._settled_mb = antijoin.settled_mb(int(loaded[0]) if loaded else 0)
        finally:
            self._detach(con, catalog)
        return narrowed

    def interrupt(self) -> None:
        """Cancel the statement the connection runs (the model's copy into the spool)."""
        if self._con is not None:
            self._con.interrupt()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._spool_dir is not None:
            self._remove_spool()
            self._spool_dir = None

    # -- the user's file, held only while a statement reads it ------------------------------

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """The private in-memory DuckDB, its temporary files and spools in a folder of its own
        (created on first use, deleted by close())."""
        if self._con is None:
            self._spool_dir = Path(tempfile.mkdtemp(prefix="capisync-spool-"))
            # a source dropped without close(), or still open at exit, leaves no spool behind
            self._remove_spool = weakref.finalize(
                self, shutil.rmtree, self._spool_dir, ignore_errors=True
            )
            con = duckdb.connect(":memory:")
            con.execute("SET temp_directory = ?", [str(self._spool_dir / "tmp")])
            con.execute("SET preserve_insertion_order = true")  # the model's ORDER BY holds
            con.execute("SET enable_progress_bar = false")  # DuckDB would draw on the terminal
            con.execute(f"SET threads = {antijoin.THREADS}")
            if self.search_dir is not None:
                con.execute("SET file_search_path = ?", [str(self.search_dir)])
            self._con = con
        return self._con

    def _attach(self, con: duckdb.DuckDBPyConnection) -> str:
        """Attach the user's file read-only as the default catalog, waiting for a writer to
        let go of it; return the catalog's name. Raises SourceUnavailableError when the
        file stays held past `wait_seconds`, SourceError when it cannot be read at all."""
        deadline, delay, warned = self._monotonic() + self.wait_seconds, _FIRST_RETRY, False
        before = _catalogs(con)
        while True:
            try:
                con.execute("ATTACH ? (READ_ONLY)", [str(self.path)])
                break
            except duckdb.IOException as exc:
                if not any(marker in str(exc) for marker in _LOCKED):
                    raise SourceError(
                        f"cannot open DuckDB file {self.path}: {scrub_message(exc)}"
                    ) from exc
                if self._monotonic() >= deadline:
                    raise SourceUnavailableError(
                        f"DuckDB file {self.path} is held by another process writing it (a dbt "
                        f"run?) and was not released within {self.wait_seconds:.0f} s; the next "
                        "run reads it again (DuckDB lets one process write a file, or several "
                        "read it, not both)"
                    ) from exc
                if not warned:
                    log.warning(
                        "DuckDB file %s is held by another process writing it (a dbt run?): "
                        "waiting up to %.0f s for it to finish",
                        self.path,
                        self.wait_seconds,
                    )
                    warned = True
                self._sleep(delay)
                delay = min(delay * 2, _MAX_RETRY)
            except duckdb.Error as exc:
                raise SourceError(
                    f"cannot open DuckDB file {self.path}: {scrub_message(exc)}"
                ) from exc
        self._held_since = self._monotonic()
        (catalog,) = _catalogs(con) - before  # the name DuckDB gave it
        con.execute(f"USE {_quote(catalog)}")
        return catalog

    def _detach(self, con: duckdb.DuckDBPyConnection, catalog: str) -> None:
        con.execute("USE memory")
        con.execute(f"DETACH {_quote(catalog)}")
        self.held_seconds.append(self._monotonic() - self._held_since)

    # -- the spool, streamed while the run sends ---------------------------------------------

    def _stream(
        self, cursor: duckdb.DuckDBPyConnection, spool: str, number: int, size: int
    ) -> Iterator[list[Row]]:
        try:
            try:
                cursor.execute(f"SELECT * FROM {spool}")
            except duckdb.Error as exc:
                raise self._failure("the model failed while streaming rows", exc) from exc
            names = [d[0] for d in cursor.description or ()]
            while True:
                try:
                    chunk = cursor.fetchmany(size)
                except duckdb.Error as exc:
                    raise self._failure("the model failed while streaming rows", exc) from exc
                if not chunk:
                    return
                yield [dict(zip(names, values, strict=True)) for values in chunk]
        finally:
            cursor.close()
            if self._con is not None and not spool.startswith("read_parquet"):
                self._con.execute(f"DETACH spool_{number}")
            if self._spool_dir is not None:
                for file in self._spool_dir.glob(f"model-{number}.*"):
                    file.unlink(missing_ok=True)

    def _copy(self, con: duckdb.DuckDBPyConnection, sql: str) -> None:
        """Run the copy within the smallest of MEMORY_LIMITS it fits in: a model that needs
        more memory than the first (a big join or sort) is copied again with the next, which
        then stays for streaming the spool."""
        for limit in MEMORY_LIMITS:
            con.execute("SET memory_limit = ?", [_plus(limit, self._settled_mb)])
            try:
                self._execute(con, sql)
                break
            except SourceError as exc:
                if not isinstance(exc.__cause__, duckdb.OutOfMemoryException):
                    raise
                if limit == MEMORY_LIMITS[-1]:
                    raise
                log.warning(
                    "the model needs more memory than %s in DuckDB: copying it again with more",
                    limit,
                )

    def _execute(
        self, con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
    ) -> duckdb.DuckDBPyConnection:
        try:
            return con.execute(sql, params)
        except duckdb.Error as exc:
            raise self._failure(f"the model failed in DuckDB ({self.path.name})", exc) from exc

    def _failure(self, what: str, exc: duckdb.Error) -> SourceError:
        message, line = describe_model_failure(self.model_sql, self.origin, exc)
        return SourceError(f"{what}: {message}", model_line=line)


def _catalogs(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        str(row[0])
        for row in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    }


def _parquet_keeps(described: list[tuple[object, ...]]) -> bool:
    """Whether Parquet keeps every column of the model exactly (DESCRIBE's rows: name, type,
    ...). DuckDB writes a HUGEINT (what `sum()` of a BIGINT returns) as a DOUBLE."""
    return not any("HUGEINT" in str(row[1]) for row in described)


def _plus(limit: str, extra_mb: int) -> str:
    """A DuckDB memory limit ("128MB", "2GB") raised by `extra_mb` megabytes."""
    size = _SIZE.match(limit)
    if extra_mb <= 0 or size is None:
        return limit
    mb = int(size.group(1)) * (1024 if size.group(2).upper() == "GB" else 1)
    return f"{mb + extra_mb}MB"


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
