"""Which warehouse column (or static value) feeds which Meta parameter.

A mapping is written parameter -> column (``em: customer_email``). Parameter names are Meta
keys, the aliases of ``params.ALIASES`` (``email``, ``phone``, ``first_name`` ...) or
``custom_data.<name>`` for a free custom property. Aliases always resolve to Meta's key:
``email`` is never sent as ``email``.

Precedence for one key, from strongest to weakest:

1. an explicit column (``explicit``) or an explicit static value (``static``): both are
   deliberate choices, so giving a key both is an error ("mapped twice");
2. a model column whose name is the key or one of its aliases (case-insensitive), used only
   when the key has neither an explicit column nor a static value. A static value therefore
   wins over a same-named column: ``currency: USD`` in the config beats a stray ``currency``
   column. An explicit ``None`` switches auto-mapping off for that key.

The identifier column (the ledger's key, stored as it is) and a column mapped to
``event_id`` (sent to Meta as it is) may not hold customer information: see ``personal``.

Every problem is collected and raised together as one ``MappingError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from capisync.capi.params import ALIASES, PARAMS, USER_DATA_KEYS
from capisync.capi.personal import personal_reason
from capisync.errors import MappingError

CUSTOM_PREFIX = "custom_data."
REQUIRED_KEYS = ("event_name", "event_time", "action_source")
_CATALOGUE_ORDER = {key: i for i, key in enumerate(PARAMS)}
_MAX_LISTED_COLUMNS = 40


@dataclass(frozen=True)
class FieldMapping:
    key: str  # Meta wire key, or "custom_data.<name>" for a free custom property
    column: str | None = None
    static: object | None = None  # exactly one of column / static

    @property
    def is_custom_property(self) -> bool:
        return self.key.startswith(CUSTOM_PREFIX)


@dataclass(frozen=True)
class ResolvedMapping:
    fields: tuple[FieldMapping, ...]
    identifier: str  # the model column that identifies a row (its ledger key)
    columns: tuple[str, ...] = ()  # the model's columns, as the model spells them

    def get(self, key: str) -> FieldMapping | None:
        return next((f for f in self.fields if f.key == key), None)


def resolve_mapping(
    columns: Sequence[str],
    *,
    identifier: str,
    explicit: Mapping[str, str | None] | None = None,
    static: Mapping[str, object] | None = None,
) -> ResolvedMapping:
    """Resolve explicit, static and by-name mappings over a model's columns (see module doc)."""
    problems: list[str] = []
    lookup = _ColumnLookup(columns)
    id_column = lookup.find(identifier)
    if id_column is None:
        problems.append(
            f"identifier column '{identifier}' is not in the model; {lookup.describe(identifier)}"
        )
    chosen: dict[str, FieldMapping] = {}
    disabled: set[str] = set()
    _add_explicit(explicit or {}, lookup, chosen, disabled, problems)
    _add_static(static or {}, chosen, problems)
    _add_by_name(lookup, chosen, disabled, problems)
    for key in REQUIRED_KEYS:
        if key not in chosen:
            problems.append(
                f"no source for '{key}': name a column '{key}', map one (`{key}: <column>`) "
                f"or set a static value"
            )
    if id_column is not None:
        _check_not_personal(id_column, chosen, problems)
    if problems:
        raise MappingError(problems)
    fields = tuple(sorted(chosen.values(), key=_field_order))
    return ResolvedMapping(fields, id_column or identifier, tuple(columns))


def resolve_without_model(
    *,
    identifier: str,
    explicit: Mapping[str, str | None] | None = None,
    static: Mapping[str, object] | None = None,
) -> tuple[ResolvedMapping, list[tuple[str, str]]]:
    """What can be resolved before the model is known, and its problems as (section, problem),
    section "mapping" or "static": unknown parameter names, a key mapped twice, an empty static
    value, customer data under custom_data. Columns are taken as named; by-name mapping and
    the required keys wait for the model (``resolve_mapping``, which reports these too). The
    result's ``columns`` is empty: the model's columns are not known."""
    explicit, static = explicit or {}, static or {}
    named = [c.strip() for c in explicit.values() if isinstance(c, str) and c.strip()]
    chosen: dict[str, FieldMapping] = {}
    in_mapping: list[str] = []
    in_static: list[str] = []
    _add_explicit(explicit, _ColumnLookup(named), chosen, set(), in_mapping)
    _add_static(static, chosen, in_static)
    fields = tuple(sorted(chosen.values(), key=_field_order))
    problems = [("mapping", p) for p in in_mapping] + [("static", p) for p in in_static]
    return ResolvedMapping(fields, identifier), problems


def _check_not_personal(
    id_column: str, chosen: dict[str, FieldMapping], problems: list[str]
) -> None:
    """The identifier and the event_id column: no customer information (``personal``)."""

    def reason(column: str) -> str | None:
        return personal_reason(column, (k for k, f in chosen.items() if f.column == column))

    why = reason(id_column)
    if why is not None:
        problems.append(
            f"identifier column '{id_column}' holds customer information ({why}): "
            f"identifiers are stored in the ledger as they are, and sent to Meta unhashed as "
            f"the default event_id. Choose a column that names the event, not the person "
            f"(e.g. order_id or lead_id)"
        )
    event_id = chosen.get("event_id")
    if event_id is not None and event_id.column is not None:
        why = reason(event_id.column)
        if why is not None:
            problems.append(
                f"parameter 'event_id' is mapped to column '{event_id.column}', which holds "
                f"customer information ({why}): event_id is sent to Meta unhashed. Map a "
                f"column that names the event, not the person (e.g. order_id), or set "
                f"`event_id:` to a template such as '{{event_name}}:{{{id_column}}}'"
            )


