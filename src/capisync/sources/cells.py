"""Warehouse cells as plain Python values, the kinds the builder reads.

Most drivers already return plain values (psycopg, PyMySQL, sqlite3, DuckDB). Others return
their own objects: Databricks' connector goes through pandas, so an ARRAY arrives as a
numpy array and an integer may arrive as a numpy scalar (not an `int`, so the builder would
refuse a numpy `value` and print a numpy array as text); BigQuery's client returns `Row`
objects for nested records. `plain` turns each into the value it stands for:

    numpy / Arrow arrays, tuples   -> list (elements converted too)
    numpy and pandas scalars       -> int, float, bool, str (int64 stays exact)
    pandas.Timestamp               -> datetime (its zone kept);  NaT, pandas.NA -> None
    Row objects (BigQuery, Databricks, anything with keys()/items() or asDict()) -> dict
    dict                           -> dict (values converted too)

Decimals, datetimes, dates, str, int, float and None come back as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

# the values the builder reads as they are: a cell of one of these types is never looked at
_PLAIN: frozenset[type] = frozenset(
    {str, int, float, bool, type(None), Decimal, datetime, date, bytes}
)


def plain(value: object) -> Any:
    """The plain Python value `value` stands for (see the module doc)."""
    cls = type(value)
    if cls in _PLAIN:
        return value
    if cls is list or cls is tuple:
        return [plain(item) for item in value]  # type: ignore[attr-defined]
    if cls is dict:
        return {str(k): plain(v) for k, v in value.items()}  # type: ignore[attr-defined]
    module = cls.__module__.split(".", 1)[0]
    if module == "pandas":
        return _pandas(value)
    if module in ("numpy", "pyarrow"):
        return _array_or_scalar(value)
    as_dict = getattr(value, "asDict", None)  # Databricks' (and Spark's) Row
    if callable(as_dict):
        return {str(k): plain(v) for k, v in as_dict().items()}
    items = getattr(value, "items", None)  # a Mapping, BigQuery's Row
    if callable(items) and hasattr(value, "keys"):
        return {str(k): plain(v) for k, v in items()}
    if isinstance(value, str | int | float | datetime | date | Decimal):
        return value  # a subclass (IntEnum, a driver's str)
    if isinstance(value, Sequence | set | frozenset):
        return [plain(item) for item in value]
    return value  # UUID, ip addresses...: the builder reads them as text


def plain_rows(names: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows of a driver that returns its own objects, as dicts of plain values."""
    return [dict(zip(names, map(plain, row), strict=True)) for row in rows]


def _pandas(value: object) -> Any:
    if type(value).__name__ in ("NaTType", "NAType"):  # pandas.NaT, pandas.NA
        return None
    to_pydatetime = getattr(value, "to_pydatetime", None)  # pandas.Timestamp
    if callable(to_pydatetime):
        return to_pydatetime()
    return _array_or_scalar(value)


def _array_or_scalar(value: object) -> Any:
    for method in ("tolist", "to_pylist", "as_py", "item"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                converted = convert()
            except (TypeError, ValueError):
                continue
            return plain(converted)
    return value
