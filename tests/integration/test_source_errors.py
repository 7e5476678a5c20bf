"""A failing cast of an e-mail address, on real engines: the message names the sync's model
and line and never the value (PostgreSQL, MariaDB, DuckDB, SQLite), and a model's SQL error
points at the user's own line, not at capisync's wrapper query."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pymysql
import pytest
import sqlalchemy as sa

from capisync.errors import SourceError, SourceUnavailableError
from capisync.sources import Source, open_source

EMAIL = "someone@example.com"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"
ORIGIN = "models/people.sql"


def failure(source: Source) -> SourceError:
    with pytest.raises(SourceError) as info:
        for _ in source.batches(100):
            pass
    source.close()
    return info.value


def assert_no_value(error: SourceError) -> None:
    text = str(error)
    assert EMAIL not in text and "someone" not in text and "example.com" not in text, text


@pytest.fixture
def pg_people(pg_url: str) -> str:
    with sa.create_engine(pg_url).begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE people AS SELECT 1 AS id, '{EMAIL}' AS email"))
    return pg_url


@pytest.fixture
def mariadb() -> Iterator[tuple[str, str]]:
    """A table and a strict stored cast in MariaDB's `test` database, dropped afterwards.
    MariaDB's CAST only warns in a SELECT; in a stored function, strict mode makes the same
    conversion an error that quotes the value: the way a model fails on MariaDB."""
    suffix = uuid.uuid4().hex[:8]
    table, func = f"people_{suffix}", f"to_int_{suffix}"
    con = pymysql.connect(host="127.0.0.1", port=3306, user="root", database="test")
    with con.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} AS SELECT 1 AS id, '{EMAIL}' AS email")
        cur.execute(f"CREATE FUNCTION {func}(x VARCHAR(200)) RETURNS INT DETERMINISTIC RETURN x")
    try:
        yield table, func
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
            cur.execute(f"DROP FUNCTION {func}")
        con.close()


def test_postgresql_double_quoted_value_is_scrubbed(pg_people: str) -> None:
    model = "select id,\n  cast(email as integer) as n\nfrom people"
    error = failure(open_source(duckdb_path=None, url=pg_people, model_sql=model, origin=ORIGIN))
    assert_no_value(error)
    assert 'invalid input syntax for type integer: "…"' in str(error)
    assert error.exit_code == 6 and not error.retryable


def test_postgresql_points_at_the_models_line(pg_people: str) -> None:
    model = "select id,\n  email,\n  emial\nfrom people"
    error = failure(open_source(duckdb_path=None, url=pg_people, model_sql=model, origin=ORIGIN))
    assert 'column "emial" does not exist' in str(error)
    assert f"({ORIGIN}, line 3)" in str(error) and error.model_line == 3
    model = "select id,\n  email,\nfrom people"  # a trailing comma before FROM
    error = failure(open_source(duckdb_path=None, url=pg_people, model_sql=model, origin=ORIGIN))
    assert error.model_line == 3 and "capisync_model" not in str(error)
    model = "select id,\n  email,\n"  # unfinished: the error lands in the wrapper
    error = failure(open_source(duckdb_path=None, url=pg_people, model_sql=model, origin=ORIGIN))
    assert "capisync_model" not in str(error) and "LINE" not in str(error)
    assert f"at the end of {ORIGIN}, line 2" in str(error)


def test_mariadb_value_is_scrubbed_and_syntax_points_at_the_models_line(
    mariadb: tuple[str, str],
) -> None:
    table, func = mariadb
    model = f"select id, {func}(email) as n from {table}"
    error = failure(open_source(duckdb_path=None, url=MARIADB, model_sql=model, origin=ORIGIN))
    assert_no_value(error)
    assert "Incorrect integer value: '…'" in str(error)
    model = f"select id,\n  email\n  from {table} where\n"
    error = failure(open_source(duckdb_path=None, url=MARIADB, model_sql=model, origin=ORIGIN))
    assert "capisync_model" not in str(error) and error.model_line == 3
    model = f"select id,\n  emial\nfrom {table}"
    error = failure(open_source(duckdb_path=None, url=MARIADB, model_sql=model, origin=ORIGIN))
    assert "Unknown column 'emial'" in str(error)


@pytest.mark.parametrize(
    "cast, shown, where",
    [
        ("cast(email as integer)", "Could not convert string '…' to INT32", ", line 2)"),
        ("cast(email as date)", 'invalid date field format: "…"', ", line 2)"),  # double quotes
        # the value alone on the message's next line; no line reference from DuckDB here
        ("strptime(email, '%Y')", 'Could not parse string "…"', ")"),
        ("cast(email as json)", "Malformed JSON", ", line 2)"),
    ],
)
def test_duckdb_value_is_scrubbed(tmp_path: Path, cast: str, shown: str, where: str) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE people AS SELECT 1 AS id, '{EMAIL}' AS email")
    model = f"select id,\n  {cast} as n\nfrom people"
    error = failure(open_source(duckdb_path=path, url=None, model_sql=model, origin=ORIGIN))
    assert_no_value(error)
    assert shown in str(error) and str(error).endswith(f"{ORIGIN}{where}")


def test_sqlite_value_is_scrubbed(tmp_path: Path) -> None:
    # SQLite casts never fail; its JSON functions quote the value they choke on
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE people AS SELECT 1 AS id, '{EMAIL}' AS email"))
    model = "select id,\n  json_extract('{}', email) as n\nfrom people"
    error = failure(open_source(duckdb_path=None, url=url, model_sql=model, origin=ORIGIN))
    assert_no_value(error)
    assert "JSON path error near '…'" in str(error) and f"(in {ORIGIN})" in str(error)


@pytest.mark.parametrize(
    "url, kind, code",
    [
        ("postgresql+psycopg://postgres@127.0.0.1:1/test", SourceUnavailableError, 75),
        ("mysql+pymysql://root@127.0.0.1:1/test", SourceUnavailableError, 75),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/no_such_db", SourceError, 6),
        ("mysql+pymysql://nobody_here@127.0.0.1:3306/test", SourceError, 6),
    ],
)
def test_unreachable_is_try_again_later_and_a_refused_login_is_not(
    url: str, kind: type[SourceError], code: int
) -> None:
    source = open_source(duckdb_path=None, url=url, model_sql="select 1", origin=ORIGIN)
    with pytest.raises(SourceError) as info:
        source.columns()
    assert type(info.value) is kind and info.value.exit_code == code
