"""The project file (`capisync.yml`): pydantic models and one error report.

Reading the YAML (its typing, merge keys, `x-` blocks, `${VAR}`s) is `capisync.project_file`.

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
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from capisync.capi import versions
from capisync.errors import ConfigError
from capisync.project_file import _ENV_REF as _ENV_REFERENCE
from capisync.project_file import (
    EXTENSION_PREFIX,
    dotted,
    interpolate,
    read_yaml,
    without_extensions,
)

if TYPE_CHECKING:
    from capisync.sources.dbt import DbtRelation

DEFAULT_PROJECT_FILE = "capisync.yml"
META_GRAPH_URL = "https://graph.facebook.com"


def _as_text(value: object, info: ValidationInfo) -> object:
    """An unquoted scalar YAML typed, for a field that holds text (an ID, a token, a name).

    The project file's YAML types only JSON-like scalars (see `_ProjectLoader`), so an int
    here is exactly the digits written (`dataset_id: 1234567890`) and is taken as its decimal
    string. A float (`1.2e9`, `1234567890.0`) or a boolean (`true`) is refused: its text is
    gone, and digits may be. The value itself is never echoed (it may be a secret).
    """
    field = info.field_name or "the value"
    if isinstance(value, bool):
        raise ValueError(
            f'YAML read this unquoted value as a boolean: write it in quotes ({field}: "...")'
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError(
            "YAML read this unquoted value as a decimal number (a decimal point or an "
            "exponent), which cannot hold an ID or a name exactly: write it in quotes "
            f'({field}: "...")'
        )
    return value


def _not_boolean(value: object, info: ValidationInfo) -> object:
    """A number field given `true`/`false`: pydantic would read it as 1/0, silently."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, not {str(value).lower()}")
    return value


Text = Annotated[str, BeforeValidator(_as_text)]
Int = Annotated[int, BeforeValidator(_not_boolean)]
Float = Annotated[float, BeforeValidator(_not_boolean)]
MaybeText = Annotated[str | None, BeforeValidator(_as_text)]
MaybeSecretText = Annotated[SecretStr | None, BeforeValidator(_as_text)]
SecretText = Annotated[SecretStr, BeforeValidator(_as_text)]


def _version_as_text(value: object) -> object:
    """`api_version: 27.0` (no `v`): YAML reads a number; say how to write it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        name = f"v{float(value):.1f}"
        raise ValueError(f'write it as {name} (in quotes: api_version: "{name}")')
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """Where the model runs: a DuckDB file (the embedded default) or any SQLAlchemy URL."""

    duckdb: MaybeText = Field(None, description="path to a DuckDB file, relative to the project")
    url: MaybeSecretText = Field(
        None, description="a SQLAlchemy URL, e.g. postgresql+psycopg://..."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SourceConfig:
        if (self.duckdb is None) == (self.url is None):
            raise ValueError("give exactly one of 'duckdb: <path>' or 'url: <SQLAlchemy URL>'")
        return self


class DestinationConfig(_Strict):
    dataset_id: Text = Field(description="the dataset (pixel) ID from Events Manager")
    access_token: SecretText = Field(
        description='a system user\'s token, read from the environment: "${META_ACCESS_TOKEN}"'
    )
    api_version: Annotated[str | None, BeforeValidator(_version_as_text)] = Field(
        None, description="a Graph API version such as v27.0; default: the newest current one"
    )
    base_url: Text = META_GRAPH_URL
    test_event_code: MaybeText = None
    app_secret: MaybeSecretText = None

    @field_validator("dataset_id")
    @classmethod
    def _digits(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9]+", v.strip()):  # ASCII: str.isdigit() takes "１２３" and "²"
            raise ValueError(
                "expected the numeric dataset ID shown in Events Manager "
                '(digits, e.g. "1234567890")'
            )
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
            if re.fullmatch(r"[0-9]+\.[0-9]+", v.strip()):
                raise ValueError(
                    f'write it as v{v.strip()} (in quotes: api_version: "v{v.strip()}")'
                )
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
    batch_size: Int = Field(
        1000, ge=1, le=1000, description="events per request, 1 to 1000 (Meta's maximum)"
    )
    concurrency: Int = Field(4, ge=1, le=64, description="requests in flight, 1 to 64")
    timeout: Float = Field(30.0, gt=0, description="seconds to wait for one answer")
    max_attempts: Int = Field(6, ge=1, le=20, description="tries per request, 1 to 20")
    max_retry_seconds: Float = Field(
        300.0, gt=0, description="seconds one batch may spend retrying"
    )


class DbtModelConfig(_Strict):
    """`model: {dbt: orders_capi}`: a dbt model whose relation is read from dbt's
    manifest.json (capisync.sources.dbt; docs/dbt.md)."""

    dbt: str = Field(description="the model's name, or package.name")
    project_dir: str = Field(".", description="the dbt project's folder, relative to this file")
    target: str | None = Field(None, description="the dbt target the manifest must be built for")
    target_path: str | None = Field(None, description="dbt's target-path; default: dbt's own")
    version: int | str | None = Field(None, description="a versioned model's version")


def _model_kind(value: Any) -> str | None:
    """Which form of `model:` a value is: pydantic's tag for it, None for neither."""
    if isinstance(value, str):
        return "sql"
    return "dbt-model" if isinstance(value, dict | DbtModelConfig) else None


