"""Rows to events a batch at a time, column by column: the sync engine's path.

``EventBuilder.build`` walks one row through the ``plan.BuildPlan``. ``build_batch`` walks the
same plan a whole column at a time: each field plan's kind (text, UTC time, memo, coerce)
picks its loop once per column, a memo hit is one inline dict lookup, and the event dicts are
filled column by column in the order ``build`` fills them, so that keys, warnings and bodies
come out byte for byte the same (tests/unit/test_build_batch.py holds it to that).

Warnings are collected per row index; since the columns run in ``build``'s order (event
keys, country, user_data keys, custom_data keys, event_id), each row's warnings keep their
order. The garbage collector is paused for the batch: the fresh event dicts hold no cycle,
and it would otherwise walk them several times per batch.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any

from capisync.capi import values
from capisync.capi.issues import Issue
from capisync.capi.normalize import (
    NormalizeContext,
    memoize_wire,
    user_data_column,
    user_data_value,
)
from capisync.capi.outcome import (
    EVENT_ID_FALLBACK,
    EVENT_ID_PERSONAL_DATA,
    EVENT_ID_TOO_LONG,
    IDENTIFIER_PERSONAL_DATA,
    IDENTIFIER_TOO_LONG,
    LEDGER_TEXT_CHARS,
    MISSING_IDENTIFIER,
    BuiltEvent,
    Rejection,
    identifier_text,
)
from capisync.capi.personal import column_may_look_personal, looks_personal
from capisync.capi.plan import MEMO_LIMIT, BuildPlan, FieldPlan, Memo, TemplatePart, YearState
from capisync.capi.validate import check_event, is_expired

Row = Mapping[str, object]
Warned = dict[int, list[Issue]]  # row index -> its warnings, in build's order
_EPOCH = datetime(1970, 1, 1)
_UNSEEN = object()
_NONE: list[Issue] = []  # the warnings of most rows: shared, never appended to
_INVALID = values.INVALID


def build_batch(
    plan: BuildPlan, state: YearState, rows: Iterable[Row], now: int
) -> list[BuiltEvent | Rejection]:
    """``EventBuilder.build(row, now=now)`` for every row, in order (see the module doc);
    ``state`` is the builder's state of the year of ``now``."""
    batch = rows if isinstance(rows, list) else list(rows)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(plan, state, batch, now)
    finally:
        if enabled:
            gc.enable()


def _build(
    plan: BuildPlan, state: YearState, rows: list[Row], now: int
) -> list[BuiltEvent | Rejection]:
    warned: Warned = {}
    cells = _Columns(rows)
    events = _dicts(plan.static_event, len(rows))
    for field in plan.event_fields:
        _fill(events, cells(field.column), field, warned)
    users = _user_data(plan, state, cells, len(rows), warned)
    customs = _dicts(plan.static_custom, len(rows))
    for field in plan.custom_fields:
        _fill(customs, cells(field.column), field, warned)
    event_ids = None
    if plan.event_id_source == "template":
        event_ids = _template_ids(plan.template, cells, events)
    return _finish(plan, cells(plan.identifier), events, users, customs, event_ids, warned, now)


class _Columns:
    """The batch's cells column by column: ``columns(name)`` is ``[row.get(name) ...]``.

    For rows that are plain dicts holding every column (what the warehouse sources give),
    one ``itemgetter`` pass and a ``zip`` transpose cut them all at C speed.
    """

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self._cut: dict[str, list[object]] = {}
        if rows and set(map(type, rows)) == {dict} and len(rows[0]) > 1:
            names = tuple(rows[0])  # itemgetter of one name gives no tuple
            try:
                transposed = zip(*map(itemgetter(*names), rows), strict=True)
                self._cut = dict(zip(names, map(list, transposed), strict=True))
            except (KeyError, ValueError, TypeError):  # ragged rows: column by column
                self._cut = {}

    def __call__(self, name: str) -> list[object]:
        cut = self._cut.get(name)
        if cut is not None:
            return cut
        return [row.get(name) for row in self.rows]


def _dicts(static: dict[str, Any], count: int) -> list[dict[str, Any]]:
    return [static.copy() for _ in range(count)] if static else [{} for _ in range(count)]


# ---- event and custom_data keys ----------------------------------------------------------


