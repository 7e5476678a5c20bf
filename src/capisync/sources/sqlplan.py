"""SQL warehouses: the event-time window pushed into the model's query (PostgreSQL).

    SELECT m.* FROM (<model>) m WHERE NOT coalesce(m.<event_time> < <since>, false)

The column's type comes from the driver's description of a LIMIT 0 probe (PostgreSQL type
OIDs): `timestamp` is read in the sync's time zone, `timestamptz` is an instant, `date` a day
in the sync's time zone. Other types and other engines are read whole and judged by the
builder. With a write-back table (writeback.py), settled rows are left in the warehouse by
an anti-join against it and counted there; without one, every row read is looked up in the
ledger, in bulk (one query per batch).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from capisync.readplan import Narrowed, ReadPlan, TimeWindow
from capisync.sources.antijoin import quote

# PostgreSQL type OIDs (pg_type): timestamp, timestamptz, date; text, varchar; int2/4/8
_PG_NAIVE, _PG_AWARE, _PG_DATE = 1114, 1184, 1082
_PG_TEXT = frozenset({25, 1043})
_PG_INTEGER = frozenset({21, 23, 20})

Execute = Callable[[str], Any]


def narrow(
    execute: Execute, dialect: str, wrapped_model: str, plan: ReadPlan
) -> tuple[str | None, Narrowed]:
    """The narrowed query (None: read the model as it is) and what it leaves out. `execute`
    runs SQL on the source and raises the source's errors."""
    narrowed = Narrowed()
    if dialect != "postgresql" or (plan.window is None and plan.writeback is None):
        return None, narrowed
    model = f"({wrapped_model})"
    ident = f"m.{quote(plan.identifier)}"
    column = f"m.{quote(plan.window.column)}" if plan.window is not None else ident
    probe = execute(f"SELECT {ident}, {column} FROM {model} m LIMIT 0")
    description = probe.cursor.description if probe.cursor is not None else None
    probe.close()
    codes = [getattr(d, "type_code", None) for d in description or ()] + [None, None]
    conditions: list[str] = []
    old = _older_than(column, plan.window, codes[1]) if plan.window is not None else None
    if old is not None:
        narrowed.window = True
        conditions.append(f"NOT coalesce({old}, false)")
    match = _identifier_match(ident, codes[0])
    if plan.writeback is not None and match is not None:
        wb = plan.writeback
        joined = (
            f"w.sync = {_literal(wb.sync)} AND w.ledger_key = {_literal(wb.ledger_key)} "
            f"AND w.identifier = {match}"
        )
        narrowed.anti_join = True
        conditions.insert(0, f"NOT EXISTS (SELECT 1 FROM {wb.table} w WHERE {joined})")
        counted = f"w.state IS NOT NULL OR coalesce({old}, false)" if old else "w.state IS NOT NULL"
        rows = execute(
            f"SELECT w.state, count(*) FROM {model} m LEFT JOIN {wb.table} w ON {joined} "
            f"WHERE {counted} GROUP BY 1"
        ).all()
        for state, n in rows:
            if state is None:
                narrowed.too_old = int(n)
            else:
                narrowed.settled[str(state)] = int(n)
    elif old is not None:
        narrowed.too_old = int(execute(f"SELECT count(*) FROM {model} m WHERE {old}").scalar() or 0)
    if not conditions:
        return None, narrowed
    return f"SELECT m.* FROM {model} m WHERE {' AND '.join(conditions)}", narrowed


def _identifier_match(column: str, type_code: object) -> str | None:
    """The identifier as the ledger writes it (text as is, integers in decimal); None for
    other types, whose text may differ (char(n) pads, numeric keeps its scale...)."""
    if type_code in _PG_TEXT:
        return column
    if type_code in _PG_INTEGER:
        return f"CAST({column} AS text)"
    return None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _older_than(column: str, window: TimeWindow, type_code: object) -> str | None:
    local = datetime.fromtimestamp(window.since, ZoneInfo(window.timezone))
    if type_code == _PG_NAIVE:
        return f"{column} < TIMESTAMP '{local.replace(tzinfo=None).isoformat(sep=' ')}'"
    if type_code == _PG_AWARE:
        return f"{column} < TIMESTAMPTZ '{local.isoformat(sep=' ')}'"
    if type_code == _PG_DATE:
        return f"{column} < DATE '{local.date().isoformat()}'"
    return None
