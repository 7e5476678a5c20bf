"""BigQuery, Redshift and Databricks without a server: their SQLAlchemy dialects run as
shipped, and their DB-API `connect` is answered by a stand-in connection whose rows are built
by the driver's own conversion code from what the server sends:

- BigQuery: the REST API's JSON rows with a schema of REPEATED and RECORD fields, through
  google-cloud-bigquery's `_helpers` into its `Row` objects (what its DB-API cursor reads);
- Databricks: an Arrow table of Databricks' types, through databricks-sql-connector's own
  `ResultSet._convert_arrow_table` (pandas: ARRAY becomes a numpy array, BIGINT a nullable
  Int64) into its `Row`;
- Redshift: binary wire values through redshift_connector's own `*_recv` / `*_in` functions
  (SUPER arrives as JSON text).

The rows then go through capisync for real: `run_sync` reads them through the dialect and
capisync's row path and sends to the sandbox, and every value received is checked
(warehouse_types.py). Nothing here reaches a real BigQuery, Redshift or Databricks.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.integration.warehouse_types import (
    BIG,
    CONTENTS,
    CONTENTS_JSON,
    EMAILS,
    PHONES,
    Times,
    run_and_check,
)

from capisync.sandbox import SandboxServer
from capisync.sources.cells import plain

COLUMNS = (
    "order_id", "event_name", "ts_tz", "ts_naive", "day", "value", "currency", "em", "ph",
    "external_id", "content_ids", "contents",
)  # fmt: skip


class StandInCursor:
    """A DB-API cursor: the model's query gets `rows`; a dialect's set-up query gets the
    first of `answers` whose key it contains, or no rows."""

    def __init__(self, rows: list[tuple[Any, ...]], answers: dict[str, Any]) -> None:
        self._rows, self._answers = rows, answers
        self._pending: list[Any] = []
        self.description: list[tuple[Any, ...]] | None = None
        self.rowcount = -1
        self.arraysize = 100

    def execute(self, sql: str, parameters: object = None) -> None:
        if "capisync_model" in sql:
            self.description = [(c, None, None, None, None, None, True) for c in COLUMNS]
            self._pending = [] if "LIMIT 0" in sql else list(self._rows)
            return
        answer = next((v for k, v in self._answers.items() if k in sql.lower()), None)
        self.description = [("answer", None, None, None, None, None, True)] if answer else None
        self._pending = [(answer,)] if answer is not None else []

    def fetchone(self) -> Any:
        return self._pending.pop(0) if self._pending else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        part, self._pending = self._pending[:size], self._pending[size:]
        return part

    def fetchall(self) -> list[Any]:
        part, self._pending = self._pending, []
        return part

    def close(self) -> None:
        pass


class StandInConnection:
    def __init__(self, rows: list[tuple[Any, ...]], answers: dict[str, Any]) -> None:
        self._rows, self._answers = rows, answers
        self.py_types: dict[Any, Any] = {str: None}  # redshift_connector's, set on connect
        self.autocommit = False

    def cursor(self, *args: object, **kwargs: object) -> StandInCursor:
        return StandInCursor(self._rows, self._answers)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def answer_connect(
    monkeypatch: pytest.MonkeyPatch, module: Any, rows: list[Any], answers: dict[str, Any]
) -> None:
    def connect(*args: object, **kwargs: object) -> StandInConnection:
        return StandInConnection(rows, answers)

    monkeypatch.setattr(module, "connect", connect)


# --- BigQuery ---------------------------------------------------------------------------


def bigquery_rows(t: Times) -> list[Any]:
    """One row as BigQuery's REST API sends it (every scalar a string; TIMESTAMP as
    microseconds; REPEATED as a list of {"v": ...}; RECORD as {"f": [...]}), converted by
    google-cloud-bigquery into its Row, then into the tuple its DB-API cursor hands over."""
    from google.cloud.bigquery import SchemaField
    from google.cloud.bigquery._helpers import _row_tuple_from_json
    from google.cloud.bigquery.table import Row

    content = [
        SchemaField("id", "STRING"),
        SchemaField("quantity", "INT64"),
        SchemaField("item_price", "FLOAT64"),
    ]
    schema = [
        SchemaField("order_id", "INT64"),
        SchemaField("event_name", "STRING"),
        SchemaField("ts_tz", "TIMESTAMP"),
        SchemaField("ts_naive", "DATETIME"),
        SchemaField("day", "DATE"),
        SchemaField("value", "NUMERIC"),
        SchemaField("currency", "STRING"),
        SchemaField("em", "STRING", mode="REPEATED"),
        SchemaField("ph", "STRING", mode="REPEATED"),
        SchemaField("external_id", "INT64"),
        SchemaField("content_ids", "INT64", mode="REPEATED"),
        SchemaField("contents", "RECORD", mode="REPEATED", fields=content),
    ]
    micros = int(t.aware.timestamp()) * 1_000_000

    def record(item: dict[str, Any]) -> dict[str, Any]:
        return {"f": [{"v": str(item[f.name])} for f in content]}

    cells = [
        str(BIG), "Purchase", str(micros), t.naive.isoformat(), t.day_text, "1234.56", "EUR",
        [{"v": e} for e in EMAILS], [{"v": p} for p in PHONES], str(BIG),
        [{"v": str(BIG)}, {"v": "42"}], [{"v": record(c)} for c in CONTENTS],
    ]  # fmt: skip
    values = _row_tuple_from_json({"f": [{"v": c} for c in cells]}, schema)
    row = Row(values, {f.name: i for i, f in enumerate(schema)})
    assert row["order_id"] == BIG and isinstance(row["value"], Decimal)
    assert row["contents"][1] == {"id": str(BIG), "quantity": 1, "item_price": 0.5}
    return [tuple(row.values())]


def test_bigquery(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: SandboxServer) -> None:
    import google.cloud.bigquery.dbapi as bq_dbapi
    import sqlalchemy_bigquery._helpers as bq_helpers
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    def client(**kwargs: Any) -> bigquery.Client:
        return bigquery.Client(project="my-project", credentials=AnonymousCredentials())

    monkeypatch.setattr(bq_helpers, "create_bigquery_client", client)
    t = Times.now()
    answer_connect(monkeypatch, bq_dbapi, bigquery_rows(t), {})
    run_and_check(tmp_path, '{url: "bigquery://my-project/analytics"}', sandbox, t)


# --- Databricks -------------------------------------------------------------------------


def databricks_rows(t: Times) -> list[Any]:
    """An Arrow batch of Databricks' types (BIGINT, TIMESTAMP in UTC, TIMESTAMP_NTZ, DATE,
    DECIMAL(12,2), ARRAY<STRING>, ARRAY<BIGINT>, ARRAY<STRUCT<...>>), converted into Rows by
    the connector's own `_convert_arrow_table` (the pandas path it takes by default)."""
    import pyarrow as pa
    from databricks.sql.result_set import ResultSet

    content = pa.struct(
        [("id", pa.string()), ("quantity", pa.int32()), ("item_price", pa.float64())]
    )
    table = pa.table(
        {
            "order_id": pa.array([BIG], pa.int64()),
            "event_name": pa.array(["Purchase"], pa.string()),
            "ts_tz": pa.array([t.aware.astimezone(UTC)], pa.timestamp("us", tz="Etc/UTC")),
            "ts_naive": pa.array([t.naive], pa.timestamp("us")),
            "day": pa.array([t.day], pa.date32()),
            "value": pa.array([Decimal("1234.56")], pa.decimal128(12, 2)),
            "currency": pa.array(["EUR"], pa.string()),
            "em": pa.array([list(EMAILS)], pa.list_(pa.string())),
            "ph": pa.array([list(PHONES)], pa.list_(pa.string())),
            "external_id": pa.array([BIG], pa.int64()),
            "content_ids": pa.array([[BIG, 42]], pa.list_(pa.int64())),
            "contents": pa.array(
                [[{**c, "id": str(c["id"])} for c in CONTENTS]], pa.list_(content)
            ),
        }
    )

    class Connection:
        disable_pandas = False

    class Results:  # the attributes _convert_arrow_table reads
        description = [(c, None, None, None, None, None, True) for c in COLUMNS]
        connection = Connection()

    rows = ResultSet._convert_arrow_table(Results(), table)  # type: ignore[arg-type]
    em = rows[0]["em"]
    assert type(em).__module__ == "numpy" and type(em) is not list  # why capisync converts
    return list(rows)


