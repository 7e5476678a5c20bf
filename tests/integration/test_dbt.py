"""`model: {dbt: ...}`: a dbt model's relation read from the manifest dbt wrote.

The artifacts in dbt_shop/ were written by dbt-core with dbt-duckdb (see its README); each
test copies the project, dates its files before the manifest (as after a `dbt build`) and
writes a capisync.yml beside it.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.config import load_project
from capisync.errors import ConfigError
from capisync.sandbox import SandboxServer

FIXTURE = Path(__file__).parent / "dbt_shop"
runner = CliRunner()


def generated_at(shop: Path, target: str = "target") -> float:
    manifest = json.loads((shop / target / "manifest.json").read_text())
    return datetime.fromisoformat(manifest["metadata"]["generated_at"]).timestamp()


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The dbt project, its model files last changed an hour before each manifest."""
    root = tmp_path / "shop"
    shutil.copytree(FIXTURE, root)
    before = min(generated_at(root), generated_at(root, "target-prod")) - 3600
    for file in (root / "models").rglob("*"):
        os.utime(file, (before, before))
    return root


def project(
    shop: Path, model: str, *, duckdb_file: str = "shop/warehouse.duckdb", base_url: str = ""
) -> Path:
    config = shop.parent / "capisync.yml"
    base = f', base_url: "{base_url}"' if base_url else ""
    config.write_text(
        f"""syncs:
  orders:
    source: {{duckdb: {duckdb_file}}}
    model: {model}
    identifier: order_id
    destination: {{dataset_id: "4242", access_token: sandbox-token{base}}}
"""
    )
    return config


def sql_of(config: Path) -> str:
    return load_project(config).model_sql("orders")


def failure(config: Path) -> str:
    """The one problem reported, which must name the project file, the sync and the field."""
    with pytest.raises(ConfigError) as err:
        sql_of(config)
    assert err.value.path == str(config) and str(err.value).startswith(str(config))
    (problem,) = err.value.problems
    assert problem.startswith("syncs.orders.model."), problem
    return problem


def test_a_table_model_resolves_to_the_relation_dbt_built(shop: Path) -> None:
    config = project(shop, "{dbt: orders_capi, project_dir: shop}")
    assert sql_of(config) == 'SELECT * FROM "warehouse"."main"."orders_capi"'
    loaded = load_project(config)
    relation = loaded.dbt_relation("orders")
    assert relation.unique_id == "model.shop.orders_capi"  # the root project's, not the package's
    assert relation.materialized == "table"
    assert relation.manifest == shop / "target" / "manifest.json"
    assert loaded.model_file("orders") is None
    assert "dbt model 'orders_capi'" in loaded.model_origin("orders")


def test_alias_custom_schema_package_and_versions_follow_dbt(shop: Path) -> None:
    cases = {
        "{dbt: orders_view, project_dir: shop}": '"warehouse"."main_marts"."orders_v"',
        "{dbt: marketing.orders_capi, project_dir: shop}": (
            '"warehouse"."main_marketing"."orders_capi"'
        ),
        "{dbt: shop.orders_capi, project_dir: shop}": '"warehouse"."main"."orders_capi"',
        "{dbt: dim_customers, project_dir: shop}": '"warehouse"."main"."dim_customers_v2"',
        "{dbt: dim_customers, version: 1, project_dir: shop}": (
            '"warehouse"."main"."dim_customers_v1"'
        ),
        '{dbt: dim_customers, version: "2", project_dir: shop}': (
            '"warehouse"."main"."dim_customers_v2"'
        ),
    }
    for model, relation in cases.items():
        assert sql_of(project(shop, model)) == f"SELECT * FROM {relation}", model


def test_the_target_is_checked_against_the_run_that_wrote_the_manifest(shop: Path) -> None:
    prod = "{dbt: orders_capi, project_dir: shop, target: prod, target_path: target-prod}"
    assert sql_of(project(shop, prod, duckdb_file="shop/prod.duckdb")) == (
        'SELECT * FROM "prod"."analytics"."orders_capi"'
    )
    wrong = "{dbt: orders_capi, project_dir: shop, target: dev, target_path: target-prod}"
    text = failure(project(shop, wrong))
    assert "built for target 'prod', not 'dev'" in text
    assert "dbt compile --target dev" in text
    # `dbt build` without --target built the profile's default target (profiles.yml: dev)
    default = "{dbt: orders_capi, project_dir: shop, target: dev}"
    assert sql_of(project(shop, default)) == 'SELECT * FROM "warehouse"."main"."orders_capi"'
    text = failure(project(shop, "{dbt: orders_capi, project_dir: shop, target: prod}"))
    assert "built for target 'dev', not 'prod'" in text


