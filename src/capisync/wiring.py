"""From a sync's configuration to the parts a run uses: source, mapping, event builder and
client settings. `run_sync` and `capisync check` share them, so both see the same sync.

Errors from the parts are translated here into the file's terms: every problem names the
file, the sync and the key (`syncs.purchases.event_id: ...`), not an internal name.
`offline_problems` runs the same checks without the warehouse, for `load_project`."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from capisync.capi import versions
from capisync.capi.event import BuildOptions, EventBuilder
from capisync.capi.mapping import (
    ResolvedMapping,
    resolve_key,
    resolve_mapping,
    resolve_without_model,
)
from capisync.capi.params import PARAMS
from capisync.config import SyncConfig, located
from capisync.errors import ConfigError, MappingError
from capisync.meta import ClientSettings, RetryPolicy
from capisync.reachability import wait_until_listening
from capisync.sources import Source, open_source

if TYPE_CHECKING:
    from capisync.sync import SyncContext


def resolve_for(ctx: SyncContext, columns: list[str]) -> ResolvedMapping:
    """The sync's mapping over the model's columns; errors name the file and the sync."""
    where = f"{ctx.project.path}: syncs.{ctx.name}"
    try:
        mapping = resolve_mapping(columns, **mapping_args(ctx.config))
    except MappingError as exc:
        raise MappingError([f"{where}: {problem}" for problem in exc.problems]) from None
    return mapping


def open_source_for(ctx: SyncContext) -> Source:
    src = ctx.config.source
    return open_source(
        duckdb_path=ctx.project.resolve(src.duckdb) if src.duckdb else None,
        url=src.url.get_secret_value() if src.url else None,
        model_sql=ctx.project.model_sql(ctx.name),
        origin=ctx.project.model_origin(ctx.name),
        field=f"syncs.{ctx.name}.source.url",
        project_file=str(ctx.project.path),
        search_dir=ctx.project.root,
    )


def mapping_args(config: SyncConfig) -> dict[str, Any]:
    return {"identifier": config.identifier, "explicit": config.mapping, "static": config.static}


# the sync's keys the event builder reads -> BuildOptions fields (the builder's own names)
OPTION_KEYS = {
    "default_country": "default_country",
    "event_id": "event_id_template",
    "timezone": "naive_timezone",
    "dob_order": "dob_order",
    "hash_external_id": "hash_external_id",
}


def build_options(config: SyncConfig) -> BuildOptions:
    # default_country is already a code: the config normalizes it
    return BuildOptions(**{option: getattr(config, key) for key, option in OPTION_KEYS.items()})


def event_builder(ctx: SyncContext, mapping: ResolvedMapping) -> EventBuilder:
    """The sync's EventBuilder; a problem it finds names the file, the sync and the key."""
    options = build_options(ctx.config)
    try:
        return EventBuilder(mapping, options)
    except (ConfigError, MappingError):
        problems = builder_problems(mapping, options)
    raise ConfigError(
        [located(ctx.name, key, problem) for key, problem in problems], str(ctx.project.path)
    ) from None


def builder_problems(mapping: ResolvedMapping, options: BuildOptions) -> list[tuple[str, str]]:
    """Why EventBuilder refuses `mapping` with `options`, as (sync key, problem); [] if it
    does not. Each problem goes to the key that causes it: the builder is tried with the
    static values alone ("static") and with the event_id template alone ("event_id"); what
    both show belongs to the sync (""). The builder's internal names become the file's keys."""
    found = _refusals(mapping, options)
    if not found:
        return []
    columns_only = dataclasses.replace(
        mapping, fields=tuple(f for f in mapping.fields if f.column is not None)
    )
    plain = dataclasses.replace(options, event_id_template=None)
    common = _refusals(columns_only, plain)
    attributed = [
        *(("static", p) for p in _refusals(mapping, plain) if p not in common),
        *(("event_id", p) for p in _refusals(columns_only, options) if p not in common),
        *(("", p) for p in common),
    ]
    return [(key, _in_file_terms(p)) for key, p in attributed or [("", p) for p in found]]


