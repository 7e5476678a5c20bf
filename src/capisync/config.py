"""The project file (`capisync.yml`): pydantic models, `${ENV}` interpolation, one error report.

A project file holds one or more syncs. Every problem in it is reported at once, each naming
the file, the sync, the field and what is expected (ConfigError, exit code 2). Secrets are read
from the environment through `${VAR}` references and kept as SecretStr: they are never printed,
logged, stored, or written back.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from capisync.capi import versions
from capisync.errors import ConfigError

DEFAULT_PROJECT_FILE = "capisync.yml"
META_GRAPH_URL = "https://graph.facebook.com"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """Where the model runs: a DuckDB file (the embedded default) or any SQLAlchemy URL."""

    duckdb: str | None = Field(None, description="path to a DuckDB file, relative to the project")
    url: SecretStr | None = Field(
        None, description="a SQLAlchemy URL, e.g. postgresql+psycopg://..."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SourceConfig:
        if (self.duckdb is None) == (self.url is None):
            raise ValueError("give exactly one of 'duckdb: <path>' or 'url: <SQLAlchemy URL>'")
        return self


class DestinationConfig(_Strict):
    dataset_id: str = Field(description="the dataset (pixel) ID from Events Manager")
    access_token: SecretStr
    api_version: str | None = Field(
        None, description="a Graph API version such as v27.0; default: the newest current one"
    )
    base_url: str = META_GRAPH_URL
    test_event_code: str | None = None
    app_secret: SecretStr | None = None

    @field_validator("dataset_id")
    @classmethod
    def _digits(cls, v: str) -> str:
        if not v.strip().isdigit():
            raise ValueError("expected the numeric dataset ID shown in Events Manager")
        return v.strip()

    @field_validator("access_token", "app_secret")
    @classmethod
    def _not_empty(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError('is empty: set it (e.g. access_token: "${META_ACCESS_TOKEN}")')
        return v

    @field_validator("api_version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        if v is not None and versions.parse_name(v) is None:
            raise ValueError(
                "expected a Graph API version such as 'vNN.0' (leave it out to use the newest "
                "current version; `capisync check` says which versions are current)"
            )
        return v

    def version_on(self, today: date) -> str:
        """The `api_version` to call on `today` (UTC): the configured one, or else the newest
        version Meta has released by then (capisync.capi.versions)."""
        return self.api_version or versions.newest(today).name

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"https?://", v):
            raise ValueError("expected an http(s) URL, e.g. https://graph.facebook.com")
        return v.rstrip("/")


class DeliveryConfig(_Strict):
    batch_size: int = Field(1000, ge=1, le=1000)
    concurrency: int = Field(4, ge=1, le=64)
    timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(6, ge=1, le=20)
    max_retry_seconds: float = Field(300.0, gt=0)


class WritebackConfig(_Strict):
    """`writeback: {schema: capisync}`: the settled identifiers are written beside the model,
    in <schema>.capisync_settled of the model's own database (PostgreSQL), and the model is
    read through an anti-join against it (sources/writeback.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    target_schema: str = Field(alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class SyncConfig(_Strict):
    source: SourceConfig
    model: str = Field(description="inline SQL, or a path to a .sql file relative to the project")
    identifier: str = Field(description="the column that identifies a row (one event)")
    mapping: dict[str, str] = Field(default_factory=dict)
    static: dict[str, Any] = Field(default_factory=dict)
    destination: DestinationConfig
    event_id: str | None = Field(None, description="a template such as '{event_name}:{order_id}'")
    default_country: str | None = None
    timezone: str = "UTC"
    dob_order: Literal["mdy", "dmy", "ymd"] = "mdy"
    hash_external_id: bool = True
    writeback: WritebackConfig | None = None
    first_run: Literal["backfill", "skip_existing"] = "backfill"
    on_locked: Literal["fail", "wait"] = "fail"
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)  # type: ignore[arg-type]

    @field_validator("default_country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from capisync.capi.normalize import normalize_country

        code = normalize_country(v)
        if code is None:
            raise ValueError(
                f"'{v}' is not a country capisync knows; expected an ISO code such as 'us' or "
                "'fr', or a country name"
            )
        return code

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "expected an IANA time zone name such as 'UTC' or 'Europe/Paris'"
            ) from None
        return v


class StateConfig(_Strict):
    path: str = ".capisync/state.db"
    url: SecretStr | None = None


class ProjectConfig(_Strict):
    version: Literal[1] = 1
    state: StateConfig = Field(default_factory=StateConfig)
    syncs: dict[str, SyncConfig] = Field(min_length=1)


class Project:
    """A loaded project file: its folder (relative paths resolve against it) and its syncs."""

    def __init__(self, path: Path, config: ProjectConfig) -> None:
        self.path = path
        self.root = path.parent
        self.config = config

    @property
    def syncs(self) -> dict[str, SyncConfig]:
        return self.config.syncs

    def sync(self, name: str) -> SyncConfig:
        if name not in self.config.syncs:
            known = ", ".join(sorted(self.config.syncs))
            raise ConfigError(
                [f"no sync named '{name}' (the file defines: {known})"], str(self.path)
            )
        return self.config.syncs[name]

    def resolve(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    def model_file(self, name: str) -> str | None:
        """The .sql file (as written in the project file) the sync's model is read from, or
        None for SQL written inline."""
        model = self.sync(name).model.strip()
        return model if model.endswith(".sql") and "\n" not in model else None

    def model_origin(self, name: str) -> str:
        """Where the model's SQL is, for messages that point at a line of it."""
        return self.model_file(name) or f"syncs.{name}.model in {self.path.name}"

    def model_sql(self, name: str) -> str:
        model = self.sync(name).model.strip()
        if self.model_file(name) is not None:
            sql_path = self.resolve(model)
            if not sql_path.is_file():
                raise ConfigError(
                    [f"syncs.{name}.model: file '{model}' not found (looked at {sql_path})"],
                    str(self.path),
                )
            return sql_path.read_text(encoding="utf-8")
        return model

    def state_location(self) -> str:
        state = self.config.state
        if state.url is not None:
            return state.url.get_secret_value()
        return str(self.resolve(state.path))


def load_project(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Project:
    """Read, interpolate and validate a project file; raise ConfigError listing every problem."""
    file, raw = _read_yaml(path)
    problems: list[str] = []
    data = _interpolate(raw, env if env is not None else os.environ, (), problems)
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        # a field whose ${VAR} is unset was reported already: not again as empty or malformed
        unset = {p.split(":", 1)[0] for p in problems}
        described = (_describe(err) for err in exc.errors())
        problems.extend(d for d in described if d.split(":", 1)[0] not in unset)
        config = None
    if problems:
        raise ConfigError(problems, str(file))
    assert config is not None
    return Project(file.resolve(), config)


@dataclass(frozen=True)
class History:
    """What `runs` and `rejections` need: where the ledger is and the sync names. Reading
    history needs no destination secrets, so unset ${VAR}s outside `state:` are fine here."""

    path: Path
    state_location: str
    syncs: tuple[str, ...]

    def check_sync(self, name: str) -> None:
        if name not in self.syncs:
            known = ", ".join(self.syncs)
            raise ConfigError(
                [f"no sync named '{name}' (the file defines: {known})"], str(self.path)
            )


def load_history(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> History:
    file, raw = _read_yaml(path)
    problems: list[str] = []
    state_raw = _interpolate(
        raw.get("state") or {}, env if env is not None else os.environ, ("state",), problems
    )
    syncs = raw.get("syncs")
    if not isinstance(syncs, dict) or not syncs:
        problems.append("syncs: required field is missing")
    try:
        state = StateConfig.model_validate(state_raw)
    except ValidationError as exc:
        problems.extend(_describe({**err, "loc": ("state", *err["loc"])}) for err in exc.errors())
    if problems:
        raise ConfigError(problems, str(file))
    project = Project(file.resolve(), ProjectConfig.model_construct(state=state, syncs={}))
    return History(project.path, project.state_location(), tuple(syncs or ()))


def _read_yaml(path: str | Path | None) -> tuple[Path, dict[str, Any]]:
    file = Path(path or DEFAULT_PROJECT_FILE)
    if not file.is_file():
        hint = "run `capisync init` to create one, or pass --config PATH"
        raise ConfigError([f"project file not found ({hint})"], str(file))
    try:
        raw = yaml.load(file.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"
        raise ConfigError([problem], str(file)) from None
    if not isinstance(raw, dict):
        raise ConfigError(["expected a mapping with a 'syncs:' key at the top"], str(file))
    return file, raw


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: PyYAML would silently keep
    the last one (a second `mapping:` block would erase the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{key}' is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _interpolate(
    node: Any, env: Mapping[str, str], where: tuple[Any, ...], problems: list[str]
) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env, (*where, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, (*where, i), problems) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(
            f"{_dotted(where)}: environment variable {name} is not set "
            f"(export {name}=... before running, or write ${{{name}:-default}})"
        )
        return ""

    return _ENV_REF.sub(substitute, node)


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _describe(err: Any) -> str:
    loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
    where = _dotted(loc)
    kind = err["type"]
    if kind == "missing":
        return f"{where}: required field is missing"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _KNOWN_FIELDS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "see `capisync init` for an example"
        return f"{where}: unknown field ({hint})"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}"


_KNOWN_FIELDS = sorted(
    {
        name
        for model in (
            SourceConfig,
            DestinationConfig,
            DeliveryConfig,
            SyncConfig,
            StateConfig,
            ProjectConfig,
        )
        for name in model.model_fields
    }
)
