"""A refused connection on real servers says what is wrong, in the server's own words: the
host, the missing database, the unknown role or user (none of it customer data). Wrong
database and wrong user, on PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest

from capisync.errors import SourceError
from capisync.sources import open_source


@pytest.mark.parametrize(
    "url, said",
    [
        (
            "postgresql+psycopg://postgres@127.0.0.1:5432/no_such_db",
            'connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
            'database "no_such_db" does not exist',
        ),
        (
            "postgresql+psycopg://nobody_here@127.0.0.1:5432/test",
            'connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
            'role "nobody_here" does not exist',
        ),
        ("mysql+pymysql://root@127.0.0.1:3306/no_such_db", "Unknown database 'no_such_db'"),
        (
            "mysql+pymysql://nobody_here@127.0.0.1:3306/test",
            "Access denied for user 'nobody_here'@'",
        ),
        (
            "mysql+pymysql://root@127.0.0.1:1/test",
            "Can't connect to MySQL server on '127.0.0.1'",
        ),
    ],
)
def test_a_refused_connection_names_the_host_database_and_user(url: str, said: str) -> None:
    source = open_source(duckdb_path=None, url=url, model_sql="select 1", origin="m.sql")
    with pytest.raises(SourceError) as info:
        source.columns()
    assert said in str(info.value) and "…" not in str(info.value), str(info.value)