def test_a_target_that_cannot_be_known_is_not_assumed(shop: Path) -> None:
    profiles = shop / "profiles.yml"
    profiles.write_text(
        profiles.read_text().replace("target: dev", "target: \"{{ env_var('DBT_TARGET') }}\"")
    )
    config = project(shop, "{dbt: orders_capi, project_dir: shop, target: dev}")
    text = failure(config)
    assert "cannot tell which dbt target" in text and "dbt compile --target dev" in text
    (shop / "target" / "run_results.json").unlink()  # `dbt parse` writes no run results
    assert "cannot tell which dbt target" in failure(config)
    # without `target:` nothing is checked
    assert "orders_capi" in sql_of(project(shop, "{dbt: orders_capi, project_dir: shop}"))


def test_target_path_comes_from_dbt_project_yml(shop: Path) -> None:
    project_yml = shop / "dbt_project.yml"
    project_yml.write_text(project_yml.read_text() + "target-path: target-prod\n")
    config = project(shop, "{dbt: orders_capi, project_dir: shop}", duckdb_file="shop/prod.duckdb")
    assert sql_of(config) == 'SELECT * FROM "prod"."analytics"."orders_capi"'


def test_models_that_cannot_be_selected_are_refused_with_the_fix(shop: Path) -> None:
    cases = {
        "stg_orders": ["is ephemeral", "materialized='view'"],
        "old_orders": ["is disabled", "models/old_orders.sql", "enable it"],
        "orders_capl": ["no dbt model 'orders_capl'", "did you mean 'orders_capi'", "dbt compile"],
        "nope.orders_capi": ["no dbt model 'nope.orders_capi'"],
    }
    for name, phrases in cases.items():
        text = failure(project(shop, f"{{dbt: {name}, project_dir: shop}}"))
        assert text.startswith("syncs.orders.model.dbt: "), text
        for phrase in phrases:
            assert phrase in text, (name, text)
    text = failure(project(shop, "{dbt: dim_customers, version: 3, project_dir: shop}"))
    assert "syncs.orders.model.version" in text and "versions: 1, 2" in text


def test_a_name_in_two_packages_and_not_in_the_root_project_is_ambiguous(shop: Path) -> None:
    manifest_path = shop / "target" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    theirs = manifest["nodes"]["model.marketing.orders_capi"]
    for package in ("ads", "crm"):
        node = {**theirs, "name": "leads", "package_name": package}
        manifest["nodes"][f"model.{package}.leads"] = {
            **node,
            "unique_id": f"model.{package}.leads",
        }
    manifest_path.write_text(json.dumps(manifest))
    text = failure(project(shop, "{dbt: leads, project_dir: shop}"))
    assert "exists in packages ads, crm" in text and "'ads.leads' or 'crm.leads'" in text
    versions = {**manifest["nodes"]["model.shop.dim_customers.v1"], "latest_version": None}
    manifest["nodes"]["model.shop.dim_customers.v1"] = versions
    manifest["nodes"]["model.shop.dim_customers.v2"]["latest_version"] = None
    manifest_path.write_text(json.dumps(manifest))
    text = failure(project(shop, "{dbt: dim_customers, project_dir: shop}"))
    assert "has versions 1, 2 and no latest_version" in text and "version: <v>" in text


def test_a_missing_or_broken_manifest_says_to_run_dbt_and_where_it_looked(shop: Path) -> None:
    shutil.rmtree(shop / "target")
    text = failure(project(shop, "{dbt: orders_capi, project_dir: shop}"))
    assert f"no dbt manifest at {shop / 'target' / 'manifest.json'}" in text
    assert "run `dbt compile` (or `dbt build`)" in text
    text = failure(project(shop, "{dbt: orders_capi, project_dir: shop, target: prod}"))
    assert "`dbt compile --target prod`" in text
    (shop / "target").mkdir()
    (shop / "target" / "manifest.json").write_text('{"metadata": {"generated_at": ')
    assert "cannot read the dbt manifest" in failure(project(shop, "{dbt: x, project_dir: shop}"))
    (shop / "target" / "manifest.json").write_text("[]")
    assert "is not a dbt manifest" in failure(project(shop, "{dbt: x, project_dir: shop}"))
    text = failure(project(shop, "{dbt: orders_capi, project_dir: elsewhere}"))
    assert "syncs.orders.model.project_dir: folder not found" in text
    (shop.parent / "empty").mkdir()
    text = failure(project(shop, "{dbt: orders_capi, project_dir: empty}"))
    assert "no dbt_project.yml in" in text


