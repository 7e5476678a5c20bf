"""The sandbox's fast check: most events are valid and of one common shape.

`surely_valid` checks that shape inline (exact types, precomputed sets, no error text, no
per-rule calls). It answers True only when every rule in `rules.py` surely passes, and False
when unsure; then the detailed rules run, and they alone decide and word Meta's answer. It must
never accept what `rules.check_event` refuses (tests/unit/test_sandbox_fast_path.py holds it
to that). `check_batch` puts the two together.
"""

from __future__ import annotations

from typing import Any

from capisync.capi import rules
from capisync.capi.params import CUSTOM_DATA_KEYS, PARAMS, USER_DATA_KEYS
from capisync.sandbox.rules import (
    FBC_PATTERN,
    FUTURE_SKEW_SECONDS,
    HASHED,
    IPV4_PATTERN,
    KEY_KIND,
    RAW,
    WEAK_KEYS,
    Violation,
    check_event,
    iso_4217_codes,
)


def check_batch(events: list[Any], now: float) -> tuple[int, Violation] | None:
    """The first failing event of a batch with its index; one bad event rejects all.

    Each event first takes the fast path (`surely_valid`); only when it is unsure do the
    detailed rules run, and they alone decide and word the answer."""
    currencies = iso_4217_codes()
    for index, event in enumerate(events):
        if surely_valid(event, now, currencies):
            continue
        violation = check_event(event, index, now)
        if violation is not None:
            return index, violation
    return None


_CORE_KEYS = frozenset(
    {
        "event_name",
        "event_time",
        "event_id",
        "action_source",
        "event_source_url",
        "user_data",
        "custom_data",
    }
)
_EXTRA_KEYS = frozenset(
    {
        "opt_out",
        "referrer_url",
        "messaging_channel",
        "data_processing_options",
        rules.LDU_COUNTRY,
        rules.LDU_STATE,
    }
)
_FAST_KEYS = _CORE_KEYS | _EXTRA_KEYS
# app events need app_data, business messaging its channel's keys: the detailed rules
_FAST_SOURCES = rules.ACTION_SOURCES - {"app", rules.MESSAGING_SOURCE}
_STRONG_KEYS = USER_DATA_KEYS - WEAK_KEYS
# custom_data keys whose rule is more than "a number or a known currency": the detailed rules
_RULED_CUSTOM = frozenset(
    key
    for key in CUSTOM_DATA_KEYS
    if PARAMS[key].kind not in ("text", "number", "currency", "strings", "contents")
    or key in ("predicted_ltv", "net_revenue")
)
_NO_LDU: list[str] = []
_LDU = [rules.LDU]


def surely_valid(event: Any, now: float, currencies: frozenset[str]) -> bool:
    """True only when `check_event` surely accepts `event`; False means "ask the rules"."""
    if event.__class__ is not dict or not event.keys() <= _FAST_KEYS:
        return False
    name, source = event.get("event_name"), event.get("action_source")
    if name.__class__ is not str or source.__class__ is not str or source not in _FAST_SOURCES:
        return False
    event_id, event_time = event.get("event_id"), event.get("event_time")
    if not name.strip() or not (
        event_id is None or event_id.__class__ is str or event_id.__class__ is int
    ):
        return False
    # the same expressions as _check_time, so float rounding cannot differ at the edges
    if event_time.__class__ is not int or event_time > now + FUTURE_SKEW_SECONDS:
        return False
    if now - event_time > rules.max_age_seconds(source):
        return False
    url, user_data = event.get("event_source_url", ""), event.get("user_data")
    if url.__class__ is not str or user_data.__class__ is not dict:
        return False  # a present event_source_url must be a string, even null is refused
    if source == "website" and not (url and user_data.get("client_user_agent")):
        return False
    return (
        _fast_user_data(user_data)
        and _fast_custom_data(event.get("custom_data"), name == "Purchase", currencies)
        and (event.keys() <= _CORE_KEYS or _fast_extras(event))
    )


def _fast_user_data(user_data: dict[str, Any]) -> bool:
    """Known keys only, none empty, one strong key; hashes are 64 hex digits, raw values are
    non-empty strings that cannot be hashes (not 64 long)."""
    if not user_data.keys() <= USER_DATA_KEYS or user_data.keys().isdisjoint(_STRONG_KEYS):
        return False
    fromhex = bytes.fromhex
    try:
        for key, value in user_data.items():
            kind = KEY_KIND[key]
            if kind == HASHED:
                if value.__class__ is not list:
                    value = [value]  # rare: one hash as a plain string
                if not value:
                    return False
                for item in value:
                    if item.__class__ is not str or len(item) != 64 or len(fromhex(item)) != 32:
                        return False
            elif kind in _FAST_RAW:
                if value.__class__ is not str or not value or len(value) == 64:
                    return False
                if kind == "ip" and not IPV4_PATTERN.fullmatch(value):
                    return False
                if kind == "fbc" and not FBC_PATTERN.fullmatch(value):
                    return False
            elif kind != "external_id" or not _fast_strings(value):
                return False  # lead_id, fb_login_id, ctwa_clid...: the detailed rules
    except ValueError:  # bytes.fromhex: not hex
        return False
    return True


_FAST_RAW = frozenset({RAW, "ip", "fbc", "fbp"})


def _fast_strings(value: Any) -> bool:
    items = value if value.__class__ is list else [value]
    return bool(items) and all(item.__class__ is str and item for item in items)


def _fast_custom_data(custom: Any, purchase: bool, currencies: frozenset[str]) -> bool:
    if custom is None:
        return not purchase
    if custom.__class__ is not dict or not custom.keys().isdisjoint(_RULED_CUSTOM):
        return False
    value, currency = custom.get("value"), custom.get("currency")
    if purchase and (value is None or currency is None):
        return False
    if value is not None and not (
        value.__class__ is int or (value.__class__ is float and value - value == 0.0)
    ):
        return False  # a numeric string, inf or NaN: the detailed rules
    if currency is not None and (currency.__class__ is not str or currency not in currencies):
        return False
    content_ids, contents = custom.get("content_ids"), custom.get("contents")
    if content_ids is not None and not (
        content_ids.__class__ is list and (not content_ids or _fast_strings(content_ids))
    ):
        return False
    return contents is None or _fast_contents(contents)


def _fast_contents(contents: Any) -> bool:
    if contents.__class__ is not list:
        return False
    for item in contents:
        if item.__class__ is not dict:
            return False
        item_id = item.get("id")
        if item_id is None or item_id == "" or item_id.__class__ is bool:
            return False
    return True


def _fast_extras(event: dict[str, Any]) -> bool:
    """The optional top-level keys capisync may send, beside the core ones."""
    if "opt_out" in event and event["opt_out"].__class__ is not bool:
        return False
    referrer, channel = event.get("referrer_url"), event.get("messaging_channel")
    if referrer is not None and referrer.__class__ is not str:
        return False
    if channel is not None and not (
        channel.__class__ is str and channel in rules.MESSAGING_CHANNELS
    ):
        return False
    for key in (rules.LDU_COUNTRY, rules.LDU_STATE):
        number = event.get(key)
        if number is not None and number.__class__ is not int:
            return False
    options = event.get("data_processing_options")
    if options is None or options == _NO_LDU:
        return True
    # LDU: the documented codes, both given (without a state it depends on the IP)
    return (
        options == _LDU
        and event.get(rules.LDU_COUNTRY) in rules.LDU_COUNTRIES
        and event.get(rules.LDU_STATE) in rules.LDU_STATES
    )
