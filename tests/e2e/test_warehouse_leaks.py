"""A model that fails on a customer's value, on each real engine, through `capisync run`:
the e-mail and phone number never reach the terminal or the run history in the ledger, and
the access token never reaches either."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pymysql
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from capisync.cli import app
from capisync.sandbox import SandboxServer

EMAIL, PHONE, TOKEN = "jane.leak@example.com", "+1 650 555 1212", "sandbox-token"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"
ROW = f"SELECT 'o-1' AS order_id, '{EMAIL}' AS email, '{PHONE}' AS phone"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def model(now: str, failing: str, table: str) -> str:
    """A model a mapping accepts (its columns probe fine), failing on the first row read."""
    return (
        f"select order_id, 'Purchase' as event_name, {now} as event_time, 'physical_store' "
        f"as action_source, email, {failing} as n from {table}"
    )


def pg_engine(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    url = request.getfixturevalue("pg_url")
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE people AS {ROW}"))
    return f'{{url: "{url}"}}', model("now()", "cast(email as integer)", "people")


def mariadb_engine(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    table, func = f"people_{suffix}", f"to_int_{suffix}"
    con = pymysql.connect(host="127.0.0.1", port=3306, user="root", database="test")
    with con.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} AS {ROW}")
        cur.execute(f"CREATE FUNCTION {func}(x VARCHAR(200)) RETURNS INT DETERMINISTIC RETURN x")

    def drop() -> None:
        with con.cursor() as cur:
            cur.execute(f"DROP TABLE {table}")
            cur.execute(f"DROP FUNCTION {func}")
        con.close()

    request.addfinalizer(drop)
    return f'{{url: "{MARIADB}"}}', model("now()", f"{func}(email)", table)


def duckdb_engine(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(f"CREATE TABLE people AS {ROW}")
    return "{duckdb: w.duckdb}", model("now()", "cast(email as date)", "people")


def sqlite_engine(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE people AS {ROW}"))
    return f'{{url: "{url}"}}', model("datetime('now')", "json_extract('{}', email)", "people")


@pytest.mark.parametrize(
    "engine", [pg_engine, mariadb_engine, duckdb_engine, sqlite_engine], ids=lambda f: f.__name__
)
def test_a_failing_cast_of_an_email_leaks_nowhere(
    engine: object, request: pytest.FixtureRequest, tmp_path: Path, sandbox: SandboxServer
) -> None:
    source, model = engine(request, tmp_path)  # type: ignore[operator]
    config = tmp_path / "capisync.yml"
    config.write_text(f"""syncs:
  people:
    source: {source}
    model: "{model}"
    identifier: order_id
    destination: {{dataset_id: "5", access_token: {TOKEN}, base_url: "{sandbox.url}"}}
""")
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 6, result.output
    assert "sync 'people': the model failed" in result.output
    history = "\n".join(sqlite3.connect(tmp_path / ".capisync" / "state.db").iterdump())
    assert "failed" in history
    for where in (result.output, history):
        for secret in (EMAIL, "jane.leak", PHONE, "5551212", TOKEN):
            assert secret not in where