# the union's branch names, which pydantic puts in an error's location: not shown to users
_MODEL_TAGS = frozenset({"sql", "dbt-model"})
ModelField = Annotated[
    Annotated[str, Tag("sql")] | Annotated[DbtModelConfig, Tag("dbt-model")],
    Discriminator(
        _model_kind,
        custom_error_type="model_kind",
        custom_error_message="expected inline SQL, a path to a .sql file, or {dbt: <model name>}",
    ),
]


class WritebackConfig(_Strict):
    """`writeback: {schema: capisync}`: the settled identifiers are written beside the model,
    in <schema>.capisync_settled of the model's own database (PostgreSQL, MySQL/MariaDB or
    Snowflake; others keep the bulk ledger check), and the model is read through an anti-join
    against it (sources/writeback.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    target_schema: str = Field(alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class SyncConfig(_Strict):
    source: SourceConfig
    model: ModelField = Field(
        description="inline SQL, a path to a .sql file relative to the project, or {dbt: name}"
    )
    identifier: Text = Field(description="the column that identifies a row (one event)")
    # parameter -> column; null switches a parameter's mapping by name off
    mapping: dict[str, MaybeText] = Field(default_factory=dict)
    static: dict[str, Any] = Field(default_factory=dict)
    destination: DestinationConfig
    event_id: MaybeText = Field(None, description="a template such as '{event_name}:{order_id}'")
    default_country: MaybeText = None
    timezone: Text = "UTC"
    dob_order: Literal["mdy", "dmy", "ymd"] = "mdy"
    hash_external_id: bool = True
    writeback: WritebackConfig | None = None
    first_run: Literal["backfill", "skip_existing"] = "backfill"
    on_locked: Literal["fail", "wait"] = "fail"
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)  # type: ignore[arg-type]
    # `capisync serve`: when to run (serve/schedule.py); the zone of a cron's wall clock,
    # distinct from `timezone` (the zone of naive warehouse timestamps)
    schedule: MaybeText = Field(
        None, description="'every 15m', 'every 1h', 'every 30s' or a cron line '*/15 * * * *'"
    )
    schedule_timezone: MaybeText = Field(
        None, description="an IANA time zone such as 'Europe/Berlin' for the cron (default UTC)"
    )

    @field_validator("model", "identifier")
    @classmethod
    def _not_blank(cls, v: object, info: ValidationInfo) -> object:
        if isinstance(v, str) and not v.strip():
            field = cls.model_fields[str(info.field_name)]
            raise ValueError(f"is empty: expected {field.description}")
        return v

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

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str | None) -> str | None:
        from capisync.serve.schedule import parse_schedule

        if v is not None:
            parse_schedule(v)  # ScheduleError (a ValueError) says how to write it
        return v

    @field_validator("schedule_timezone")
    @classmethod
    def _schedule_tz(cls, v: str | None) -> str | None:
        from capisync.serve.schedule import parse_timezone

        if v is not None:
            parse_timezone(v)
        return v

    @model_validator(mode="after")
    def _schedule_in_zone(self) -> SyncConfig:
        if self.schedule_timezone is not None and self.schedule is None:
            raise ValueError(
                "schedule_timezone: is set without `schedule:`; add a schedule (e.g. "
                "schedule: '0 9 * * *') or remove it"
            )
        return self


class StateConfig(_Strict):
    path: Text = ".capisync/state.db"
    url: MaybeSecretText = None

    @field_validator("url")
    @classmethod
    def _ledger_backend(cls, v: SecretStr | None) -> SecretStr | None:
        from capisync.state.dialects import unsupported_ledger_url

        problem = None if v is None else unsupported_ledger_url(v.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        return v


_DURATION = re.compile(r"\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*")
_DURATION_UNITS = (86_400, 3_600, 60, 1)


def parse_duration(value: object) -> float:
    """`6h`, `90m`, `1d12h`, `45s` (units d, h, m, s, largest first) or a number of seconds,
    as seconds. Raises ValueError saying how to write one."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None or not any(match.groups()):
        raise ValueError("expected a duration such as 6h, 90m, 1d12h or 45s")
    seconds = sum(
        int(n) * unit for n, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if n
    )
    if seconds <= 0:
        raise ValueError("expected a duration above zero, such as 6h")
    return float(seconds)