def test_databricks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: SandboxServer
) -> None:
    import databricks.sql

    t = Times.now()
    answer_connect(monkeypatch, databricks.sql, databricks_rows(t), {})
    url = "databricks://token:not-a-token@dbc-1234.cloud.databricks.com?http_path=/sql/1.0/x"
    run_and_check(tmp_path, f'{{url: "{url}"}}', sandbox, t)


# --- Redshift ---------------------------------------------------------------------------

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def redshift_rows(t: Times) -> list[Any]:
    """Binary wire values as Redshift sends them, decoded by redshift_connector's own
    functions: int8, timestamptz and timestamp (microseconds since 2000-01-01), date (days),
    numeric (text), SUPER (JSON text: Redshift has no array type)."""
    from redshift_connector.utils import type_utils as tu

    def wire(fn: Callable[..., Any], data: bytes) -> Any:
        return fn(data, 0, len(data))

    def micros(moment: datetime) -> bytes:
        delta = moment - _PG_EPOCH
        return struct.pack("!q", (delta.days * 86400 + delta.seconds) * 1_000_000)

    naive_as_utc = t.naive.replace(tzinfo=UTC)
    days = struct.pack("!i", (t.day - _PG_EPOCH.date()).days)
    row = (
        wire(tu.int8_recv, struct.pack("!q", BIG)),
        wire(tu.text_recv, b"Purchase"),
        wire(tu.timestamptz_recv_integer, micros(t.aware)),
        wire(tu.timestamp_recv_integer, micros(naive_as_utc)),
        wire(tu.date_recv_binary, days),
        wire(tu.numeric_in, b"1234.56"),
        wire(tu.text_recv, b"EUR"),
        wire(tu.text_recv, json.dumps(list(EMAILS)).encode()),
        wire(tu.text_recv, json.dumps(list(PHONES)).encode()),
        wire(tu.int8_recv, struct.pack("!q", BIG)),
        wire(tu.text_recv, json.dumps([BIG, 42]).encode()),
        wire(tu.text_recv, CONTENTS_JSON.encode()),
    )
    assert row[0] == BIG and row[2].tzinfo is not None and row[3].tzinfo is None
    return [row]


