"""DuckDB: read only the rows with work to do, without writing into the user's file.

The settled identifiers are attached to the source's private DuckDB (sources/duckdb.py, where
the user's file is attached read-only) as `capisync_plan`: the settled copy capisync keeps
between runs (state/settled_copy.py, attached read-only), or, without one (a dry run, a copy
that cannot be written), an in-memory database loaded from the ledger. The model is then read
(copied into the spool) as

    SELECT m.* FROM (<model>) m
    WHERE NOT EXISTS (SELECT 1 FROM capisync_plan.settled s WHERE s.identifier = <m.id>)
      AND coalesce(m.<event_time> >= <since>, true)

and the settled rows are counted (by state) in one aggregate over the model, so the run can
report them without reading them. The time window applies to TIMESTAMP (read in the sync's
time zone), TIMESTAMP WITH TIME ZONE and DATE columns; event times of other types (text,
epoch numbers) are read and judged by the builder. The anti-join applies to text and integer
identifiers, whose text in SQL is exactly the ledger's (capi.outcome.identifier_text).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from capisync.errors import SourceError
from capisync.readplan import Narrowed, ReadPlan, TimeWindow

log = logging.getLogger("capisync.sources")

PLAN_DB = "capisync_plan"
LOAD_CHUNK = 100_000
# DuckDB's memory for planning the read (the model's DESCRIBE, the settled rows counted by
# state): the first of sources.duckdb.MEMORY_LIMITS, where the model is then copied; settled
# identifiers loaded into memory (not the settled copy, a file DuckDB spills) come on top
MEMORY_LIMIT_MB = 128
# DuckDB's memory per settled identifier loaded in memory for the anti-join (2,000,000: 48 MB
# ran)
SETTLED_BYTES = 32
THREADS = 2

_TEXT = frozenset({"VARCHAR"})
_INTEGER = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)
_NAIVE = frozenset({"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME"})
_AWARE = frozenset({"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"})

Execute = Callable[[str, list[Any] | None], Any]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def settled_mb(loaded: int) -> int:
    """Megabytes of DuckDB memory `loaded` settled identifiers take (table and hash table)."""
    return loaded * SETTLED_BYTES // 2**20


def narrow(execute: Execute, wrapped_model: str, plan: ReadPlan) -> tuple[str, Narrowed]:
    """The query that reads only rows with work to do, and what it leaves in the warehouse.
    `wrapped_model` is the model as a subquery (sources.messages.wrap_model); `execute` runs
    SQL with parameters on the source's connection and raises the source's errors."""
    model = f"({wrapped_model})"
    types = {r[0]: str(r[1]).upper() for r in execute(f"DESCRIBE {wrapped_model}", None).fetchall()}
    narrowed = Narrowed()
    conditions: list[str] = []
    old: str | None = None
    if plan.window is not None:
        old = _older_than(plan.window, types.get(plan.window.column, ""))
        if old is not None:
            narrowed.window = True
            conditions.append(f"NOT coalesce({old}, false)")
    match = _identifier_match(plan.identifier, types.get(plan.identifier, ""))
    rows: list[tuple[Any, ...]] | None = None
    if match is not None and (plan.settled is not None or plan.settled_copy is not None):
        counted = f"s.state IS NOT NULL OR coalesce({old}, false)" if old else "s.state IS NOT NULL"
        try:
            _attach_settled(execute, plan)
            rows = execute(
                f"SELECT s.state, count(*) FROM {model} m LEFT JOIN {PLAN_DB}.settled s "
                f"ON s.identifier = {match} WHERE {counted} GROUP BY 1",
                None,
            ).fetchall()
        except SourceError as exc:  # out of memory, most likely: the ledger does it all
            log.warning(
                "the settled rows could not be left in DuckDB (%s); every row is read and "
                "checked against the ledger",
                exc,
            )
            _forget_settled(execute)
    if rows is not None:
        narrowed.anti_join = True
        conditions.insert(
            0, f"NOT EXISTS (SELECT 1 FROM {PLAN_DB}.settled s WHERE s.identifier = {match})"
        )
        for state, n in rows:
            if state is None:
                narrowed.too_old = int(n)
            else:
                narrowed.settled[str(state)] = int(n)
    elif old is not None:
        narrowed.too_old = int(
            execute(f"SELECT count(*) FROM {model} m WHERE {old}", None).fetchone()[0]
        )
    if not conditions:
        return f"SELECT m.* FROM {model} m", narrowed
    # a parallel anti-join or filter does not keep the model's order (its ORDER BY; which
    # row of a repeated identifier comes first): number the rows first, read them in that order
    numbered = f"(SELECT *, row_number() OVER () AS {_ROW} FROM {model})"
    return (
        f"SELECT m.* EXCLUDE ({_ROW}) FROM {numbered} m "
        f"WHERE {' AND '.join(conditions)} ORDER BY m.{_ROW}",
        narrowed,
    )


_ROW = "capisync_model_row"  # the model's own row number, kept out of the rows read


def _attach_settled(execute: Execute, plan: ReadPlan) -> None:
    """Attach the settled identifiers as PLAN_DB: the settled copy when the plan has one (a
    file: DuckDB reads and spills it within MEMORY_LIMIT_MB), else loaded from the ledger.
    Raises SourceError."""
    copy = plan.settled_copy() if plan.settled_copy is not None else None
    if copy is None:
        _load_settled(execute, plan)
    else:
        execute(f"ATTACH ? AS {PLAN_DB} (READ_ONLY)", [str(copy)])


def _load_settled(execute: Execute, plan: ReadPlan) -> None:
    """The settled identifiers from the ledger into an attached in-memory database, which
    DuckDB cannot spill: its memory cap grows with them (SETTLED_BYTES a row, the table and
    the anti-join's hash table)."""
    if plan.settled is None:
        raise SourceError("no settled identifiers to anti-join (no copy, no ledger read)")
    execute(f"ATTACH ':memory:' AS {PLAN_DB} (READ_WRITE)", None)
    execute(f"CREATE TABLE {PLAN_DB}.settled (identifier VARCHAR, state VARCHAR)", None)
    loaded = 0
    for chunk in plan.settled():
        for start in range(0, len(chunk), LOAD_CHUNK):
            part = chunk[start : start + LOAD_CHUNK]
            loaded += len(part)
            cap = MEMORY_LIMIT_MB + settled_mb(loaded)
            execute(f"SET memory_limit = '{cap}MB'", None)
            execute(
                f"INSERT INTO {PLAN_DB}.settled SELECT unnest($1::VARCHAR[]), "
                "unnest($2::VARCHAR[])",
                [[i for i, _ in part], [s for _, s in part]],
            )


def _forget_settled(execute: Execute) -> None:
    with contextlib.suppress(SourceError):
        execute(f"DETACH {PLAN_DB}", None)
    execute(f"SET memory_limit = '{MEMORY_LIMIT_MB}MB'", None)


def _identifier_match(column: str, kind: str) -> str | None:
    """The identifier as the ledger writes it, in SQL; None for a type whose text may differ."""
    if kind in _TEXT:
        return f"m.{quote(column)}"
    if kind in _INTEGER:
        return f"CAST(m.{quote(column)} AS VARCHAR)"
    return None


def _older_than(window: TimeWindow, kind: str) -> str | None:
    """SQL true for rows whose event_time is before the window (NULL when it is NULL)."""
    column = f"m.{quote(window.column)}"
    zone = ZoneInfo(window.timezone)
    local = datetime.fromtimestamp(window.since, zone)
    if kind in _NAIVE:
        return f"{column} < TIMESTAMP '{local.replace(tzinfo=None).isoformat(sep=' ')}'"
    if kind in _AWARE:
        return f"{column} < TIMESTAMPTZ '{local.isoformat(sep=' ')}'"
    if kind == "DATE":
        return f"{column} < DATE '{local.date().isoformat()}'"
    return None