def _share(value: object, info: ValidationInfo) -> object:
    """A share as 0.05 or as `5%`."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError("expected a share such as 0.05 or 5%") from None
    return _not_boolean(value, info)


Share = Annotated[float, BeforeValidator(_share), Field(ge=0, le=1)]


class AlertsConfig(_Strict):
    """`alerts:`: a webhook capisync posts to when a rule fires (docs/alerts.md). A rule set
    to null is off."""

    webhook: SecretText = Field(
        description="the URL alerts are posted to, from the environment: "
        '"${CAPISYNC_ALERT_WEBHOOK}" (empty: alerts off)'
    )
    rejected_share: Share | None = Field(
        0.05, description="alert when a run rejects more than this share of its events (0..1)"
    )
    coverage_drop: Share | None = Field(
        0.2,
        description="alert when a match key's share of events drops by more than this (0..1) "
        "against the mean of the previous runs",
    )
    coverage_runs: Int = Field(5, ge=1, le=100, description="how many previous runs to compare")
    stale_after: Annotated[
        float | None, BeforeValidator(lambda v: None if v is None else parse_duration(v))
    ] = Field(None, description="alert when a sync has had no new rows this long, e.g. 6h")
    emq_drop: Annotated[float | None, BeforeValidator(_not_boolean)] = Field(
        1.0, gt=0, le=10, description="alert when Meta's EMQ for an event drops this much (0..10)"
    )
    timeout: Float = Field(10.0, gt=0, le=120, description="seconds to wait for the webhook")

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, v: SecretStr) -> SecretStr:
        url = v.get_secret_value().strip()
        if url and not re.match(r"https?://[^/\s]+", url):
            raise ValueError(
                "expected an http:// or https:// URL (a Slack incoming webhook, or any URL "
                "taking a JSON POST)"
            )
        return SecretStr(url)

    @property
    def enabled(self) -> bool:
        """False when the webhook is empty (`${CAPISYNC_ALERT_WEBHOOK:-}` unset): alerts off."""
        return bool(self.webhook.get_secret_value())


class ServeConfig(_Strict):
    """`capisync serve`'s settings."""

    token: MaybeSecretText = Field(
        None,
        description='the bearer token of the HTTP API and dashboard: "${CAPISYNC_API_TOKEN}"; '
        "without one, serve binds 127.0.0.1 only",
    )

    @field_validator("token")
    @classmethod
    def _not_empty(cls, v: SecretStr | None) -> SecretStr | None:
        """The token without surrounding whitespace (a secret file's newline: clients send
        the header stripped). Refused: empty, or holding a character other than visible
        ASCII and the space (an HTTP header carries no other reliably). Never quoted."""
        if v is None:
            return v
        token = v.get_secret_value().strip()
        if not token:
            raise ValueError(
                "is empty: set the variable it reads (e.g. CAPISYNC_API_TOKEN) to a long "
                "random string, or remove `token:` to serve on 127.0.0.1 only"
            )
        if not all(" " <= c <= "~" for c in token):
            raise ValueError(
                "holds a character an HTTP header cannot carry (not ASCII, or a control "
                "character such as a tab): use letters, digits and punctuation, e.g. the "
                "output of `openssl rand -hex 32`"
            )
        return SecretStr(token)