def test_a_model_file_changed_after_the_manifest_makes_it_stale(shop: Path) -> None:
    after = generated_at(shop) + 60
    os.utime(shop / "models" / "orders_capi.sql", (after, after))
    text = failure(project(shop, "{dbt: orders_capi, project_dir: shop}"))
    assert "is stale: models/orders_capi.sql changed at" in text and "run `dbt build`" in text
    # the properties file of a model (its versions, its alias) counts too
    os.utime(shop / "models" / "schema.yml", (after, after))
    text = failure(project(shop, "{dbt: dim_customers, project_dir: shop}"))
    assert "is stale: models/schema.yml changed" in text
    # a model whose files did not change still resolves
    assert "orders_v" in sql_of(project(shop, "{dbt: orders_view, project_dir: shop}"))


def test_a_duckdb_source_must_be_the_file_dbt_writes(shop: Path) -> None:
    config = project(shop, "{dbt: orders_capi, project_dir: shop}", duckdb_file="other.duckdb")
    text = failure(config)
    assert "DuckDB database 'warehouse'" in text and "source.duckdb is the database 'other'" in text


def test_config_errors_name_the_field_and_the_forms_of_model(shop: Path) -> None:
    config = project(shop, "{dbt: orders_capi, projct_dir: shop}")
    with pytest.raises(ConfigError) as err:
        load_project(config)
    assert "syncs.orders.model.projct_dir: unknown field: did you mean 'project_dir'?" in str(
        err.value
    )
    for model in ("5", "[a, b]", "{project_dir: shop}"):
        with pytest.raises(ConfigError) as err:
            load_project(project(shop, model))
        text = str(err.value)
        assert "syncs.orders.model" in text and "dbt-model" not in text, text
    with pytest.raises(ConfigError, match="expected inline SQL, a path to a .sql file, or"):
        load_project(project(shop, "5"))
    with pytest.raises(ConfigError, match=r"syncs\.orders\.model\.dbt: required field"):
        load_project(project(shop, "{project_dir: shop}"))


# -- end to end: a DuckDB file dbt built, its manifest, `capisync check` and `run` ------------


@pytest.fixture
def built(shop: Path) -> Path:
    """warehouse.duckdb as `dbt build` left it: the model's table in main."""
    with duckdb.connect(str(shop / "warehouse.duckdb")) as con:
        con.execute(
            "CREATE TABLE main.orders_capi AS "
            + (shop / "models" / "staging" / "stg_orders.sql").read_text().split("}}", 1)[1]
        )
    return shop


def test_check_and_run_send_the_dbt_model(built: Path, sandbox: SandboxServer) -> None:
    config = project(built, "{dbt: orders_capi, project_dir: shop}", base_url=sandbox.url)
    checked = runner.invoke(app, ["check", "orders", "--config", str(config)])
    assert checked.exit_code == 0, checked.output
    assert "connection: ok" in checked.output
    ran = runner.invoke(app, ["run", "orders", "--config", str(config)])
    assert ran.exit_code == 0, ran.output
    assert len(sandbox.store.events("4242")) == 25
    again = runner.invoke(app, ["run", "orders", "--config", str(config)])
    assert again.exit_code == 0 and len(sandbox.store.events("4242")) == 25  # sent once


def test_a_model_compiled_but_not_built_fails_in_the_warehouse(
    shop: Path, sandbox: SandboxServer
) -> None:
    duckdb.connect(str(shop / "warehouse.duckdb")).close()  # `dbt compile` builds nothing
    config = project(shop, "{dbt: orders_capi, project_dir: shop}", base_url=sandbox.url)
    ran = runner.invoke(app, ["run", "orders", "--config", str(config)])
    assert ran.exit_code == 6, ran.output
    assert "orders_capi" in ran.output and "dbt model 'orders_capi'" in ran.output
