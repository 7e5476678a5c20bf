"""The build plan: what both event builders walk, compiled once from a mapping and options.

``EventBuilder.build`` (row by row, ``capi/event.py``) and ``build_batch`` (column by column,
``capi/batch.py``) read the same ``BuildPlan`` and nothing else of the builder, so that they
cannot drift apart. Shapes:

- ``FieldPlan``: an event or custom_data key read from a column. ``kind`` says, as data, which
  shortcut a builder may take for it: ``"text"`` (``values.to_text``: a text cell is only
  stripped), ``"utc_time"`` (``values.parse_event_time`` in UTC: a naive datetime is seconds
  since 1970), ``"memo"`` (few distinct values, immutable wire value: a text cell's value is
  remembered in ``memo``), or ``"coerce"`` (call ``coerce``).
- ``UserFieldPlan``: a user_data key read from a column, and whether its wire value is
  remembered per cell, per (cell, country) or not at all (``memo_by``).
- ``BuildPlan``: the field plans in the order ``build`` fills the event, the static values,
  the identifier and event_id sources.
- ``YearState``: what depends on the calendar year of the clock passed in (``now``): the
  normalize contexts (a date of birth may not lie after the current year), the memos of
  user_data wire values, the static user_data values. A builder keeps the state of the year
  of its latest ``now`` and starts a new one when ``now`` moves to another year (UTC).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime
from typing import Any, Literal

from capisync.capi import values
from capisync.capi.issues import Issue
from capisync.capi.mapping import ResolvedMapping
from capisync.capi.normalize import NormalizeContext, normalize_country, user_data_value
from capisync.capi.params import USER_DATA_KEYS
from capisync.capi.personal import Screener, personal_reason

Coercer = Callable[[object], Any]
FieldKind = Literal["coerce", "text", "utc_time", "memo"]
MemoBy = Literal["none", "cell", "country"]
DobOrder = Literal["mdy", "dmy", "ymd"]
EventIdSource = Literal["identifier", "column", "template"]
TemplatePart = tuple[str, str | None, str | None]  # (literal, event key, row column)
Memo = dict[Any, tuple[Any, tuple[Issue, ...]]]  # cell, or (cell, country) -> (wire, dropped)
CountryHit = tuple[NormalizeContext, Any, tuple[Issue, ...]]  # context, wire value, warnings

MEMO_LIMIT = 4096  # entries per memoized event/custom_data key or country, cleared when full


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """An event or custom_data key read from a column (see the module doc for ``kind``)."""

    key: str  # the wire key (a custom property without its "custom_data." prefix)
    column: str
    coerce: Coercer  # values' reader for the key; never memoized itself
    kind: FieldKind
    dropped: Issue | None  # warning when a cell is unreadable; None: kept INVALID (rejects)
    memo: dict[str, Any]  # kind "memo": text cell -> coerced value (bounded, a cache)
    # customer data in the coerced value (personal.screen): the warning to drop it for
    screen: Screener | None = None


@dataclass(frozen=True, slots=True)
class UserFieldPlan:
    """A user_data key read from a column (the row's country has a plan of its own)."""

    key: str
    column: str
    memo_by: MemoBy  # "cell": the context is fixed per year; "country": st, zp read it


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """Everything both builders read, in the order ``build`` fills an event."""

    identifier: str  # the column that identifies a row (its ledger key)
    time_column: str  # the column behind event_time, for the messages of validation
    event_fields: tuple[FieldPlan, ...]
    country_column: str | None  # the row's country: it chooses the normalize context
    user_fields: tuple[UserFieldPlan, ...]
    custom_fields: tuple[FieldPlan, ...]
    static_event: dict[str, Any]  # coerced once; each event starts as a copy
    static_custom: dict[str, Any]
    static_user: dict[str, object]  # raw: normalized per year (YearState.static_user)
    default_country: str | None  # alpha-2 lowercase, for rows without a country
    dob_order: DobOrder
    hash_external_id: bool
    event_id_source: EventIdSource
    template: tuple[TemplatePart, ...]  # event_id_source "template" only
    template_issue: Issue  # the reason when a template field is empty in a row
    # whether an event_id can hold text the identifier check has not seen: an event_id column,
    # or a template over a row column other than the identifier (event_name and event_time
    # are the event's own values); when True, each event_id is checked by looks_personal
    check_event_id: bool
    advice: Advice  # rewrites a rejected row's reasons to fit the row


# Reasons a row gets when a key its event needs is absent, and what needs it: when the key is
# mapped to a column, the row's own advice says that column is empty in this row.
_NEEDED_BY: dict[str, str] = {
    "website_missing_client_user_agent": "website events need",
    "website_missing_event_source_url": "website events need",
    "missing_messaging_channel": "business_messaging events need",
    "messaging_missing_channel_keys": "this business messaging channel needs",
    "app_missing_app_data": "app events need a complete",
}
_NO_CUSTOMER_KEYS = "no_customer_keys"
# a required key whose value was dropped for customer data: that is the row's reason
_SCREENED_REQUIRED = frozenset({"missing_event_name"})


class Advice:
    """Rewrites a row's generic reasons into advice that fits the row (both builders call
    ``fit`` on a rejected row's reasons; messages name keys, columns and codes, never values).

    - a needed key that IS mapped (``mapped``: key -> column) but empty in this row: "website
      events need client_user_agent, which is empty in this row (column `user_agent`)", not
      "map the column";
    - ``no_customer_keys``: names the warning codes of the customer keys this row lost.
    """

    def __init__(self, mapped: Mapping[str, str]) -> None:
        self.mapped = dict(mapped)
        self.codes = frozenset(_NEEDED_BY) | _SCREENED_REQUIRED | {_NO_CUSTOMER_KEYS}

    def fit(self, reasons: list[Issue], warnings: Sequence[Issue]) -> list[Issue]:
        """``reasons`` with the generic ones replaced; the same list when none applies."""
        codes = self.codes
        if not any(r.code in codes for r in reasons):
            return reasons
        return [self._fit(r, warnings) if r.code in codes else r for r in reasons]

    def _fit(self, reason: Issue, warnings: Sequence[Issue]) -> Issue:
        if reason.code == _NO_CUSTOMER_KEYS:
            lost = [w.code for w in warnings if w.key in USER_DATA_KEYS]
            if not lost:
                return reason
            codes = ", ".join(dict.fromkeys(lost))
            return Issue(
                reason.code,
                f"no customer information is left in this row: its customer values were "
                f"dropped ({codes}; `capisync rejections` lists these codes by row count): fix "
                f"those columns, or map at least one of em, ph, external_id, fbp, fbc, or "
                f"client_ip_address with client_user_agent",
                reason.key,
            )
        key = reason.key
        if reason.code in _SCREENED_REQUIRED:
            for warning in warnings:
                if warning.key == key and warning.code.endswith("_personal_data"):
                    return Issue(
                        warning.code,
                        f"{key} holds an email address or a phone number, which Meta would "
                        f"receive unhashed, so this row was not sent: map a column that "
                        f"holds no customer information to '{key}'",
                        key,
                    )
            return reason
        column = self.mapped.get(key) if key is not None else None
        if key is None or column is None:
            return reason
        dropped = [w.code for w in warnings if w.key == key]
        left_out = f", or its value was left out ({', '.join(dropped)})" if dropped else ""
        return Issue(
            reason.code,
            f"{_NEEDED_BY[reason.code]} {key}, which is empty in this row (column "
            f"`{column}`){left_out}: fill it, or filter such rows out of the model",
            key,
        )


def year_of(at: int) -> int:
    """The calendar year (UTC) of UNIX time ``at`` (seconds)."""
    return datetime.fromtimestamp(at, UTC).year


def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp())