class ProjectConfig(_Strict):
    version: Literal[1] = 1
    state: StateConfig = Field(default_factory=StateConfig)
    alerts: AlertsConfig | None = None
    serve: ServeConfig | None = None
    syncs: dict[str, SyncConfig] = Field(min_length=1)


class Project:
    """A loaded project file: its folder (relative paths resolve against it) and its syncs."""

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        root: str | Path = ".",
        env: Mapping[str, str] | None = None,
    ) -> Project:
        """A project built in code, without a YAML file: `data` has the project file's shape
        (`{"syncs": {"purchases": {"model": ..., "mapping": ..., "destination": ...}}}`) and is
        checked exactly as `load_project` checks a file (`${VAR}` reads `env`, default
        os.environ). Relative paths (the model, the ledger) resolve against `root`. Raises
        ConfigError listing every problem."""
        file = Path(root).resolve() / "<in code>"
        if not isinstance(data, Mapping):
            raise ConfigError(
                [f"expected a mapping such as {{'syncs': {{...}}}}, got {type(data).__name__}"],
                str(file),
            )
        return project_from_raw(dict(data), file, env)

    def __init__(self, path: Path, config: ProjectConfig, warnings: tuple[str, ...] = ()) -> None:
        self.path = path
        self.root = path.parent
        self.warnings = warnings  # what is valid but unwise (a secret written in the file)
        self.config = config
        self.serve_problems: tuple[str, ...] = ()  # unset `serve:` variables: serve refuses

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
        None for SQL written inline or a dbt model."""
        model = self.sync(name).model
        if not isinstance(model, str):
            return None
        model = model.strip()
        return model if _is_model_file(model) else None

    def model_origin(self, name: str) -> str:
        """Where the model's SQL is, for messages that point at a line of it."""
        model = self.sync(name).model
        if isinstance(model, DbtModelConfig):
            return f"dbt model '{model.dbt}' (syncs.{name}.model in {self.path.name})"
        return self.model_file(name) or f"syncs.{name}.model in {self.path.name}"

    def model_sql(self, name: str) -> str:
        model = self.sync(name).model
        if isinstance(model, DbtModelConfig):
            return f"SELECT * FROM {self.dbt_relation(name).relation_name}"
        model = model.strip()
        if self.model_file(name) is None:
            return model
        sql_path = self.resolve(model)
        if not sql_path.is_file():
            problem = f"file '{model}' not found (looked at {sql_path})"
            raise ConfigError([located(name, "model", problem)], str(self.path))
        return sql_path.read_text(encoding="utf-8")

    def dbt_relation(self, name: str) -> DbtRelation:
        """The relation of the sync's dbt model, from dbt's manifest (ConfigError if the sync's
        model is not a dbt model, or cannot be resolved: capisync.sources.dbt)."""
        from capisync.sources.dbt import DbtModelSpec, resolve_dbt_model

        sync = self.sync(name)
        model = sync.model
        if not isinstance(model, DbtModelConfig):
            raise ConfigError([f"syncs.{name}.model: not a dbt model"], str(self.path))
        spec = DbtModelSpec(
            name=model.dbt.strip(),
            project_dir=self.resolve(model.project_dir),
            target=model.target,
            target_path=model.target_path,
            version=None if model.version is None else str(model.version),
        )
        duckdb = sync.source.duckdb
        return resolve_dbt_model(
            spec,
            where=f"syncs.{name}.model",
            project_file=self.path,
            duckdb_catalog=Path(duckdb).stem if duckdb else None,
        )

    def state_location(self) -> str:
        state = self.config.state
        if state.url is not None:
            return state.url.get_secret_value()
        return str(self.resolve(state.path))