def _fill(
    targets: list[dict[str, Any]], raws: list[object], field: FieldPlan, warned: Warned
) -> None:
    """One event or custom_data column into its dicts; ``event._apply`` cell by cell."""
    key, coerce, dropped, kind = field.key, field.coerce, field.dropped, field.kind
    if kind == "memo":
        cells = _memo_coerced(raws, field.memo, coerce)
    elif kind == "text":
        cells = [  # values.to_text, inlined for plain ASCII text
            raw.strip() or None if type(raw) is str and _plain(raw) else _coerced(coerce, raw)
            for raw in raws
        ]
    elif kind == "utc_time":
        cells = [
            _naive_utc_seconds(raw)
            if type(raw) is datetime and raw.tzinfo is None
            else _coerced(coerce, raw)
            for raw in raws
        ]
    else:
        cells = [None if raw is None else coerce(raw) for raw in raws]
    for target, value in zip(targets, cells, strict=True):
        if value is not None:
            target[key] = value
    if dropped is not None and _INVALID in cells:
        _drop_invalid(targets, cells, key, dropped, warned)
    if field.screen is not None:
        _drop_personal(targets, cells, key, field, warned)


def _drop_personal(
    targets: list[dict[str, Any]], cells: list[Any], key: str, field: FieldPlan, warned: Warned
) -> None:
    """Values that hold customer data (``personal.screen``): left out, with a warning."""
    check = field.screen
    assert check is not None
    for i, value in enumerate(cells):
        if value is not None and value is not _INVALID:
            issue = check(value)
            if issue is not None:
                del targets[i][key]
                warned.setdefault(i, []).append(issue)


def _drop_invalid(
    targets: list[dict[str, Any]], cells: list[Any], key: str, dropped: Issue, warned: Warned
) -> None:
    """Unreadable cells of a lenient key: left out of the event, with a warning."""
    for i, (target, value) in enumerate(zip(targets, cells, strict=True)):
        if value is _INVALID:
            del target[key]
            warned.setdefault(i, []).append(dropped)


def _coerced(coerce: Any, raw: object) -> Any:
    return None if raw is None else coerce(raw)


def _naive_utc_seconds(moment: datetime) -> int:
    delta = moment - _EPOCH  # values._from_datetime's fast path, for naive UTC datetimes
    return delta.days * 86400 + delta.seconds


def _memo_coerced(raws: list[object], memo: dict[str, Any], plain: Any) -> list[Any]:
    get, out = memo.get, []
    for raw in raws:
        if type(raw) is str:
            value = get(raw, _UNSEEN)
            if value is _UNSEEN:
                value = _remember(memo, raw, plain)
            out.append(value)
        else:
            out.append(None if raw is None else plain(raw))
    return out


def _remember(memo: dict[str, Any], raw: str, plain: Any) -> Any:
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    value = memo[raw] = plain(raw)
    return value


# ---- user_data ---------------------------------------------------------------------------


def _user_data(
    plan: BuildPlan, state: YearState, cells: _Columns, count: int, warned: Warned
) -> list[dict[str, Any]]:
    users = _dicts(state.static_user, count)
    if state.static_warnings:  # a static value this year refuses: on every row, as in build
        for i in range(count):
            warned.setdefault(i, []).extend(state.static_warnings)
    contexts = _countries(plan, state, cells, users, warned)
    for field, memo in zip(plan.user_fields, state.user_memos, strict=True):
        key, raws = field.key, cells(field.column)
        if memo is None:
            wires = user_data_column(key, raws, contexts, warned)
        else:
            per_country = field.memo_by == "country"
            wires = _memo_wires(key, raws, contexts, memo, per_country, warned)
        for user, wire in zip(users, wires, strict=True):
            if wire is not None:
                user[key] = wire
    return users


def _countries(
    plan: BuildPlan, state: YearState, cells: _Columns, users: list[dict[str, Any]], warned: Warned
) -> list[NormalizeContext]:
    """Each row's context (its country's, else the default); country wire values into users."""
    default = state.default_context
    column = plan.country_column
    if column is None:
        return [default] * len(users)
    contexts: list[NormalizeContext] = []
    memo = state.country_memo
    for i, raw in enumerate(cells(column)):
        if raw is None:
            contexts.append(default)
            continue
        hit = memo.get(raw) if type(raw) is str else None
        ctx, wire, dropped = state.country_hit(raw) if hit is None else hit
        if wire is not None:
            users[i]["country"] = wire
        if dropped:
            warned.setdefault(i, []).extend(dropped)
        contexts.append(ctx)
    return contexts


def _memo_wires(
    key: str,
    raws: list[object],
    contexts: list[NormalizeContext],
    memo: Memo,
    per_country: bool,
    warned: Warned,
) -> list[Any]:
    """A low-cardinality key: one memo lookup per text cell, by cell or (cell, country)."""
    get, out = memo.get, []
    for i, raw in enumerate(raws):
        if type(raw) is not str:
            out.append(None if raw is None else _value_at(key, raw, contexts[i], i, warned))
            continue
        cell = (raw, contexts[i].country) if per_country else raw
        hit = get(cell)
        if hit is None:
            hit = memoize_wire(memo, cell, key, raw, contexts[i])
        if hit[1]:
            warned.setdefault(i, []).extend(hit[1])
        out.append(hit[0])
    return out


