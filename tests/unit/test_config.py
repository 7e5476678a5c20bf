"""The project file: every problem reported at once, env interpolation, secrets kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from capisync.config import load_project
from capisync.errors import ConfigError

GOOD = """
syncs:
  purchases:
    source: {duckdb: warehouse.duckdb}
    model: models/purchases.sql
    identifier: order_id
    destination:
      dataset_id: "${DATASET:-123}"
      access_token: "${TOKEN}"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "capisync.yml"
    path.write_text(text)
    return path


def test_env_references_and_defaults(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, GOOD), env={"TOKEN": "s3cret-token"})
    dest = project.sync("purchases").destination
    assert dest.dataset_id == "123"
    assert dest.access_token.get_secret_value() == "s3cret-token"
    assert "s3cret" not in repr(project.config) and "s3cret" not in str(dest)
    assert dest.base_url == "https://graph.facebook.com"
    assert dest.api_version is None  # the newest current version on the day of the call
    assert project.resolve("warehouse.duckdb") == tmp_path / "warehouse.duckdb"


def test_every_problem_at_once_with_file_sync_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
syncs:
  purchases:
    source: {duckdb: w.duckdb, url: "postgresql://x"}
    model: select 1
    identifer: id
    destination: {dataset_id: abc, access_token: "${MISSING}", api_version: "25"}
    first_run: sometimes
""",
    )
    with pytest.raises(ConfigError) as info:
        load_project(path, env={})
    problems = info.value.problems
    text = str(info.value)
    assert str(path) in text
    assert any(
        "syncs.purchases.destination.access_token" in p and "MISSING is not set" in p
        for p in problems
    )
    assert any("syncs.purchases.source" in p and "exactly one" in p for p in problems)
    assert any("syncs.purchases.identifier: required" in p for p in problems)
    assert any("identifer" in p and "did you mean 'identifier'" in p for p in problems)
    assert any("dataset_id" in p and "numeric dataset ID" in p for p in problems)
    assert any("api_version" in p for p in problems)
    assert any("first_run" in p and "backfill" in p for p in problems)
    assert len(problems) == 7


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "syncs:\n  a: [1, 2\n  b: 3\n")
    with pytest.raises(ConfigError) as info:
        load_project(path, env={})
    assert "line" in str(info.value) and info.value.exit_code == 2


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="capisync init"):
        load_project(tmp_path / "nope.yml", env={})


def test_model_file_is_read_relative_to_project(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "purchases.sql").write_text("select 1 as order_id")
    project = load_project(write(tmp_path, GOOD), env={"TOKEN": "t"})
    assert project.model_sql("purchases") == "select 1 as order_id"


def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, GOOD), env={"TOKEN": "t"})
    with pytest.raises(ConfigError, match="models/purchases.sql' not found"):
        project.model_sql("purchases")


def test_unknown_sync_lists_known_ones(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, GOOD), env={"TOKEN": "t"})
    with pytest.raises(ConfigError, match="the file defines: purchases"):
        project.sync("leads")