def resolve_key(name: str) -> str | None:
    """A parameter name as written in a mapping -> Meta key (or custom_data.<name>), or None."""
    cleaned = name.strip()
    if cleaned.lower().startswith(CUSTOM_PREFIX):
        prop = cleaned[len(CUSTOM_PREFIX) :].strip()
        if not prop:
            return None
        standard = ALIASES.get(prop.lower())
        if standard is not None and PARAMS[standard].section == "custom_data":
            return standard  # custom_data.value is just value
        return CUSTOM_PREFIX + prop
    return ALIASES.get(cleaned.lower())


def unknown_parameter_message(name: str) -> str:
    """'unknown parameter 'emial': did you mean 'em' (email)?'"""
    close = difflib.get_close_matches(name.strip().lower(), list(ALIASES), n=1, cutoff=0.6)
    if not close:
        return (
            f"unknown parameter '{name}': use a Meta key (em, ph, fn, ln, external_id, "
            f"value, currency ...) or 'custom_data.{name}' for a custom property"
        )
    alias = close[0]
    key = ALIASES[alias]
    hint = f"'{key}'" if alias == key else f"'{key}' ({alias})"
    return f"unknown parameter '{name}': did you mean {hint}?"


class _ColumnLookup:
    """Find model columns by exact name first, then case-insensitively."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self._exact = set(self.columns)
        self._folded: dict[str, str | None] = {}
        for column in self.columns:
            folded = column.casefold()
            # two columns differing only in case: only an exact match can pick one
            self._folded[folded] = None if folded in self._folded else column

    def find(self, name: str) -> str | None:
        if name in self._exact:
            return name
        return self._folded.get(name.casefold())

    def describe(self, missing: str) -> str:
        listed = ", ".join(self.columns[:_MAX_LISTED_COLUMNS]) or "(none)"
        if len(self.columns) > _MAX_LISTED_COLUMNS:
            listed += f", ... ({len(self.columns)} in all)"
        close = difflib.get_close_matches(missing, self.columns, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{hint}the model's columns are: {listed}"


def _add_explicit(
    explicit: Mapping[str, str | None],
    lookup: _ColumnLookup,
    chosen: dict[str, FieldMapping],
    disabled: set[str],
    problems: list[str],
) -> None:
    named_by: dict[str, str] = {}
    for name, column in explicit.items():
        key = _checked_key(name, problems)
        if key is None:
            continue
        if key in named_by:
            problems.append(
                f"parameter '{key}' is mapped twice (as '{named_by[key]}' and '{name}'): keep one"
            )
            continue
        named_by[key] = name
        if column is None:
            disabled.add(key)  # explicit "no column": stop auto-mapping this key
            continue
        if not isinstance(column, str) or not column.strip():
            problems.append(f"parameter '{name}' must map to a column name")
            continue
        found = lookup.find(column.strip())
        if found is None:
            problems.append(
                f"parameter '{name}' is mapped to column '{column}', which the "
                f"model does not have; {lookup.describe(column.strip())}"
            )
            continue
        chosen[key] = FieldMapping(key, column=found)


def _add_static(
    static: Mapping[str, object], chosen: dict[str, FieldMapping], problems: list[str]
) -> None:
    static_names: dict[str, str] = {}
    for name, value in static.items():
        key = _checked_key(name, problems)
        if key is None:
            continue
        if key in static_names:
            problems.append(
                f"parameter '{key}' has two static values (as "
                f"'{static_names[key]}' and '{name}'): keep one"
            )
            continue
        static_names[key] = name
        if key in chosen:
            problems.append(
                f"parameter '{key}' is mapped twice (to a column and to a static value): keep one"
            )
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(f"static value for '{name}' is empty: remove it or give a value")
            continue
        chosen[key] = FieldMapping(key, static=value)


def _add_by_name(
    lookup: _ColumnLookup, chosen: dict[str, FieldMapping], disabled: set[str], problems: list[str]
) -> None:
    candidates: dict[str, list[str]] = {}
    for column in lookup.columns:
        key = ALIASES.get(column.strip().lower())
        if key is not None and key not in chosen and key not in disabled:
            candidates.setdefault(key, []).append(column)
    for key, found in candidates.items():
        if len(found) > 1:
            names = " and ".join(f"'{c}'" for c in found)
            problems.append(
                f"columns {names} all map to '{key}' by name: map one "
                f"explicitly (`{key}: {found[0]}`)"
            )
            continue
        chosen[key] = FieldMapping(key, column=found[0])


def _checked_key(name: object, problems: list[str]) -> str | None:
    if not isinstance(name, str):
        problems.append(f"parameter names must be strings, got {type(name).__name__}")
        return None
    key = resolve_key(name)
    if key is None:
        problems.append(unknown_parameter_message(name))
        return None
    prop = key[len(CUSTOM_PREFIX) :].lower() if key.startswith(CUSTOM_PREFIX) else None
    if prop is not None and ALIASES.get(prop) in USER_DATA_KEYS:
        problems.append(
            f"'{name}' would send customer data unhashed in custom_data: map it "
            f"as '{ALIASES[prop]}' so it is normalized and hashed"
        )
        return None
    return key


def _field_order(field: FieldMapping) -> tuple[int, str]:
    return (_CATALOGUE_ORDER.get(field.key, len(_CATALOGUE_ORDER)), field.key)