def load_project(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Project:
    """Read, interpolate and validate a project file; raise ConfigError listing every problem.

    Every sync is checked as far as it can be without the warehouse, all at once: the schema
    (pydantic), unknown keys (with the close key), the parameter names under `mapping:` and
    `static:`, the static values and the `event_id` template (as the event builder will read
    them). The model and its columns are checked when a sync runs. Each problem names the sync
    and the field (`syncs.<name>.<field>`); the error names the file.
    """
    file = Path(path or DEFAULT_PROJECT_FILE)
    return project_from_raw(read_yaml(file), file, env)


def project_from_raw(
    raw: dict[str, Any], file: Path, env: Mapping[str, str] | None = None
) -> Project:
    """Validate a project file's content (a dict, as YAML gives it) as if it were read from
    `file` (relative paths resolve beside it; errors name it); `${VAR}` reads `env`
    (default: os.environ). Raises ConfigError listing every problem."""
    problems: list[str] = []
    data = interpolate(
        without_extensions(raw), env if env is not None else os.environ, (), problems
    )
    # `serve:`'s variables are needed by `capisync serve` only: unset, they fail serve, not
    # `capisync run` with the same file (Project.serve_problems)
    serve_problems = [p for p in problems if p.startswith("serve.")]
    if serve_problems and isinstance(data.get("serve"), dict):
        problems = [p for p in problems if p not in serve_problems]
        data = {**data, "serve": None}
    errors: list[Any] = []
    try:
        config: ProjectConfig | None = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        config, errors = None, exc.errors()
    # a field whose ${VAR} is unset was reported already: not again as empty or malformed
    unset = {p.split(":", 1)[0] for p in problems}
    described = (_describe(err) for err in errors)
    problems.extend(d for d in described if d.split(":", 1)[0] not in unset)
    problems.extend(_sync_problems(data, errors))
    if problems:
        raise ConfigError(_by_sync(list(dict.fromkeys(problems)), data), str(file))
    assert config is not None
    project = Project(file.resolve(), config, _literal_secrets(without_extensions(raw)))
    project.serve_problems = tuple(serve_problems)
    return project


# the destination's secrets: SecretStr fields, read from the model so a new one is covered
_SECRET_FIELDS = tuple(
    name
    for name, f in DestinationConfig.model_fields.items()
    if SecretStr in (f.annotation, *getattr(f.annotation, "__args__", ()))
)


# a URL's password: `scheme://user:PASSWORD@host`
_URL_PASSWORD = re.compile(r"://[^/@:\s]*:([^@/\s]+)@")
_SECRET_IN_FILE = (
    "written in the project file itself: reference it from the environment instead "
    "({how}) and keep the secret out of the file"
)


def _literal_secrets(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """A warning per secret written in the file itself rather than referenced as `${VAR}`
    (the file is committed, copied, shared): the destination's token and app secret, and a
    password in `source.url` or `state.url`. Names the field, never the value."""
    warnings: list[str] = []
    alerts = raw.get("alerts")
    webhook = alerts.get("webhook") if isinstance(alerts, dict) else None
    if isinstance(webhook, str) and webhook.strip() and not _ENV_REFERENCE.search(webhook):
        how = 'webhook: "${CAPISYNC_ALERT_WEBHOOK}"'
        problem = _SECRET_IN_FILE.format(how=how)
        warnings.append(f"alerts.webhook: a webhook URL (Slack's holds a secret) {problem}")
    state = raw.get("state")
    if isinstance(state, dict) and _url_password_written(state.get("url")):
        how = 'url: "postgresql+psycopg://user:${PGPASSWORD}@host/db"'
        warnings.append(f"state.url: a password {_SECRET_IN_FILE.format(how=how)}")
    syncs = raw.get("syncs")
    for name, sync in syncs.items() if isinstance(syncs, dict) else ():
        if not isinstance(sync, dict):
            continue
        source = sync.get("source")
        if isinstance(source, dict) and _url_password_written(source.get("url")):
            how = 'url: "postgresql+psycopg://user:${PGPASSWORD}@host/db"'
            problem = f"a password {_SECRET_IN_FILE.format(how=how)}"
            warnings.append(located(name, "source.url", problem))
        destination = sync.get("destination")
        if not isinstance(destination, dict):
            continue
        for field in _SECRET_FIELDS:
            value = destination.get(field)
            if value is not None and not _ENV_REFERENCE.search(str(value)):
                how = f'{field}: "${{META_{field.upper()}}}"'
                problem = _SECRET_IN_FILE.format(how=how)
                warnings.append(located(name, f"destination.{field}", problem))
    return tuple(warnings)


def _url_password_written(url: object) -> bool:
    match = _URL_PASSWORD.search(url) if isinstance(url, str) else None
    return match is not None and not _ENV_REFERENCE.search(match.group(1))


def _sync_problems(data: Mapping[str, Any], errors: list[Any]) -> list[str]:
    """What each sync's schema does not show: its mapping, static values and template.

    Checked on the raw values, so a sync with a schema error (say `batch_size: 5000`) still
    has its mapping checked: a field the schema refused is left out of these checks.
    """
    from capisync.wiring import offline_problems  # wiring reads this module's SyncConfig

    syncs = data.get("syncs")
    if not isinstance(syncs, dict):
        return []
    problems: list[str] = []
    for name, raw in syncs.items():
        if not isinstance(raw, dict):
            continue
        refused = {
            str(err["loc"][2])
            for err in errors
            if len(err["loc"]) > 2 and tuple(err["loc"][:2]) == ("syncs", name)
        }
        problems.extend(
            located(name, field, problem) for field, problem in offline_problems(raw, refused)
        )
    return problems


def _by_sync(problems: list[str], data: Mapping[str, Any]) -> list[str]:
    """The problems of the top level first, then each sync's together, in the file's order."""
    syncs = data.get("syncs")
    names = [str(n) for n in syncs] if isinstance(syncs, dict) else []

    def place(problem: str) -> int:
        return next(
            (i for i, n in enumerate(names) if problem.startswith((f"syncs.{n}.", f"syncs.{n}:"))),
            -1,
        )

    return sorted(problems, key=place)


def located(sync: str, field: str, problem: str) -> str:
    """One problem as the user reads it: `syncs.<sync>.<field>: <problem>` (field may be "").
    A problem that already starts with its field's name (`event_id: ...`) is not prefixed twice."""
    if field:
        problem = problem.removeprefix(f"{field.rsplit('.', 1)[-1]}: ")
    return f"syncs.{sync}{'.' + field if field else ''}: {problem}"


def _is_model_file(model: str) -> bool:
    return model.endswith(".sql") and "\n" not in model


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
    file = Path(path or DEFAULT_PROJECT_FILE)
    raw = read_yaml(file)
    raw = without_extensions(raw)
    problems: list[str] = []
    state_raw = interpolate(
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


def _describe(err: Any) -> str:
    loc = tuple(
        p for p in err["loc"] if not str(p).startswith("function-") and p not in _MODEL_TAGS
    )
    where = dotted(loc)
    kind = err["type"]
    model = _model_at(loc[:-1])
    if kind == "extra_forbidden":
        return f"{where}: {_unknown_key_hint(str(loc[-1]), model)}"
    msg = "required field is missing" if kind == "missing" else str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    field = model.model_fields.get(str(loc[-1])) if model is not None and loc else None
    if kind != "value_error" and field is not None and field.description:
        msg += f" ({field.description})"  # what the field holds: how to fix it
    return f"{where}: {msg}"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose fields sit at `loc` (a location without its last part), if any."""
    if not loc:
        return ProjectConfig
    if loc[0] == "syncs":
        if len(loc) == 2:
            return SyncConfig
        return _SECTIONS.get(str(loc[2])) if len(loc) == 3 else None
    return _SECTIONS.get(str(loc[0])) if len(loc) == 1 else None


def _unknown_key_hint(key: str, model: type[BaseModel] | None) -> str:
    from capisync.capi.mapping import resolve_key

    if model is SyncConfig and resolve_key(key) is not None:
        return (
            f"unknown field: '{key}' is a Conversions API parameter; put it under `mapping:` "
            f"(`{key}: <column>`) or, for one value for every event, under `static:`"
        )
    known = list(model.model_fields) if model is not None else _KNOWN_FIELDS
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown field: did you mean '{close[0]}'?"
    if model is ProjectConfig:
        return (
            f"unknown field (the top level takes {', '.join(ProjectConfig.model_fields)}, and "
            f"keys starting with '{EXTENSION_PREFIX}', which are ignored: a place for YAML anchors)"
        )
    listed = ", ".join(known)
    return f"unknown field (expected one of: {listed})"


_SECTIONS: dict[str, type[BaseModel]] = {
    "state": StateConfig,
    "alerts": AlertsConfig,
    "serve": ServeConfig,
    "source": SourceConfig,
    "destination": DestinationConfig,
    "delivery": DeliveryConfig,
}
_KNOWN_FIELDS = sorted(
    {
        name
        for model in (
            SyncConfig,
            ProjectConfig,
            StateConfig,
            SourceConfig,
            DestinationConfig,
            DbtModelConfig,
            AlertsConfig,
            ServeConfig,
        )
        for name in model.model_fields
    }
    | set(DeliveryConfig.model_fields)
)
