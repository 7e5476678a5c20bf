"""Sources stream a model from a real DuckDB file and a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from capisync.errors import SourceError
from capisync.sources import open_source


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
