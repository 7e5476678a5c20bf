"""What the project file refuses up front (exit 2) rather than failing later: a ledger URL the
ledger cannot use, a boolean for a number, a bare-number API version, an empty model or
identifier; and a secret written in the file, accepted with a warning naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from capisync.config import load_history, load_project
from capisync.errors import ConfigError

SYNC = """
syncs:
  purchases:
    source: {duckdb: warehouse.duckdb}
    model: %(model)s
    identifier: %(identifier)s
    destination:
      dataset_id: "123"
      access_token: %(token)s
%(extra)s
"""


def project_file(tmp_path: Path, top: str = "", **fields: str) -> Path:
    values = {"model": "models/p.sql", "identifier": "order_id", "token": '"${TOKEN}"'}
    values["extra"] = ""
    values.update(fields)
    path = tmp_path / "capisync.yml"
    path.write_text(top + SYNC % values)
    return path


def refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_project(path, env={"TOKEN": "t0ken-value"})
    assert info.value.exit_code == 2 and str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize(
    "url, backend",
    [
        ("mysql+pymysql://root@127.0.0.1:3306/test", "mysql"),
        ("mariadb+pymysql://root@127.0.0.1/test", "mariadb"),
        ("duckdb:///ledger.duckdb", "duckdb"),
        ("mssql+pyodbc://u:pw@dsn", "mssql"),
        ("snowflake://u:pw@acct/db", "snowflake"),
    ],
)
def test_a_ledger_url_capisync_cannot_use_is_refused_by_both_loaders(
    tmp_path: Path, url: str, backend: str
) -> None:
    path = project_file(tmp_path, top=f"state:\n  url: {url}\n")
    for load in (load_project, load_history):
        with pytest.raises(ConfigError) as info:
            load(path, env={"TOKEN": "t"})
        text = str(info.value)
        assert str(path) in text and "state.url:" in text and f"not {backend}" in text
        assert "SQLite and PostgreSQL" in text and "pw" not in text


def test_a_ledger_url_in_an_env_var_is_checked_after_interpolation(tmp_path: Path) -> None:
    path = project_file(tmp_path, top='state:\n  url: "${LEDGER_URL}"\n')
    with pytest.raises(ConfigError, match="state.url: .*not mysql"):
        load_project(path, env={"TOKEN": "t", "LEDGER_URL": "mysql://u:secretpw@h/db"})
    with pytest.raises(ConfigError, match=r"postgresql://.*not postgres://"):
        load_project(path, env={"TOKEN": "t", "LEDGER_URL": "postgres://u@h/db"})


@pytest.mark.parametrize(
    "url", ["sqlite:///state.db", "postgresql+psycopg://u@h/db", "postgresql://u@h/db"]
)
def test_sqlite_and_postgresql_ledger_urls_are_accepted(tmp_path: Path, url: str) -> None:
    path = project_file(tmp_path, top=f"state:\n  url: {url}\n")
    assert load_project(path, env={"TOKEN": "t"}).state_location() == url


@pytest.mark.parametrize(
    "field, yaml",
    [
        ("batch_size", "batch_size: true"),
        ("concurrency", "concurrency: false"),
        ("max_attempts", "max_attempts: true"),
        ("timeout", "timeout: true"),
        ("max_retry_seconds", "max_retry_seconds: false"),
    ],
)
def test_a_boolean_is_not_a_number(tmp_path: Path, field: str, yaml: str) -> None:
    error = refused(project_file(tmp_path, extra=f"    delivery:\n      {yaml}"))
    assert f"syncs.purchases.delivery.{field}: expected a number, not " in str(error)


@pytest.mark.parametrize(
    "written, wanted", [("27.0", "v27.0"), ("24", "v24.0"), ('"25.0"', "v25.0")]
)
def test_an_api_version_without_its_v_says_how_to_write_it(
    tmp_path: Path, written: str, wanted: str
) -> None:
    path = project_file(tmp_path, token=f'"${{TOKEN}}"\n      api_version: {written}')
    error = refused(path)
    assert f"destination.api_version: write it as {wanted} (in quotes" in str(error)
    assert "valid string" not in str(error)


@pytest.mark.parametrize("field", ["model", "identifier"])
@pytest.mark.parametrize("empty", ['""', '"   "'])
def test_an_empty_model_or_identifier_is_a_config_error(
    tmp_path: Path, field: str, empty: str
) -> None:
    error = refused(project_file(tmp_path, **{field: empty}))
    assert f"syncs.purchases.{field}: is empty: expected " in str(error)


@pytest.mark.parametrize(
    "written, warned",
    [
        ('"EAAB-literal-token"', ["access_token"]),
        ('"${TOKEN}"\n      app_secret: "literal-secret"', ["app_secret"]),
        ('"${TOKEN}"\n      app_secret: "${SECRET:-x}"', []),
        ('"${TOKEN}"', []),
    ],
)
def test_a_secret_written_in_the_file_is_warned_about_by_field_never_by_value(
    tmp_path: Path, written: str, warned: list[str]
) -> None:
    project = load_project(project_file(tmp_path, token=written), env={"TOKEN": "t"})
    assert [w.split(":", 1)[0] for w in project.warnings] == [
        f"syncs.purchases.destination.{field}" for field in warned
    ]
    text = "\n".join(project.warnings)
    assert "literal" not in text and "EAAB" not in text


@pytest.mark.parametrize(
    "top, source, warned",
    [
        ("state:\n  url: postgresql://u:hunter2@h/db\n", "", ["state.url"]),
        ('state:\n  url: "postgresql://u:${PGPASSWORD}@h/db"\n', "", []),
        ("", "postgresql+psycopg://u:hunter2@h:5432/db", ["syncs.purchases.source.url"]),
        ("", "postgresql+psycopg://u:${PW:-x}@h/db", []),
        ("", "postgresql+psycopg://u@h/db", []),
    ],
)
def test_a_password_written_in_a_url_is_warned_about_by_field(
    tmp_path: Path, top: str, source: str, warned: list[str]
) -> None:
    path = project_file(tmp_path, top=top)
    if source:
        path.write_text(
            path.read_text().replace("{duckdb: warehouse.duckdb}", f"{{url: '{source}'}}")
        )
    project = load_project(path, env={"TOKEN": "t", "PGPASSWORD": "pw"})
    assert [w.split(":", 1)[0] for w in project.warnings] == warned
    assert "hunter2" not in "\n".join(project.warnings)
