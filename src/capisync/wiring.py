"""From a sync's configuration to the parts a run uses: source, mapping, builder options and
client settings. `run_sync` and `capisync check` share them, so both see the same sync."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capisync.capi import versions
from capisync.capi.event import BuildOptions
from capisync.capi.mapping import ResolvedMapping, resolve_mapping
from capisync.capi.params import HASHED_KEYS
from capisync.config import SyncConfig
from capisync.errors import MappingError
from capisync.meta import ClientSettings, RetryPolicy
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
    personal = _personal_identifier(mapping, ctx.config)
    if personal:
        raise MappingError(
            [
                f"{where}: the identifier column '{mapping.identifier}' also feeds "
                f"{', '.join(personal)}; as the default event_id it would reach Meta unhashed. Set "
                "`event_id:` to a template over non-personal columns (e.g. "
                "'{event_name}:{order_id}') or choose another identifier"
            ]
        )
    return mapping


def _personal_identifier(mapping: ResolvedMapping, config: SyncConfig) -> list[str]:
    """Hashed keys fed by the identifier column, when the identifier is also the event_id."""
    if config.event_id is not None or mapping.get("event_id") is not None:
        return []
    return [
        f.key for f in mapping.fields if f.column == mapping.identifier and f.key in HASHED_KEYS
    ]


def open_source_for(ctx: SyncContext) -> Source:
    src = ctx.config.source
    return open_source(
        duckdb_path=ctx.project.resolve(src.duckdb) if src.duckdb else None,
        url=src.url.get_secret_value() if src.url else None,
        model_sql=ctx.project.model_sql(ctx.name),
        origin=ctx.project.model_origin(ctx.name),
        search_dir=ctx.project.root,
    )


def mapping_args(config: SyncConfig) -> dict[str, Any]:
    return {"identifier": config.identifier, "explicit": config.mapping, "static": config.static}


def build_options(config: SyncConfig) -> BuildOptions:
    return BuildOptions(
        default_country=config.default_country,  # already a code: the config normalizes it
        event_id_template=config.event_id,
        naive_timezone=config.timezone,
        dob_order=config.dob_order,
        hash_external_id=config.hash_external_id,
    )


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
