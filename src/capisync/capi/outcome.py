"""What the event builder gives back per row: a BuiltEvent (sendable) or a Rejection.

A BuiltEvent holds the event as a dict in wire shape; the Meta client serializes a whole
request's events in one call (one orjson call per 1,000 events costs half of one per event).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from capisync.capi import values
from capisync.capi.issues import Issue
from capisync.capi.personal import looks_personal


# Not frozen: mypyc builds a frozen dataclass through object.__setattr__, 1 µs a row.
@dataclass(slots=True)
class BuiltEvent:
    identifier: str
    event_id: str
    event: dict[str, Any]
    warnings: tuple[Issue, ...]
    match_keys: AbstractSet[str]  # the user_data keys with a value (a view of them)


@dataclass(frozen=True, slots=True)
class Rejection:
    identifier: str
    reasons: tuple[Issue, ...]
    warnings: tuple[Issue, ...]
    expired: bool  # only too old (event_time_too_old): never sendable, not a data fault


LEDGER_TEXT_CHARS = 500
"""The most characters an identifier or event_id may have: the ledger stores both in columns
of this width (``state/schema.py`` reads it), and PostgreSQL refuses a longer value, which
would fail the checkpoint of a batch Meta had already accepted. Meta documents no limit of
its own for event_id ("Server event parameters", checked late 2026), so this one governs."""

MISSING_IDENTIFIER = Issue(
    "missing_identifier",
    "the identifier column is empty (or unreadable: a NUL character, invalid Unicode, a "
    f"number of more than {values.MAX_NUMBER_DIGITS:,} digits): every row needs a unique, "
    "stable identifier so it is sent once; filter out rows without one in the model",
)
IDENTIFIER_TOO_LONG = Issue(
    "identifier_too_long",
    f"the identifier has more than {LEDGER_TEXT_CHARS} characters, more than the ledger can "
    "store, so this row was neither sent nor stored: choose a shorter identifier column (an "
    "order or lead ID), or a hash of the long one computed in the model",
)
EVENT_ID_TOO_LONG = Issue(
    "event_id_too_long",
    f"event_id has more than {LEDGER_TEXT_CHARS} characters, more than the ledger can store, "
    "so this event was not sent: map a shorter event_id column or a shorter template",
    "event_id",
)
EVENT_ID_FALLBACK = Issue(
    "event_id_missing",
    "event_id is empty in this row, so the row identifier was used: it will not deduplicate "
    "against a pixel event; fill the event_id column",
    "event_id",
)

IDENTIFIER_PERSONAL_DATA = Issue(
    "identifier_personal_data",
    "the identifier holds an email address or a phone number: identifiers are stored in the "
    "ledger as they are and are the default event_id, so this row was neither sent nor "
    "stored; choose an identifier column that names the event, not the person (e.g. order_id)",
)
EVENT_ID_PERSONAL_DATA = Issue(
    "event_id_personal_data",
    "event_id holds an email address or a phone number, which Meta would receive unhashed, so "
    "this event was not sent; build event_id from columns that name the event, not the person "
    "(e.g. '{event_name}:{order_id}')",
    "event_id",
)


def identifier_text(raw: object) -> str | None:
    """The ledger key of a row: its identifier cell as text (``str()``, as it always was).

    None when empty or when no ledger can store it: a NUL character (PostgreSQL refuses
    it), a lone surrogate (no UTF-8 form), an integer too long to write (``values.str_of``).
    """
    if type(raw) is str:
        return raw if raw.strip() and values.is_wire_text(raw) else None
    if values.is_blank(raw):
        return None
    text = values.str_of(raw) if isinstance(raw, int) else _plain_str(raw)
    return text if isinstance(text, str) and text.strip() and values.is_wire_text(text) else None


def _plain_str(raw: object) -> str | None:
    try:
        return str(raw)  # bytes stay "b'...'": ledger keys written so far must not change
    except Exception:  # a driver's type whose str() fails
        return None


def ledger_identifier(raw: object) -> str | None:
    """The identifier a row may be known by (ledger, duplicates, reports): its text, or None
    when it is empty, longer than the ledger holds (``LEDGER_TEXT_CHARS``: the builders reject
    it as ``identifier_too_long``) or holds an email address or phone number
    (``personal.looks_personal``: ``identifier_personal_data``)."""
    text = identifier_text(raw)
    if text is None or len(text) > LEDGER_TEXT_CHARS or looks_personal(text):
        return None
    return text
