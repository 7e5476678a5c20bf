"""A dbt model's relation, read from the manifest dbt writes (no dbt runtime needed).

`model: {dbt: orders_capi, project_dir: ../shop, target: prod}` in a sync names a dbt model;
every dbt command that parses the project writes `<target-path>/manifest.json` (default
`target/`), whose `nodes` hold, per model (`model.<package>.<name>[.v<version>]`), the
`database`, `schema`, `alias`, `relation_name` (the quoted name to select from, such as
`"warehouse"."main"."orders_capi"`; None for an ephemeral model) and `config.materialized`;
models switched off with `enabled: false` are under `disabled`. Its `metadata` gives
`dbt_schema_version` and `generated_at` (UTC). The manifest names no target: the
`run_results.json` of the same run (same `invocation_id`) has `args.target` when the command
was given `--target`, and else dbt used the profile's default `target:` in profiles.yml.
Reference: https://docs.getdbt.com/reference/artifacts/manifest-json (schema v12 for dbt
1.8-1.11; relation_name exists from v7, dbt 1.3).

Every problem is a ConfigError naming the project file, the sync and the field, and saying
how to fix it: the manifest missing or unreadable, the model absent (with close names),
disabled, ephemeral, ambiguous between packages or versions, the manifest older than the
model's files or built for another target, or built into another DuckDB file than the sync's.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from capisync.errors import ConfigError

DEFAULT_TARGET_PATH = "target"  # dbt's default `target-path`


@dataclass(frozen=True)
class DbtModelSpec:
    """What the sync asks for. `project_dir` is already resolved against the project file."""

    name: str  # `orders_capi`, or `package.orders_capi`
    project_dir: Path
    target: str | None = None
    target_path: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class DbtRelation:
    """The model as dbt last compiled it: select `relation_name`."""

    unique_id: str  # model.shop.orders_capi
    relation_name: str  # "warehouse"."main"."orders_capi"
    database: str | None
    materialized: str
    manifest: Path
    generated_at: datetime  # UTC, when dbt wrote the manifest


def resolve_dbt_model(
    spec: DbtModelSpec, *, where: str, project_file: Path, duckdb_catalog: str | None = None
) -> DbtRelation:
    """Find `spec`'s model in its project's manifest. `where` is the field's dotted name
    (`syncs.orders.model`); `duckdb_catalog`, for a DuckDB source, the catalog name of the
    sync's file (`warehouse` for warehouse.duckdb), checked against the model's database.
    Raises ConfigError (see the module's docstring)."""

    def fail(field: str, problem: str) -> ConfigError:
        return ConfigError([f"{where}.{field}: {problem}"], str(project_file))

    if not spec.project_dir.is_dir():
        raise fail("project_dir", f"folder not found (looked at {spec.project_dir})")
    target_dir = spec.project_dir / _target_path(spec, fail)
    manifest_path = target_dir / "manifest.json"
    manifest = _read_manifest(manifest_path, spec, fail)
    node = _find_model(manifest, spec, fail)
    generated_at = _generated_at(manifest, manifest_path, fail)
    _check_fresh(node, spec, manifest_path, generated_at, fail)
    if spec.target is not None:
        _check_target(manifest, target_dir, spec, manifest_path, fail)
    relation = _relation(node, manifest_path, fail)
    database = node.get("database")
    if duckdb_catalog is not None and database and database != duckdb_catalog:
        raise fail(
            "dbt",
            f"dbt builds '{node['name']}' in the DuckDB database '{database}' (the file "
            f"{database}.duckdb in its profile), but the sync's source.duckdb is the database "
            f"'{duckdb_catalog}': point source.duckdb at the file dbt writes",
        )
    return DbtRelation(
        unique_id=str(node.get("unique_id", "")),
        relation_name=relation,
        database=str(database) if database else None,
        materialized=_materialized(node),
        manifest=manifest_path,
        generated_at=generated_at,
    )


Fail = Callable[[str, str], ConfigError]  # (field, problem) -> the error to raise


def _target_path(spec: DbtModelSpec, fail: Fail) -> str:
    if spec.target_path is not None:
        return spec.target_path
    project_yml = spec.project_dir / "dbt_project.yml"
    if not project_yml.is_file():
        raise fail(
            "project_dir",
            f"no dbt_project.yml in {spec.project_dir}: set project_dir to the dbt project's "
            "folder (relative to this file)",
        )
    configured = (_yaml_object(project_yml) or {}).get("target-path")
    return str(configured) if isinstance(configured, str) else DEFAULT_TARGET_PATH


def _read_manifest(path: Path, spec: DbtModelSpec, fail: Fail) -> dict[str, Any]:
    if not path.is_file():
        target = f" --target {spec.target}" if spec.target else ""
        raise fail(
            "dbt",
            f"no dbt manifest at {path}: run `dbt compile{target}` (or `dbt build{target}`) in "
            f"{spec.project_dir} first; capisync reads the relation dbt compiled, it does not "
            "run dbt",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(
            "dbt",
            f"cannot read the dbt manifest {path} ({type(exc).__name__}): run `dbt compile` "
            "again to rewrite it",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise fail("dbt", f"{path} is not a dbt manifest (no 'nodes'): run `dbt compile` again")
    return data


def _models(nodes: Any) -> list[dict[str, Any]]:
    """The model nodes of `nodes` (manifest `nodes`, or `disabled`: lists of nodes)."""
    found: list[dict[str, Any]] = []
    for value in (nodes or {}).values():
        for node in value if isinstance(value, list) else [value]:
            if isinstance(node, dict) and node.get("resource_type") == "model":
                found.append(node)
    return found


def _find_model(manifest: dict[str, Any], spec: DbtModelSpec, fail: Fail) -> dict[str, Any]:
    """The node `spec` names, as dbt's `ref()` finds it: `package.name` in that package; a
    bare name in the root project first, else in the one package that has it."""
    package, _, name = spec.name.rpartition(".")

    def matches(node: dict[str, Any]) -> bool:
        return node.get("name") == name and (not package or node.get("package_name") == package)

    models = _models(manifest.get("nodes"))
    candidates = [n for n in models if matches(n)]
    if not candidates:
        disabled = [n for n in _models(manifest.get("disabled")) if matches(n)]
        if disabled:
            raise fail(
                "dbt",
                f"the dbt model '{spec.name}' is disabled (enabled: false in "
                f"{disabled[0].get('original_file_path', 'its config')}): enable it and run "
                "`dbt build`, or sync another model",
            )
        names = sorted({str(n.get("name")) for n in models})
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise fail(
            "dbt",
            f"no dbt model '{spec.name}' in {spec.project_dir}'s manifest ({hint}a model added "
            "since the last `dbt compile` is not in it yet: run `dbt compile` again)",
        )
    packages = sorted({str(n.get("package_name")) for n in candidates})
    root = (manifest.get("metadata") or {}).get("project_name")
    if len(packages) > 1 and root in packages:  # dbt's ref(): the root project's model first
        candidates, packages = [n for n in candidates if n.get("package_name") == root], [root]
    if len(packages) > 1:
        options = " or ".join(f"'{p}.{name}'" for p in packages)
        raise fail(
            "dbt",
            f"the dbt model '{name}' exists in packages {', '.join(packages)}: write {options}",
        )
    return _pick_version(candidates, spec, fail)


def _pick_version(
    candidates: list[dict[str, Any]], spec: DbtModelSpec, fail: Fail
) -> dict[str, Any]:
    """dbt's own rule for `ref('name')`: a pinned version, else the model's latest_version."""
    versions = {str(n.get("version")): n for n in candidates}
    listed = ", ".join(sorted(versions))
    if spec.version is not None:
        if str(spec.version) not in versions:
            raise fail(
                "version",
                f"the dbt model '{spec.name}' has no version {spec.version} "
                f"(its versions: {listed})",
            )
        return versions[str(spec.version)]
    if len(candidates) == 1:
        return candidates[0]
    latest = candidates[0].get("latest_version")
    if latest is not None and str(latest) in versions:
        return versions[str(latest)]
    raise fail(
        "dbt",
        f"the dbt model '{spec.name}' has versions {listed} and no latest_version: "
        "add `version: <v>` beside `dbt:`",
    )


def _generated_at(manifest: dict[str, Any], path: Path, fail: Fail) -> datetime:
    raw = (manifest.get("metadata") or {}).get("generated_at")
    try:
        stamp = datetime.fromisoformat(str(raw))
    except ValueError:
        raise fail(
            "dbt", f"{path} has no readable metadata.generated_at: run `dbt compile` again"
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _check_fresh(
    node: dict[str, Any], spec: DbtModelSpec, path: Path, generated_at: datetime, fail: Fail
) -> None:
    """The model's SQL file and its properties file must not be newer than the manifest."""
    files = [node.get("original_file_path")]
    patch = node.get("patch_path")  # "shop://models/schema.yml"
    if isinstance(patch, str) and "://" in patch:
        files.append(patch.split("://", 1)[1])
    for relative in files:
        if not isinstance(relative, str):
            continue
        file = spec.project_dir / relative
        if not file.is_file():  # a package's model lives under dbt_packages/: not checked
            continue
        changed = datetime.fromtimestamp(file.stat().st_mtime, UTC)
        if changed > generated_at:
            raise fail(
                "dbt",
                f"the dbt manifest {path} is stale: {relative} changed at "
                f"{changed:%Y-%m-%d %H:%M:%S} UTC, after dbt wrote the manifest "
                f"({generated_at:%Y-%m-%d %H:%M:%S} UTC); run `dbt build` (or `dbt compile`) "
                "again so that it describes the model as it is now",
            )


def _check_target(
    manifest: dict[str, Any], target_dir: Path, spec: DbtModelSpec, path: Path, fail: Fail
) -> None:
    """The manifest names no target. The run_results.json of the same dbt invocation does
    (`args.target`) when the command was given `--target`; without it, dbt used the profile's
    default target, read from profiles.yml where dbt looks for it."""
    built_for = _built_for(manifest, target_dir, spec)
    fix = (
        f"run `dbt compile --target {spec.target}` (or `dbt build --target {spec.target}`), or "
        "set target_path to the folder that target's artifacts are written to"
    )
    if built_for is None:
        raise fail(
            "target",
            f"cannot tell which dbt target {path} was built for (no run_results.json of the "
            f"same dbt run beside it, or no profiles.yml to read the default target from): {fix}",
        )
    if built_for != spec.target:
        raise fail(
            "target",
            f"the dbt manifest {path} was built for target '{built_for}', not "
            f"'{spec.target}': {fix}",
        )


def _built_for(manifest: dict[str, Any], target_dir: Path, spec: DbtModelSpec) -> str | None:
    results = _json_object(target_dir / "run_results.json")
    if results is None:
        return None
    same_run = (results.get("metadata") or {}).get("invocation_id") == (
        manifest.get("metadata") or {}
    ).get("invocation_id")
    if not same_run:
        return None
    args = results.get("args") or {}
    target = args.get("target")
    if isinstance(target, str):
        return target
    return _default_target(args, spec)


def _default_target(args: dict[str, Any], spec: DbtModelSpec) -> str | None:
    """The profile's `target:` in the profiles.yml dbt read: its --profiles-dir (relative to
    the project, where dbt runs), else the project's folder, else ~/.dbt. None when it cannot
    be known (no file, or a Jinja expression such as env_var())."""
    project = _yaml_object(spec.project_dir / "dbt_project.yml") or {}
    profile = args.get("profile") or project.get("profile")
    folders = [spec.project_dir, Path.home() / ".dbt"]
    if isinstance(args.get("profiles_dir"), str):
        folders.insert(0, spec.project_dir / Path(args["profiles_dir"]).expanduser())
    for folder in folders:
        profiles = _yaml_object(folder / "profiles.yml")
        if profiles is None:
            continue
        entry = profiles.get(profile) if isinstance(profile, str) else None
        target = entry.get("target") if isinstance(entry, dict) else None
        return target if isinstance(target, str) and "{{" not in target else None
    return None


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _yaml_object(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _materialized(node: dict[str, Any]) -> str:
    return str((node.get("config") or {}).get("materialized") or "")


def _relation(node: dict[str, Any], path: Path, fail: Fail) -> str:
    materialized = _materialized(node)
    if materialized == "ephemeral":
        raise fail(
            "dbt",
            f"the dbt model '{node.get('name')}' is ephemeral: dbt inlines it into the models "
            "that use it and builds no table or view to select from; materialize it "
            "(`{{ config(materialized='view') }}` or 'table') and run `dbt build`, or sync a "
            "model that selects from it",
        )
    relation = node.get("relation_name")
    if not isinstance(relation, str) or not relation.strip():
        raise fail(
            "dbt",
            f"the dbt model '{node.get('name')}' has no relation_name in {path} (a manifest "
            "from dbt before 1.3?): run `dbt compile` with a current dbt",
        )
    return relation
