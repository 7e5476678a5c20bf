"""A ledger URL capisync cannot use is refused when the ledger opens, before any table is
created in that database (and so before any event is sent): on a real MariaDB server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from capisync.errors import ConfigError
from capisync.state import Ledger


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    name = f"ledger_{uuid.uuid4().hex[:8]}"
    con = pymysql.connect(host="127.0.0.1", port=3306, user="root")
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP DATABASE {name}")
        con.close()


def tables(database: str) -> list[str]:
    con = pymysql.connect(host="127.0.0.1", port=3306, user="root", database=database)
    try:
        with con.cursor() as cur:
            cur.execute("SHOW TABLES")
            return [row[0] for row in cur.fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize("driver", ["mysql+pymysql", "mariadb+pymysql", "mysql"])
def test_a_mariadb_ledger_is_refused_before_any_table_is_created(
    mariadb_database: str, driver: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Ledger(f"{driver}://root@127.0.0.1:3306/{mariadb_database}")
    assert info.value.exit_code == 2
    assert "state.url: the ledger supports SQLite and PostgreSQL only" in str(info.value)
    assert tables(mariadb_database) == []


def test_a_duckdb_ledger_is_refused_before_the_file_is_created(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not duckdb"):
        Ledger(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    assert list(tmp_path.iterdir()) == []


def test_sqlite_and_postgresql_ledgers_still_open(tmp_path: Path, pg_url: str) -> None:
    for location in (str(tmp_path / "state.db"), f"sqlite:///{tmp_path / 'b.db'}", pg_url):
        ledger = Ledger(location)
        ledger.close()