class YearState:
    """The caches and contexts of one calendar year (UTC) of the clock; see the module doc.

    ``start <= now < end`` (UNIX seconds) holds for every ``now`` this state serves.
    """

    def __init__(self, plan: BuildPlan, year: int) -> None:
        self.plan = plan
        self.year = year
        self.start = _year_start(year)
        self.end = _year_start(year + 1) if year < MAXYEAR else 2**62
        self.contexts: dict[str | None, NormalizeContext] = {}
        self.country_memo: dict[str, CountryHit] = {}
        self.default_context = self.context(plan.default_country)
        self.user_memos: tuple[Memo | None, ...] = tuple(
            None if f.memo_by == "none" else {} for f in plan.user_fields
        )
        static: dict[str, Any] = {}
        dropped: list[Issue] = []
        for key, raw in plan.static_user.items():
            wire = user_data_value(key, raw, self.default_context, dropped)
            if wire is not None:
                static[key] = wire
        self.static_user = static
        # a static value this year refuses (a date of birth after it): warned on every row
        self.static_warnings = tuple(dropped)

    def covers(self, at: int) -> bool:
        return self.start <= at < self.end

    def context(self, country: str | None) -> NormalizeContext:
        ctx = self.contexts.get(country)
        if ctx is None:
            plan = self.plan
            ctx = NormalizeContext(
                country=country,
                dob_order=plan.dob_order,
                hash_external_id=plan.hash_external_id,
                current_year=self.year,
            )
            self.contexts[country] = ctx
        return ctx

    def country_hit(self, raw: object) -> CountryHit:
        """(context, wire value, warnings) of a non-NULL country cell, memoized for text."""
        hit = self.country_memo.get(raw) if type(raw) is str else None
        if hit is None:
            dropped: list[Issue] = []
            code = normalize_country(raw[0] if isinstance(raw, list) and raw else raw)
            ctx = self.context(code or self.plan.default_country)
            hit = (ctx, user_data_value("country", raw, ctx, dropped), tuple(dropped))
            if type(raw) is str:
                if len(self.country_memo) >= MEMO_LIMIT:
                    self.country_memo.clear()
                self.country_memo[raw] = hit
        return hit


