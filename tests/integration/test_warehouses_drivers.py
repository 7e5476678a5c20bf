"""A warehouse whose dialect or driver is not installed: the error names the missing module,
the exact `pip install 'capisync[...]'` that brings it, the project file and the sync, for
every dialect+driver URL form. A module is made missing by hiding it from `import`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.errors import ConfigError, SourceError
from capisync.sources import open_source
from capisync.sources.drivers import WAREHOUSES, resolve_url

FILE, FIELD = "/srv/capi/capisync.yml", "syncs.orders.source.url"
README = Path(__file__).resolve().parents[2] / "README.md"


def config_error(url: str) -> str:
    with pytest.raises(ConfigError) as info:
        open_source(duckdb_path=None, url=url, model_sql="select 1", field=FIELD, project_file=FILE)
    assert info.value.exit_code == 2
    text = str(info.value)
    assert text.startswith(f"{FILE}: ") and f"- {FIELD}: " in text, text
    return text


@pytest.mark.parametrize(
    "url, hidden, module, extra, other",
    [
        # a URL without a driver uses the one the extra installs, not SQLAlchemy's default
        ("postgresql://u:hunter2@db/x", "psycopg", "psycopg", "postgres", None),
        ("postgresql+psycopg://u:hunter2@db/x", "psycopg", "psycopg", "postgres", None),
        # another driver: its module, the extra's URL form, and the package to keep it
        (
            "postgresql+psycopg2://u:hunter2@db/x",
            "psycopg2",
            "psycopg2",
            "postgres",
            ("postgresql+psycopg://", "pip install psycopg2-binary"),
        ),
        ("mysql://u:hunter2@db/x", "pymysql", "pymysql", "mysql", None),
        (
            "mysql+mysqldb://u:hunter2@db/x",
            "MySQLdb",
            "MySQLdb",
            "mysql",
            ("mysql+pymysql://", "pip install mysqlclient"),
        ),
        ("mariadb+pymysql://u:hunter2@db/x", "pymysql", "pymysql", "mysql", None),
        ("mariadb://u:hunter2@db/x", "pymysql", "pymysql", "mysql", None),
        # a dialect that is a plugin: the plugin's module, or its driver's
        ("snowflake://u:hunter2@acct/db", "snowflake.sqlalchemy", "snowflake.sqlalchemy",
         "snowflake", None),
        ("snowflake://u:hunter2@acct/db", "snowflake.connector", "snowflake.connector",
         "snowflake", None),
        ("bigquery://project/dataset", "sqlalchemy_bigquery", "sqlalchemy_bigquery",
         "bigquery", None),
        ("redshift+redshift_connector://u:hunter2@c:5439/x", "redshift_connector",
         "redshift_connector", "redshift", None),
        ("redshift://u:hunter2@c:5439/x", "sqlalchemy_redshift.dialect", "sqlalchemy_redshift",
         "redshift", None),
        ("databricks://token:hunter2@h?http_path=/sql/1.0/x", "databricks.sqlalchemy",
         "databricks.sqlalchemy", "databricks", None),
    ],
)  # fmt: skip
def test_a_missing_driver_names_its_module_and_the_extra(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    hidden: str,
    module: str,
    extra: str,
    other: tuple[str, str] | None,
) -> None:
    monkeypatch.setitem(sys.modules, hidden, None)  # `import hidden` now fails
    text = config_error(url)
    assert f"needs the Python module '{module}" in text, text  # or a submodule of it
    assert f"`pip install 'capisync[{extra}]'`" in text, text
    assert f"{url.split('://')[0]}://" in text and "hunter2" not in text
    if extra != "postgres":
        assert "postgres" not in text  # a MySQL URL is never told to use PostgreSQL
    if other is not None:
        for hint in other:
            assert hint in text, text


@pytest.mark.parametrize("url", ["nosuch://u:hunter2@h/x", "trino://u:hunter2@h/x"])
def test_an_unknown_dialect_lists_the_warehouses_capisync_installs(url: str) -> None:
    text = config_error(url)
    assert f"{url.split('://')[0]}:// is not a SQLAlchemy dialect installed here" in text
    for warehouse in WAREHOUSES:
        assert f"(capisync[{warehouse.extra}])" in text
    assert "hunter2" not in text


def test_a_known_dialect_with_a_driver_capisync_has_no_extra_for() -> None:
    text = config_error("oracle+oracledb://u:hunter2@h/x")  # oracledb is not installed here
    assert "needs the Python module 'oracledb'" in text and "`pip install oracledb`" in text
    assert "capisync has no extra for oracle" in text and "hunter2" not in text


@pytest.mark.parametrize("url", ["not a url", "postgresql+psycopg//u:hunter2@h/x"])
def test_text_that_is_no_url_says_what_a_url_looks_like(url: str) -> None:
    text = config_error(url)
    assert "not a URL SQLAlchemy can read" in text and "hunter2" not in text


def test_a_url_the_dialect_refuses_is_not_called_unreadable() -> None:
    text = config_error("snowflake://u:hunter2@acct/db?private_key_file=/keys/rsa.p8")
    assert "the snowflake:// dialect refuses this URL" in text
    assert "cannot be set via the URL query string" in text
    assert "not a URL SQLAlchemy can read" not in text and "hunter2" not in text


def test_bigquery_without_credentials_says_so_and_where() -> None:
    with pytest.raises(SourceError) as info:
        open_source(
            duckdb_path=None,
            url="bigquery://my-project/analytics?credentials_path=/nonexistent/key.json",
            model_sql="select 1",
            field=FIELD,
            project_file=FILE,
        )
    assert "cannot open the warehouse at bigquery://" in str(info.value)
    assert f"({FILE}: {FIELD})" in str(info.value) and info.value.exit_code == 6


@pytest.mark.parametrize(
    "url, driver",
    [
        ("postgresql://h/x", "postgresql+psycopg"),
        ("postgresql+psycopg2://h/x", "postgresql+psycopg2"),  # a named driver is kept
        ("mysql://h/x", "mysql+pymysql"),
        ("mariadb://h/x", "mariadb+pymysql"),
        ("redshift://h:5439/x", "redshift+redshift_connector"),
        ("snowflake://a/b", "snowflake"),
        ("bigquery://p/d", "bigquery"),
        ("databricks://h", "databricks"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_a_url_without_a_driver_uses_the_extras(url: str, driver: str) -> None:
    assert resolve_url(url).drivername == driver


@pytest.mark.parametrize("command", ["run", "check"])
def test_run_and_check_name_the_file_the_sync_and_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setitem(sys.modules, "MySQLdb", None)
    config = tmp_path / "capisync.yml"
    config.write_text("""syncs:
  orders:
    source: {url: "mysql+mysqldb://capi:hunter2@127.0.0.1:3306/test"}
    model: select 1 as order_id
    identifier: order_id
    destination: {dataset_id: "5", access_token: t, base_url: "http://127.0.0.1:9"}
""")
    result = CliRunner().invoke(app, [command, "--config", str(config)])
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())  # the terminal wraps long lines
    assert str(config) in output or config.name in output, output
    assert "syncs.orders.source.url" in output and "'MySQLdb'" in output
    assert "pip install 'capisync[mysql]'" in output and "hunter2" not in output


def test_the_readme_gives_every_warehouse_its_extra_and_url() -> None:
    section = README.read_text(encoding="utf-8").split("### Warehouses", 1)[1]
    section = section.split("\n## ", 1)[0].split("\n### ", 1)[0]
    for warehouse in WAREHOUSES:
        assert f"capisync[{warehouse.extra}]" in section, warehouse.extra
        assert warehouse.example in section, warehouse.example
    assert re.search(r"fakesnow", section)