def _value_at(key: str, raw: object, ctx: NormalizeContext, row: int, warned: Warned) -> Any:
    warnings: list[Issue] = []
    wire = user_data_value(key, raw, ctx, warnings)
    if warnings:
        warned.setdefault(row, []).extend(warnings)
    return wire


# ---- event_id and the outcomes -----------------------------------------------------------


def _template_ids(
    parts: tuple[TemplatePart, ...],
    cells: _Columns,
    events: list[dict[str, Any]],
) -> list[str | None]:
    """``_EventIdTemplate.render`` over the batch: None where a field is empty."""
    pattern, columns = "", []
    for literal, event_key, column in parts:
        pattern += literal.replace("%", "%%")
        raws: list[object]
        if event_key is not None:
            raws = [event.get(event_key) for event in events]
        elif column is not None:
            raws = cells(column)
        else:
            continue
        pattern += "%s"
        columns.append(
            [
                raw.strip() or None if type(raw) is str and _plain(raw) else _id_text(raw)
                for raw in raws
            ]
        )
    return [None if None in texts else pattern % texts for texts in zip(*columns, strict=True)]


def _plain(text: str) -> bool:
    """ASCII without NUL: text ``values.to_text`` only trims (the common cell)."""
    return text.isascii() and "\x00" not in text


def _id_text(raw: object) -> str | None:
    text = None if raw is _INVALID else values.to_text(raw)
    return text if isinstance(text, str) else None  # empty, or unreadable (a NUL...)


def _finish(
    plan: BuildPlan,
    identifiers: list[object],
    events: list[dict[str, Any]],
    users: list[dict[str, Any]],
    customs: list[dict[str, Any]],
    event_ids: list[str | None] | None,
    warned: Warned,
    now: int,
) -> list[BuiltEvent | Rejection]:
    """Per row: identifier, the sections into the event, event_id, validation, body."""
    time_column, column_id = plan.time_column, plan.event_id_source == "column"
    check_event_id, advice = plan.check_event_id, plan.advice
    check_identifier = column_may_look_personal(identifiers)
    out: list[BuiltEvent | Rejection] = []
    for i, identifier in enumerate(identifiers):
        if (
            type(identifier) is not str
            or not identifier.strip()
            or not values.is_wire_text(identifier)
        ):
            identifier = identifier_text(identifier)
            if identifier is None:
                out.append(Rejection("", (MISSING_IDENTIFIER,), (), False))
                continue
        if len(identifier) > LEDGER_TEXT_CHARS:  # no ledger column holds it: never sent
            out.append(Rejection("", (IDENTIFIER_TOO_LONG,), (), False))
            continue
        if check_identifier and looks_personal(identifier):  # never stored nor sent
            out.append(Rejection("", (IDENTIFIER_PERSONAL_DATA,), (), False))
            continue
        event, user, custom = events[i], users[i], customs[i]
        if user:
            event["user_data"] = user
        if custom:
            event["custom_data"] = custom
        if event_ids is not None:
            event_id = event_ids[i]
        else:
            event_id = _plain_event_id(column_id, event, identifier, i, warned)
        warnings = warned.get(i) or _NONE
        keys = user.keys()  # a view, no copy: the dict is final here
        reasons = check_event(event, keys, now=now, time_column=time_column)
        if event_id is None:
            reasons.append(plan.template_issue)
        elif len(event_id) > LEDGER_TEXT_CHARS:
            reasons.append(EVENT_ID_TOO_LONG)
        elif check_event_id and looks_personal(event_id):
            reasons.append(EVENT_ID_PERSONAL_DATA)
        if reasons:
            reasons = advice.fit(reasons, warnings)
        if reasons or event_id is None:  # no event_id: the template's issue is a reason
            out.append(Rejection(identifier, tuple(reasons), tuple(warnings), is_expired(reasons)))
            continue
        event["event_id"] = event_id
        out.append(BuiltEvent(identifier, event_id, event, tuple(warnings), keys))
    return out


def _plain_event_id(
    column_id: bool, event: dict[str, Any], identifier: str, row: int, warned: Warned
) -> str:
    """``EventBuilder._event_id`` without a template: the event_id column, else the identifier."""
    if column_id:
        event_id = event.pop("event_id", None)
        if event_id is not None:
            return event_id  # type: ignore[no-any-return]
        warned.setdefault(row, []).append(EVENT_ID_FALLBACK)
    return identifier
