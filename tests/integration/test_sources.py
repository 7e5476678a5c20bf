"""Sources stream a model from a real DuckDB file, a real PostgreSQL and a real MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pymysql
import pytest
import sqlalchemy as sa

from capisync.errors import SourceError
from capisync.sources import open_source

MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"


@pytest.fixture
def duck(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS id, 'x' || range AS name FROM range(2500)")
    return path


def test_duckdb_streams_in_bounded_batches(duck: Path) -> None:
    source = open_source(
        duckdb_path=duck, url=None, model_sql="select id, name from t order by id;"
    )
    assert source.columns() == ["id", "name"]
    sizes = [len(b) for b in source.batches(1000)]
    assert sizes == [1000, 1000, 500]
    first = next(iter(source.batches(2)))
    assert first == [{"id": 0, "name": "x0"}, {"id": 1, "name": "x1"}]
    assert sum(len(b) for b in source.batches(100, limit=250)) == 250
    source.close()


def test_duckdb_errors_are_clear(duck: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="DuckDB file not found"):
        open_source(duckdb_path=tmp_path / "nope.duckdb", url=None, model_sql="select 1")
    source = open_source(duckdb_path=duck, url=None, model_sql="select nope from t")
    with pytest.raises(SourceError, match="the model failed in DuckDB"):
        source.columns()


def test_postgres_model_with_casts_percent_and_colons(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE orders AS SELECT g AS id, 'a%%' || g AS note "
            "FROM generate_series(1, 1200) g"
        )
    engine.dispose()
    sql = "select id, note, '12:30'::text as t from orders where note like 'a%' order by id"
    source = open_source(duckdb_path=None, url=pg_url, model_sql=sql)
    assert source.columns() == ["id", "note", "t"]
    batches = list(source.batches(500))
    assert [len(b) for b in batches] == [500, 500, 200]
    assert batches[0][0] == {"id": 1, "note": "a%1", "t": "12:30"}
    source.close()


def test_unreachable_warehouse_hides_the_password() -> None:
    source = open_source(
        duckdb_path=None,
        url="postgresql+psycopg://u:hunter2@127.0.0.1:5999/x",
        model_sql="select 1",
    )
    with pytest.raises(SourceError) as info:
        source.columns()
    assert "hunter2" not in str(info.value) and "cannot connect" in str(info.value)


@pytest.fixture
def mariadb_table() -> Iterator[str]:
    """A fresh table in MariaDB's `test` database, dropped afterwards."""
    table = f"orders_{uuid.uuid4().hex[:10]}"
    con = pymysql.connect(host="127.0.0.1", port=3306, user="root", database="test")
    try:
        yield table
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        con.close()


def test_mariadb_model_with_percent_and_colons_streams_in_batches(mariadb_table: str) -> None:
    with (
        pymysql.connect(
            host="127.0.0.1", port=3306, user="root", database="test", autocommit=True
        ) as con,
        con.cursor() as cur,
    ):
        cur.execute(
            f"CREATE TABLE {mariadb_table} AS SELECT seq AS id, CONCAT('a%', seq) AS note "
            "FROM seq_1_to_1200"
        )
    sql = f"select id, note, '12:30' as t from {mariadb_table} where note like 'a%' order by id"
    source = open_source(duckdb_path=None, url=MARIADB, model_sql=sql)
    assert source.columns() == ["id", "note", "t"]
    batches = list(source.batches(500))
    assert [len(b) for b in batches] == [500, 500, 200]
    assert batches[0][0] == {"id": 1, "note": "a%1", "t": "12:30"}
    assert sum(len(b) for b in source.batches(100, limit=250)) == 250
    source.close()


def test_a_mysql_url_without_a_driver_reaches_mariadb_through_pymysql(mariadb_table: str) -> None:
    """`mysql://` (SQLAlchemy's default driver is mysqlclient, not installed) uses PyMySQL."""
    source = open_source(
        duckdb_path=None, url="mysql://root@127.0.0.1:3306/test", model_sql="select 1 as one"
    )
    assert list(source.batches(10)) == [[{"one": 1}]]
    source.close()
