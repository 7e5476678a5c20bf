"""SQL warehouses: the event-time window pushed into the model's query (PostgreSQL,
MySQL/MariaDB).

    SELECT m.* FROM (<model>) m WHERE NOT coalesce(m.<event_time> < <since>, false)

The column's type comes from the driver's description of a LIMIT 0 probe (PostgreSQL type
OIDs, MySQL field types): `timestamp` (MySQL DATETIME) is read in the sync's time zone,
`timestamptz` is an instant (and so is a MySQL TIMESTAMP, shown in the session's UTC,
sources/sql.py), `date` a day in the sync's time zone. Other types and other engines are read
whole and judged by the builder. With a write-back table (writeback.py), settled rows are
left in the warehouse by an anti-join against it and counted there; without one, every row
read is looked up in the ledger, in bulk (one query per batch).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from capisync.readplan import Narrowed, ReadPlan, TimeWindow
from capisync.sources.writeback import MYSQL_DIALECTS, binary_collation

# PostgreSQL type OIDs (pg_type): timestamp, timestamptz, date; text, varchar; int2/4/8
_PG_NAIVE, _PG_AWARE, _PG_DATE = 1114, 1184, 1082
_PG_TEXT = frozenset({25, 1043})
_PG_INTEGER = frozenset({21, 23, 20})
# MySQL field types (pymysql.constants.FIELD_TYPE): DATETIME, TIMESTAMP, DATE and NEWDATE;
# VARCHAR, VAR_STRING; TINY, SHORT, LONG, LONGLONG, INT24
_MY_NAIVE, _MY_UTC, _MY_DATE = frozenset({12}), frozenset({7}), frozenset({10, 14})
_MY_TEXT = frozenset({15, 253})
_MY_INTEGER = frozenset({1, 2, 3, 8, 9})
# Snowflake's connector type codes (FIELD_ID): TIMESTAMP_NTZ; TIMESTAMP_TZ and _LTZ; DATE;
# TEXT; FIXED (NUMBER, an integer when its scale is 0)
_SF_NAIVE, _SF_AWARE, _SF_DATE = frozenset({8}), frozenset({6, 7}), frozenset({3})
_SF_TEXT, _SF_FIXED = 2, 0
_FAMILIES = ("postgresql", "mysql", "snowflake")

Execute = Callable[[str], Any]


def narrow(
    execute: Execute, dialect: sa.Dialect, wrapped_model: str, plan: ReadPlan
) -> tuple[str | None, Narrowed]:
    """The narrowed query (None: read the model as it is) and what it leaves out. `execute`
    runs SQL on the source and raises the source's errors."""
    narrowed = Narrowed()
    family = "mysql" if dialect.name in MYSQL_DIALECTS else dialect.name
    if family not in _FAMILIES or (plan.window is None and plan.writeback is None):
        return None, narrowed
    my = family != "postgresql"  # MySQL and Snowflake read backslash escapes in literals
    model = f"({wrapped_model})"
    q = dialect.identifier_preparer.quote
    ident = f"m.{q(plan.identifier)}"
    column = f"m.{q(plan.window.column)}" if plan.window is not None else ident
    probe = execute(f"SELECT {ident}, {column} FROM {model} m LIMIT 0")
    description = probe.cursor.description if probe.cursor is not None else None
    probe.close()
    # DB-API: (name, type_code, display_size, internal_size, precision, scale, null_ok)
    described = [tuple(d) for d in description or ()] + [(), ()]
    codes = [d[1] if len(d) > 1 else None for d in described]
    conditions: list[str] = []
    old = _older_than(column, plan.window, codes[1], family) if plan.window is not None else None
    if old is not None:
        narrowed.window = True
        conditions.append(f"NOT coalesce({old}, false)")
    if family == "mysql":
        match = _mysql_match(ident, codes[0], dialect)
    elif family == "snowflake":
        match = _snowflake_match(ident, described[0])
    else:
        match = _identifier_match(ident, codes[0])
    if plan.writeback is not None and match is not None:
        wb = plan.writeback
        joined = (
            f"w.sync = {_literal(wb.sync, my)} AND w.ledger_key = {_literal(wb.ledger_key, my)} "
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


def _mysql_match(column: str, type_code: object, dialect: sa.Dialect) -> str | None:
    """The identifier as the ledger writes it, in the write-back table's byte-for-byte
    collation (writeback.binary_collation), so its primary key serves the anti-join."""
    if type_code in _MY_TEXT:
        text = column
    elif type_code in _MY_INTEGER:
        text = f"CAST({column} AS CHAR)"
    else:
        return None
    return f"CONVERT({text} USING utf8mb4) COLLATE {binary_collation(dialect)}"


def _snowflake_match(column: str, described: tuple[object, ...]) -> str | None:
    """Text as is, an integer NUMBER (scale 0) in decimal; None for other types."""
    code, scale = (described[1], described[5]) if len(described) > 5 else (None, None)
    if code == _SF_TEXT:
        return column
    if code == _SF_FIXED and scale == 0:
        return f"CAST({column} AS VARCHAR)"
    return None


def _literal(text: str, mysql: bool = False) -> str:
    if mysql:  # MySQL and Snowflake read backslash escapes inside literals
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"


def _older_than(
    column: str, window: TimeWindow, type_code: object, family: str = "postgresql"
) -> str | None:
    local = datetime.fromtimestamp(window.since, ZoneInfo(window.timezone))
    naive = f"TIMESTAMP '{local.replace(tzinfo=None).isoformat(sep=' ')}'"
    day = f"DATE '{local.date().isoformat()}'"
    if family == "snowflake":
        if type_code in _SF_NAIVE:
            return f"{column} < '{local.replace(tzinfo=None).isoformat(sep=' ')}'::TIMESTAMP_NTZ"
        if type_code in _SF_AWARE:
            return f"{column} < '{local.isoformat(sep=' ')}'::TIMESTAMP_TZ"
        return f"{column} < {day}" if type_code in _SF_DATE else None
    if family == "mysql":
        utc = datetime.fromtimestamp(window.since, UTC).replace(tzinfo=None)
        if type_code in _MY_NAIVE:
            return f"{column} < {naive}"
        if type_code in _MY_UTC:
            return f"{column} < TIMESTAMP '{utc.isoformat(sep=' ')}'"
        return f"{column} < {day}" if type_code in _MY_DATE else None
    if type_code == _PG_NAIVE:
        return f"{column} < {naive}"
    if type_code == _PG_AWARE:
        return f"{column} < TIMESTAMPTZ '{local.isoformat(sep=' ')}'"
    if type_code == _PG_DATE:
        return f"{column} < {day}"
    return None
