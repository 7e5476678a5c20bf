"""Warehouse types arrive right, end to end on the real engines here: a table holding every
type (warehouse_types.py) in PostgreSQL, MariaDB, DuckDB and SQLite, two real runs into the
sandbox, every value of the events it received checked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pymysql
import pytest
import sqlalchemy as sa
from tests.integration.warehouse_types import (
    BIG,
    CONTENTS_JSON,
    EMAILS,
    PHONES,
    Times,
    run_and_check,
)

from capisync.sandbox import SandboxServer


def mariadb_connect(database: str | None = None) -> pymysql.Connection:
    return pymysql.connect(
        host="127.0.0.1", port=3306, user="root", database=database, autocommit=True
    )


def array(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def json_array(values: tuple[str, ...] | tuple[int, ...]) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"


def test_postgresql(pg_url: str, tmp_path: Path, sandbox: SandboxServer) -> None:
    t = Times.now()
    with sa.create_engine(pg_url).begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE conversions (order_id bigint, event_name text, ts_tz timestamptz, "
            "ts_naive timestamp, day date, value numeric(12,2), currency text, em text[], "
            "ph text[], external_id bigint, content_ids bigint[], contents jsonb)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO conversions VALUES ({BIG}, 'Purchase', '{t.aware_text}', "
            f"'{t.naive_text}', '{t.day_text}', 1234.56, 'EUR', ARRAY{array(EMAILS)}, "
            f"ARRAY{array(PHONES)}, {BIG}, ARRAY[{BIG}, 42]::bigint[], '{CONTENTS_JSON}')"
        )
    run_and_check(tmp_path, f'{{url: "{pg_url}"}}', sandbox, t)


@pytest.fixture
def mariadb_db() -> Iterator[str]:
    """A fresh MariaDB database, dropped afterwards."""
    name = f"capi_{uuid.uuid4().hex[:10]}"
    con = mariadb_connect()
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP DATABASE {name}")
        con.close()


def test_mariadb(mariadb_db: str, tmp_path: Path, sandbox: SandboxServer) -> None:
    """No arrays in MySQL/MariaDB: JSON columns hold them. TIMESTAMP is written here from a
    session at +05:00: stored in UTC, it must arrive as the same instant whatever the
    session's zone and the sync's `timezone:` (America/New_York)."""
    t = Times.now()
    con = mariadb_connect(mariadb_db)
    local = t.aware.astimezone(ZoneInfo("Etc/GMT-5")).replace(tzinfo=None)  # +05:00
    with con.cursor() as cur:
        cur.execute("SET time_zone = '+05:00'")
        cur.execute(
            "CREATE TABLE conversions (order_id BIGINT, event_name VARCHAR(20), "
            "ts_tz TIMESTAMP NULL, ts_naive DATETIME, day DATE, value DECIMAL(12,2), "
            "currency CHAR(3), em JSON, ph JSON, external_id BIGINT, content_ids JSON, "
            "contents JSON)"
        )
        cur.execute(
            "INSERT INTO conversions VALUES (%s, 'Purchase', %s, %s, %s, 1234.56, 'EUR', "
            "%s, %s, %s, %s, %s)",
            (
                BIG,
                local.isoformat(sep=" "),
                t.naive_text,
                t.day_text,
                json_array(EMAILS),
                json_array(PHONES),
                BIG,
                json_array((BIG, 42)),
                CONTENTS_JSON,
            ),
        )
    con.close()
    url = f"mysql+pymysql://root@127.0.0.1:3306/{mariadb_db}"
    run_and_check(tmp_path, f'{{url: "{url}"}}', sandbox, t)


def test_duckdb(tmp_path: Path, sandbox: SandboxServer) -> None:
    """DuckDB lists for the arrays, a list of STRUCTs for contents."""
    t = Times.now()
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(
            "CREATE TABLE conversions (order_id BIGINT, event_name VARCHAR, "
            "ts_tz TIMESTAMPTZ, ts_naive TIMESTAMP, day DATE, value DECIMAL(12,2), "
            "currency VARCHAR, em VARCHAR[], ph VARCHAR[], external_id BIGINT, "
            "content_ids BIGINT[], "
            "contents STRUCT(id VARCHAR, quantity INTEGER, item_price DOUBLE)[])"
        )
        con.execute(
            f"INSERT INTO conversions VALUES ({BIG}, 'Purchase', '{t.aware_text}', "
            f"'{t.naive_text}', '{t.day_text}', 1234.56, 'EUR', {array(EMAILS)}, "
            f"{array(PHONES)}, {BIG}, [{BIG}, 42], "
            f"[{{'id': 'sku-1', 'quantity': 2, 'item_price': 9.99}}, "
            f"{{'id': '{BIG}', 'quantity': 1, 'item_price': 0.5}}])"
        )
    run_and_check(tmp_path, "{duckdb: w.duckdb}", sandbox, t)


def test_sqlite(tmp_path: Path, sandbox: SandboxServer) -> None:
    """SQLite has no time or array types: ISO text with an offset, JSON-array text."""
    t = Times.now()
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with sa.create_engine(url).begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE conversions (order_id INTEGER, event_name TEXT, ts_tz TEXT, "
            "ts_naive TEXT, day TEXT, value NUMERIC, currency TEXT, em TEXT, ph TEXT, "
            "external_id INTEGER, content_ids TEXT, contents TEXT)"
        )
        conn.exec_driver_sql(
            "INSERT INTO conversions VALUES (?, 'Purchase', ?, ?, ?, 1234.56, 'EUR', ?, ?, ?, "
            "?, ?)",
            (
                BIG,
                t.aware.isoformat(),
                t.naive.isoformat(),
                t.day_text,
                json_array(EMAILS),
                json_array(PHONES),
                BIG,
                json_array((BIG, 42)),
                CONTENTS_JSON,
            ),
        )
    run_and_check(tmp_path, f'{{url: "{url}"}}', sandbox, t)
