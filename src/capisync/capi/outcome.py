"""What the event builder gives back per row: a BuiltEvent (sendable) or a Rejection.

A BuiltEvent carries its request body fragment, serialized once here, so that nothing
downstream (the sync engine, the Meta client) serializes an event again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from capisync.capi import values
from capisync.capi.issues import Issue


@dataclass(frozen=True, slots=True)
class BuiltEvent:
    identifier: str
    event_id: str
    event: dict[str, Any]
    warnings: tuple[Issue, ...]
    match_keys: frozenset[str]
    body: bytes  # orjson.dumps(event): one element of the request's "data" array


@dataclass(frozen=True, slots=True)
class Rejection:
    identifier: str
    reasons: tuple[Issue, ...]
    warnings: tuple[Issue, ...]
    expired: bool  # only too old (event_time_too_old): never sendable, not a data fault


_dumps = orjson.dumps


# A frozen dataclass's __init__ sets each field through object.__setattr__ (~0.9 µs); the
# slots' own setters build the same object three times faster, once per row.
_new = object.__new__
_set_identifier = BuiltEvent.identifier.__set__  # type: ignore[attr-defined]
_set_event_id = BuiltEvent.event_id.__set__  # type: ignore[attr-defined]
_set_event = BuiltEvent.event.__set__  # type: ignore[attr-defined]
_set_warnings = BuiltEvent.warnings.__set__  # type: ignore[attr-defined]
_set_match_keys = BuiltEvent.match_keys.__set__  # type: ignore[attr-defined]
_set_body = BuiltEvent.body.__set__  # type: ignore[attr-defined]


def built_event(
    identifier: str,
    event_id: str,
    event: dict[str, Any],
    warnings: tuple[Issue, ...],
    match_keys: frozenset[str],
) -> BuiltEvent:
    """A BuiltEvent for a finished event dict (event_id already in it), body serialized."""
    built = _new(BuiltEvent)
    _set_identifier(built, identifier)
    _set_event_id(built, event_id)
    _set_event(built, event)
    _set_warnings(built, warnings)
    _set_match_keys(built, match_keys)
    # orjson's own result sits in a buffer that takes a fresh 4 KB page when kept (a page
    # fault per event); a copy through a memoryview keeps ~1 KB and frees the buffer
    _set_body(built, bytes(memoryview(_dumps(event))))
    return built


MISSING_IDENTIFIER = Issue(
    "missing_identifier",
    "the identifier column is empty: every row needs a unique, stable identifier so it is "
    "sent once; filter out rows without one in the model",
)
EVENT_ID_FALLBACK = Issue(
    "event_id_missing",
    "event_id is empty in this row, so the row identifier was used: it will not deduplicate "
    "against a pixel event; fill the event_id column",
    "event_id",
)


def identifier_text(raw: object) -> str | None:
    if type(raw) is str:
        return raw if raw.strip() else None  # type: ignore[union-attr]
    return None if values.is_blank(raw) else str(raw)