_UNSEEN = object()


def memo_coerce(field: FieldPlan, raw: str) -> Any:
    """The coerced value of a text cell of a "memo" field, computed once per distinct text."""
    memo = field.memo
    value = memo.get(raw, _UNSEEN)
    if value is _UNSEEN:
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        value = memo[raw] = field.coerce(raw)
    return value


def parse_template(
    template: str, mapping: ResolvedMapping, problems: list[str]
) -> tuple[TemplatePart, ...]:
    """An event_id template such as ``"{event_name}:{order_id}"`` -> its parts; each problem
    (syntax, unknown column, no field, a column of customer information) goes to
    ``problems``, naming the ``event_id`` key and never a row's value."""
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError:
        problems.append(
            f"event_id: {template!r} is not a valid template: write fields as {{column}}, "
            f"e.g. '{{event_name}}:{{order_id}}'"
        )
        return ()
    columns = {c.casefold(): c for c in mapping.columns}
    parts: list[TemplatePart] = []
    for literal, name, spec, conversion in pieces:
        if name is None:
            parts.append((literal, None, None))
            continue
        if spec or conversion or not name:
            problems.append(
                f"event_id: {template!r}: write fields as plain {{column}} (no format specs)"
            )
            return ()
        if name in ("event_name", "event_time"):
            parts.append((literal, name, None))
        elif not columns or name.casefold() in columns:
            column = columns.get(name.casefold(), name)
            _check_personal(template, column, mapping, problems)
            parts.append((literal, None, column))
        else:
            problems.append(
                f"event_id: {template!r}: field '{name}' is not a column of the model "
                f"(nor event_name/event_time)"
            )
    if not any(p[1] or p[2] for p in parts):
        problems.append(
            f"event_id: {template!r} has no field: a constant event_id would make Meta drop "
            f"every event after the first"
        )
    return tuple(parts)


def render_template(
    parts: tuple[TemplatePart, ...], row: Mapping[str, object], event: Mapping[str, Any]
) -> str | None:
    """The event_id of one row from a parsed template; None when a field is empty or
    unreadable."""
    out: list[str] = []
    for literal, event_key, column in parts:
        out.append(literal)
        if event_key is not None:
            raw = event.get(event_key)
        elif column is not None:
            raw = row.get(column)
        else:
            continue
        if type(raw) is str and raw.isascii() and "\x00" not in raw:
            text: object = raw.strip() or None  # values.to_text, inlined
        else:
            text = None if raw is values.INVALID else values.to_text(raw)
        if not isinstance(text, str):  # empty, or unreadable (a NUL, a lone surrogate)
            return None
        out.append(text)
    return "".join(out)


def _check_personal(
    template: str, column: str, mapping: ResolvedMapping, problems: list[str]
) -> None:
    reason = personal_reason(column, (f.key for f in mapping.fields if f.column == column))
    if reason is not None:
        problems.append(
            f"event_id: {template!r} reads column '{column}', which holds customer "
            f"information ({reason}): an event_id reaches Meta and the ledger unhashed. Build "
            f"it from columns that identify the event, not the person, e.g. "
            f"'{{event_name}}:{{{mapping.identifier}}}'"
        )