def _refusals(mapping: ResolvedMapping, options: BuildOptions) -> list[str]:
    try:
        EventBuilder(mapping, options)
    except (ConfigError, MappingError) as exc:
        return list(exc.problems)
    return []


def _in_file_terms(problem: str) -> str:
    for key, option in OPTION_KEYS.items():
        if option != key:
            problem = problem.replace(option, key)
    return problem


def offline_problems(raw: Mapping[str, Any], refused: Collection[str]) -> list[tuple[str, str]]:
    """A sync's problems that need no warehouse, as (sync key, problem): the parameter names
    under `mapping:` and `static:`, the static values and the event_id template, read as the
    event builder reads them. `raw` is the sync as written (after ${VAR}s); keys in `refused`
    failed the schema and are left out (their defaults are used)."""

    def given(key: str, kind: type | tuple[type, ...]) -> Any:
        value = raw.get(key)
        return value if key not in refused and isinstance(value, kind) else None

    explicit = {
        k: v
        for k, v in (given("mapping", dict) or {}).items()
        if isinstance(k, str) and (v is None or isinstance(v, str))
    }
    static = {k: v for k, v in (given("static", dict) or {}).items() if isinstance(k, str)}
    typed = [("static", _yaml_typed_id(name)) for name, v in static.items() if _lossy(name, v)]
    static = {k: v for k, v in static.items() if not _lossy(k, v)}  # said once: above
    mapping, problems = resolve_without_model(
        identifier=given("identifier", str) or "", explicit=explicit, static=static
    )
    kinds: dict[str, type] = {"hash_external_id": bool}  # the others are text
    options = BuildOptions(
        **{
            option: value
            for key, option in OPTION_KEYS.items()
            if (value := given(key, kinds.get(key, str))) is not None
        }
    )
    return problems + typed + builder_problems(mapping, options)


# custom_data keys whose values are identifiers; every user_data key is one too (customer
# information or an ID: a ZIP code, a phone number, lead_id, page_id ...)
_ID_KEYS = frozenset({"order_id", "content_ids"})


def _lossy(name: str, value: object) -> bool:
    """A static value YAML typed as a float or a boolean for a key that holds text or an ID:
    its text is gone (`zp: 1.0e4`, `lead_id: 1234567890123456.0` loses digits)."""
    key = resolve_key(name)
    if key is None or not (
        key in _ID_KEYS or (key in PARAMS and PARAMS[key].section == "user_data")
    ):
        return False
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, (float, bool)) for v in values)


def _yaml_typed_id(name: str) -> str:
    return (
        f"'{name}' is written without quotes and YAML read it as a decimal number or a "
        f"boolean, which cannot hold an ID or customer data exactly: write it in quotes "
        f'({name}: "...")'
    )


async def reach_destination(ctx: SyncContext) -> str | None:
    """Before a run sends: wait briefly for a destination on this machine that is still
    starting (see capisync.reachability); why it cannot be reached, or None."""
    if ctx.dry_run or ctx.transport is not None:
        return None
    return await wait_until_listening(ctx.config.destination.base_url)


def client_settings(ctx: SyncContext) -> ClientSettings:
    dest, delivery = ctx.config.destination, ctx.config.delivery
    return ClientSettings(
        base_url=dest.base_url,
        api_version=dest.version_on(versions.day_of(ctx.clock())),
        dataset_id=dest.dataset_id,
        access_token=dest.access_token.get_secret_value(),
        app_secret=dest.app_secret.get_secret_value() if dest.app_secret else None,
        test_event_code=ctx.test_event_code or dest.test_event_code,
        concurrency=delivery.concurrency,
        timeout=delivery.timeout,
        retry=RetryPolicy(max_attempts=delivery.max_attempts, max_total=delivery.max_retry_seconds),
    )