def test_redshift(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: SandboxServer) -> None:
    import redshift_connector

    t = Times.now()
    version = "PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by GCC 3.4.2, Redshift 1.0.77467"
    answers = {
        "version()": version,
        "current_schema": "public",
        "standard_conforming": "on",
        "isolation level": "read committed",
    }
    answer_connect(monkeypatch, redshift_connector, redshift_rows(t), answers)
    url = "redshift+redshift_connector://capisync:not-a-password@c.x.redshift.amazonaws.com:5439/db"
    run_and_check(tmp_path, f'{{url: "{url}"}}', sandbox, t)


# --- the conversion itself --------------------------------------------------------------


@pytest.mark.parametrize(
    "make, column, expected",
    [
        (databricks_rows, "em", [e for e in EMAILS]),
        (databricks_rows, "content_ids", [BIG, 42]),
        (databricks_rows, "order_id", BIG),
        (bigquery_rows, "contents", [{**c, "id": str(c["id"])} for c in CONTENTS]),
    ],
)
def test_driver_objects_become_plain_values(
    make: Callable[[Times], list[Sequence[Any]]], column: str, expected: Any
) -> None:
    row = make(Times.now())[0]
    value = plain(row[COLUMNS.index(column)])
    assert value == expected
    assert type(value) is type(expected)  # a list, an int: never numpy's, never a float
    if isinstance(value, list):
        assert all(type(v) is type(e) for v, e in zip(value, expected, strict=True))


def _pandas_and_numpy_cells() -> list[tuple[object, object]]:
    import numpy as np
    import pandas as pd

    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return [
        (np.int64(BIG), BIG),  # exact: numpy's int64 is no Python int
        (np.float64(9.99), 9.99),
        (np.bool_(True), True),
        (np.array(["a", "b"], dtype=object), ["a", "b"]),
        (np.array([BIG, 42], dtype=np.int64), [BIG, 42]),
        (pd.array([BIG, None], dtype="Int64")[0], BIG),
        (pd.NA, None),
        (pd.NaT, None),
        (pd.Timestamp(moment), moment),
        ({"k": np.array([1, 2])}, {"k": [1, 2]}),
        ((1, "x"), [1, "x"]),
        (Decimal("1234.56"), Decimal("1234.56")),
    ]


@pytest.mark.parametrize("cell, expected", _pandas_and_numpy_cells())
def test_plain_turns_pandas_and_numpy_cells_into_python_values(
    cell: object, expected: object
) -> None:
    value = plain(cell)
    assert value == expected and type(value) is type(expected)
    if isinstance(value, datetime):
        assert value.tzinfo is not None
