"""SQL warehouses: the event-time window pushed into the model's query (PostgreSQL).

    SELECT m.* FROM (<model>) m WHERE NOT coalesce(m.<event_time> < <since>, false)

The column's type comes from the driver's description of a LIMIT 0 probe (PostgreSQL type
OIDs): `timestamp` is read in the sync's time zone, `timestamptz` is an instant, `date` a day
in the sync's time zone. Other types and other engines are read whole and judged by the
builder. Settled rows are not left in these warehouses yet (no write-back table): every row
read is looked up in the ledger, in bulk (one query per batch).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from capisync.readplan import Narrowed, ReadPlan, TimeWindow
from capisync.sources.antijoin import quote

# PostgreSQL type OIDs (pg_type): timestamp, timestamptz, date
_PG_NAIVE, _PG_AWARE, _PG_DATE = 1114, 1184, 1082

Execute = Callable[[str], Any]


def narrow(
    execute: Execute, dialect: str, wrapped_model: str, plan: ReadPlan
) -> tuple[str | None, Narrowed]:
    """The narrowed query (None: read the model as it is) and what it leaves out. `execute`
    runs SQL on the source and raises the source's errors."""
    narrowed = Narrowed()
    if dialect != "postgresql" or plan.window is None:
        return None, narrowed
    model = f"({wrapped_model})"
    column = f"m.{quote(plan.window.column)}"
    probe = execute(f"SELECT {column} FROM {model} m LIMIT 0")
    description = probe.cursor.description if probe.cursor is not None else None
    probe.close()
    type_code = getattr(description[0], "type_code", None) if description else None
    old = _older_than(column, plan.window, type_code)
    if old is None:
        return None, narrowed
    narrowed.window = True
    narrowed.too_old = int(execute(f"SELECT count(*) FROM {model} m WHERE {old}").scalar() or 0)
    return f"SELECT m.* FROM {model} m WHERE NOT coalesce({old}, false)", narrowed


def _older_than(column: str, window: TimeWindow, type_code: object) -> str | None:
    local = datetime.fromtimestamp(window.since, ZoneInfo(window.timezone))
    if type_code == _PG_NAIVE:
        return f"{column} < TIMESTAMP '{local.replace(tzinfo=None).isoformat(sep=' ')}'"
    if type_code == _PG_AWARE:
        return f"{column} < TIMESTAMPTZ '{local.isoformat(sep=' ')}'"
    if type_code == _PG_DATE:
        return f"{column} < DATE '{local.date().isoformat()}'"
    return None
