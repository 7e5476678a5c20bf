"""Wire-level rules for one server event, as Meta enforces them at /{dataset_id}/events.

`check_event(event, index, now)` returns the first `Violation` of an event or None. Each
violation carries Meta's error subcode and user title, and a message that names the event as
`$['data'][index]` (Meta's own path notation) and the parameter concerned, never its value.

Rules (spec sections 2-4, Meta's "Server event parameters", "Customer information parameters",
"Custom data", "App data"): required keys, event_name, event_time window, action_source,
website fields, user_data with at least one customer key and not only a weak combination,
hashed keys as SHA-256 hex, keys Meta wants raw not hashed, fbc shape, custom_data value and
currency, contents ids, app_data for app events, LDU options, no unknown top-level key.

Pure: no I/O, no clock (time is passed in). Written for speed: a 1,000-event batch checks in
a few milliseconds.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from capisync.capi.params import (
    ACTION_SOURCES,
    EVENT_MAX_AGE_SECONDS,
    HASHED_KEYS,
    PARAMS,
    PHYSICAL_STORE_MAX_AGE_SECONDS,
    USER_DATA_KEYS,
    WEAK_KEY_COMBINATIONS,
)

SUBCODE_BAD_FBC = 2804001
SUBCODE_TOO_OLD = 2804003
SUBCODE_NOT_HASHED = 2804016
SUBCODE_PARAMETER = 2804019
SUBCODE_INSUFFICIENT_CUSTOMER_INFO = 2804050

TITLE_PARAMETER = "Server-side API parameter error"
TITLE_TOO_OLD = "Event Timestamp Too Old"
TITLE_NOT_HASHED = "Customer Information Not Hashed"
TITLE_BAD_FBC = "Invalid fbc Parameter"
TITLE_INSUFFICIENT = (
    "You haven't added sufficient customer information parameter data for this event"
)

FUTURE_SKEW_SECONDS = 60  # clocks differ a little; Meta tolerates a small skew
REQUIRED_KEYS = ("event_name", "event_time", "action_source", "user_data")
EVENT_KEYS = frozenset(
    {k for k, p in PARAMS.items() if p.section == "event"}
    | {"user_data", "custom_data", "attribution_data", "advanced_measurement_table"}
)
# external_id: Meta *recommends* hashing it and accepts it raw, so it is not checked here.
MUST_BE_HASHED = HASHED_KEYS - {"external_id"}
MUST_NOT_BE_HASHED = USER_DATA_KEYS - HASHED_KEYS
_WEAK_KEYS = frozenset().union(*WEAK_KEY_COMBINATIONS)
OBJECT_KEYS = ("original_event_data", "attribution_data")
STRING_KEYS = ("event_source_url", "referrer_url", "messaging_channel", "customer_segmentation")

_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_FBC = re.compile(r"fb\.[0-2]\.\d+\.\S+")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_HASHED, _RAW, _EXTERNAL_ID = "hashed", "raw", "external_id"
_KEY_KIND = {
    **{key: _HASHED for key in MUST_BE_HASHED},
    **{key: _RAW for key in MUST_NOT_BE_HASHED},
    "external_id": _EXTERNAL_ID,
}


@dataclass(frozen=True, slots=True)
class Violation:
    subcode: int
    title: str
    message: str  # names the event and the parameter, never a customer value


def path(index: int, *keys: str | int) -> str:
    return f"$['data'][{index}]" + "".join(
        f"[{k}]" if isinstance(k, int) else f"['{k}']" for k in keys
    )


def _parameter(index: int, keys: tuple[str | int, ...], problem: str) -> Violation:
    message = f"The parameter {path(index, *keys)} {problem}."
    return Violation(SUBCODE_PARAMETER, TITLE_PARAMETER, message)


def _required(index: int, *keys: str | int) -> Violation:
    return _parameter(index, keys, "is required")


def check_event(event: Any, index: int, now: float) -> Violation | None:
    """The first rule `event` breaks, or None when Meta would accept it."""
    if not isinstance(event, dict):
        return Violation(
            SUBCODE_PARAMETER, TITLE_PARAMETER, f"{path(index)} must be a JSON object (an event)."
        )
    for check in _CHECKS:
        violation = check(event, index, now)
        if violation is not None:
            return violation
    return None


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


def _check_keys(event: dict[str, Any], index: int, now: float) -> Violation | None:
    for key in event:
        if key not in EVENT_KEYS:
            # name the key only when it looks like a parameter name, not like sent data
            shown = key if _PARAMETER_NAME.fullmatch(key) else "(unnamed)"
            return _parameter(index, (shown,), "is not a valid parameter of a server event")
    for key in REQUIRED_KEYS:
        if event.get(key) is None:
            return _required(index, key)
    for key in OBJECT_KEYS:
        if key in event and not isinstance(event[key], dict):
            return _parameter(index, (key,), "must be a JSON object")
    for key in STRING_KEYS:
        if key in event and not isinstance(event[key], str):
            return _parameter(index, (key,), "must be a string")
    return None


def _check_basics(event: dict[str, Any], index: int, now: float) -> Violation | None:
    name = event["event_name"]
    if not isinstance(name, str) or not name.strip():
        return _parameter(index, ("event_name",), "must be a non-empty string")
    event_id = event.get("event_id")
    if event_id is not None and (isinstance(event_id, bool) or not isinstance(event_id, str | int)):
        return _parameter(index, ("event_id",), "must be a string")
    if "opt_out" in event and not isinstance(event["opt_out"], bool):
        return _parameter(index, ("opt_out",), "must be a boolean")
    source = event["action_source"]
    if not isinstance(source, str) or source not in ACTION_SOURCES:  # a list is unhashable
        allowed = ", ".join(sorted(ACTION_SOURCES))
        return _parameter(index, ("action_source",), f"must be one of: {allowed}")
    return None


def _check_time(event: dict[str, Any], index: int, now: float) -> Violation | None:
    event_time = event["event_time"]
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        return _parameter(index, ("event_time",), "must be an integer UNIX time in seconds")
    if event_time > now + FUTURE_SKEW_SECONDS:
        return _parameter(
            index,
            ("event_time",),
            "is in the future: send UNIX seconds (not milliseconds) of when the event happened",
        )
    physical = event["action_source"] == "physical_store"
    max_age = PHYSICAL_STORE_MAX_AGE_SECONDS if physical else EVENT_MAX_AGE_SECONDS
    if now - event_time > max_age:
        return _too_old(index, max_age // 86400)
    return None


def _too_old(index: int, days: int) -> Violation:
    message = (
        "The timestamp for this event is too far in the past. Events need to be sent from your "
        f"server within {days} days of when they occurred. Enter a timestamp that has occurred "
        f"within the last {days} days. Event: {path(index, 'event_time')}."
    )
    return Violation(SUBCODE_TOO_OLD, TITLE_TOO_OLD, message)


def _check_website(event: dict[str, Any], index: int, now: float) -> Violation | None:
    if event["action_source"] != "website":
        return None
    if not event.get("event_source_url"):
        return _parameter(index, ("event_source_url",), "is required for website events")
    user_data = event["user_data"]
    if isinstance(user_data, dict) and not user_data.get("client_user_agent"):
        return _parameter(
            index, ("user_data", "client_user_agent"), "is required for website events"
        )
    return None


def _check_user_data(event: dict[str, Any], index: int, now: float) -> Violation | None:
    user_data = event["user_data"]
    if not isinstance(user_data, dict):
        return _parameter(index, ("user_data",), "must be a JSON object")
    present: list[str] = []
    for key, value in user_data.items():
        kind = _KEY_KIND.get(key)
        if kind is None or value is None or value == "" or value == []:
            continue
        present.append(key)
        if kind is _HASHED:
            if not _all_hashes(value):
                return _not_hashed(key, index)
        elif kind is _RAW:
            violation = _check_raw_value(key, value, index)
            if violation is not None:
                return violation
        elif not _strings(value):
            return _parameter(index, ("user_data", key), "must be a string or a list of strings")
    return _check_key_strength(present, index)


def _all_hashes(value: Any) -> bool:
    if value.__class__ is not list:
        return _is_hash(value)
    for item in value:  # noqa: SIM110 - a plain loop beats all(generator) in this hot path
        if not _is_hash(item):
            return False
    return True


def _is_hash(value: Any) -> bool:
    """64 hex digits. bytes.fromhex is C-fast; it skips spaces, so 32 bytes proves 64 digits."""
    if value.__class__ is not str or len(value) != 64:
        return False
    try:
        return len(bytes.fromhex(value)) == 32
    except ValueError:
        return False


def _strings(value: Any) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, str | int) and not isinstance(v, bool) for v in value)
    return isinstance(value, str | int) and not isinstance(value, bool)


def _not_hashed(key: str, index: int) -> Violation:
    message = (
        f"The parameter {path(index, 'user_data', key)} must be SHA-256 hashed: a 64-character "
        "hex string, or a list of them. Normalize the value as Meta documents, then hash it."
    )
    return Violation(SUBCODE_NOT_HASHED, TITLE_NOT_HASHED, message)


def _check_raw_value(key: str, value: Any, index: int) -> Violation | None:
    if value.__class__ is not str and value.__class__ is not int:
        return _parameter(index, ("user_data", key), "must be a string")
    if _is_hash(value):
        return _parameter(
            index, ("user_data", key), "must not be hashed: Meta expects this parameter as is"
        )
    if key == "client_ip_address" and not _is_ip(value):
        return _parameter(index, ("user_data", key), "must be a valid IPv4 or IPv6 address")
    if key == "fbc" and not (isinstance(value, str) and _FBC.fullmatch(value)):
        message = (
            f"The parameter {path(index, 'user_data', 'fbc')} must have the format "
            "fb.{subdomain_index}.{creation_time}.{fbclid}, as in the _fbc cookie."
        )
        return Violation(SUBCODE_BAD_FBC, TITLE_BAD_FBC, message)
    return None


def _is_ip(value: Any) -> bool:
    if value.__class__ is str and _IPV4.fullmatch(value):
        return True  # the common case, without ipaddress's slower parser
    try:
        ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        return False
    return True


def _check_key_strength(present: list[str], index: int) -> Violation | None:
    if not present:
        message = (
            f"The event {path(index)} has no customer information parameters in user_data. "
            "Send at least one of em, ph, external_id, fbp, fbc, client_ip_address..."
        )
        return Violation(SUBCODE_INSUFFICIENT_CUSTOMER_INFO, TITLE_INSUFFICIENT, message)
    if not _WEAK_KEYS.issuperset(present):
        return None  # a key outside every weak combination: strong enough
    keys = frozenset(present)
    for combination in WEAK_KEY_COMBINATIONS:
        if keys <= combination:
            message = (
                f"The customer information parameters of {path(index, 'user_data')} "
                f"({', '.join(sorted(keys))}) are only a subset of a combination Meta cannot "
                f"match on ({', '.join(sorted(combination))}). Add a stronger key such as em, "
                "ph, external_id, fbp or client_ip_address."
            )
            return Violation(SUBCODE_INSUFFICIENT_CUSTOMER_INFO, TITLE_INSUFFICIENT, message)
    return None


def _check_custom_data(event: dict[str, Any], index: int, now: float) -> Violation | None:
    custom = event.get("custom_data")
    if custom is None:
        if event["event_name"] == "Purchase":
            return _parameter(index, ("custom_data",), "is required for Purchase events")
        return None
    if not isinstance(custom, dict):
        return _parameter(index, ("custom_data",), "must be a JSON object")
    if event["event_name"] == "Purchase":
        for key in ("value", "currency"):
            if custom.get(key) is None:
                return _parameter(index, ("custom_data", key), "is required for Purchase events")
    return _check_custom_values(custom, index) or _check_contents(custom, index)


def _check_custom_values(custom: dict[str, Any], index: int) -> Violation | None:
    value = custom.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        return _parameter(index, ("custom_data", "value"), "must be a number")
    currency = custom.get("currency")
    if currency is not None and (
        not isinstance(currency, str) or currency.upper() not in iso_4217_codes()
    ):
        return _parameter(index, ("custom_data", "currency"), "must be an ISO 4217 currency code")
    content_ids = custom.get("content_ids")
    if content_ids is not None and not (isinstance(content_ids, list) and _strings(content_ids)):
        return _parameter(index, ("custom_data", "content_ids"), "must be a list of strings")
    return None


def _check_contents(custom: dict[str, Any], index: int) -> Violation | None:
    contents = custom.get("contents")
    if contents is None:
        return None
    if not isinstance(contents, list):
        return _parameter(index, ("custom_data", "contents"), "must be a list of objects")
    for position, item in enumerate(contents):
        if not isinstance(item, dict):
            return _parameter(index, ("custom_data", "contents", position), "must be a JSON object")
        item_id = item.get("id")
        if item_id is None or item_id == "" or isinstance(item_id, bool):
            return _required(index, "custom_data", "contents", position, "id")
    return None


@cache
def iso_4217_codes() -> frozenset[str]:
    import pycountry  # loaded once, on first use

    return frozenset(c.alpha_3 for c in pycountry.currencies)


def _check_app_data(event: dict[str, Any], index: int, now: float) -> Violation | None:
    app_data = event.get("app_data")
    if app_data is None:
        return _required(index, "app_data") if event["action_source"] == "app" else None
    if not isinstance(app_data, dict):
        return _parameter(index, ("app_data",), "must be a JSON object")
    for key in ("advertiser_tracking_enabled", "application_tracking_enabled"):
        flag = app_data.get(key)
        if flag is None and key == "advertiser_tracking_enabled":
            return _required(index, "app_data", key)
        if flag is not None and flag not in (0, 1):
            return _parameter(index, ("app_data", key), "must be 0 or 1")
    return _check_extinfo(app_data.get("extinfo"), index)


def _check_extinfo(extinfo: Any, index: int) -> Violation | None:
    if extinfo is None:
        return _required(index, "app_data", "extinfo")
    if not isinstance(extinfo, list) or len(extinfo) != 16:
        return _parameter(
            index,
            ("app_data", "extinfo"),
            "must be an array of 16 values (use empty strings for unknown slots)",
        )
    if extinfo[0] not in ("a2", "i2"):
        return _parameter(index, ("app_data", "extinfo", 0), "must be a2 (Android) or i2 (iOS)")
    return None


def _check_processing_options(event: dict[str, Any], index: int, now: float) -> Violation | None:
    options = event.get("data_processing_options")
    if options is not None and (not isinstance(options, list) or any(o != "LDU" for o in options)):
        return _parameter(index, ("data_processing_options",), 'must be ["LDU"] or []')
    for key in ("data_processing_options_country", "data_processing_options_state"):
        number = event.get(key)
        if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
            return _parameter(index, (key,), "must be an integer (0 lets Meta geolocate)")
    return None


_CHECKS: tuple[Callable[[dict[str, Any], int, float], Violation | None], ...] = (
    _check_keys,
    _check_basics,
    _check_time,
    _check_user_data,
    _check_website,
    _check_custom_data,
    _check_app_data,
    _check_processing_options,
)


# The fast path. Nearly every event is valid and of one common shape: `surely_valid` checks that
# shape inline (exact types, precomputed sets, no error text, no per-rule calls). It answers
# True only when every rule above surely passes, and False when unsure; it must never accept
# what `check_event` refuses (tests/unit/test_sandbox_fast_path.py holds it to that).
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
        "customer_segmentation",
        "data_processing_options",
        "data_processing_options_country",
        "data_processing_options_state",
    }
)
_FAST_KEYS = _CORE_KEYS | _EXTRA_KEYS
_FAST_SOURCES = ACTION_SOURCES - {"app"}  # app events need app_data: the detailed rules
_STRONG_KEYS = USER_DATA_KEYS - _WEAK_KEYS
_NO_LDU: list[str] = []
_LDU = ["LDU"]


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
    physical = source == "physical_store"
    if now - event_time > (PHYSICAL_STORE_MAX_AGE_SECONDS if physical else EVENT_MAX_AGE_SECONDS):
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
            kind = _KEY_KIND[key]
            if kind is _HASHED:
                if value.__class__ is not list:
                    value = [value]  # rare: one hash as a plain string
                if not value:
                    return False
                for item in value:
                    if item.__class__ is not str or len(item) != 64 or len(fromhex(item)) != 32:
                        return False
            elif kind is _RAW:
                if value.__class__ is not str or not value or len(value) == 64:
                    return False
                if key == "client_ip_address" and not _IPV4.fullmatch(value):
                    return False
                if key == "fbc" and not _FBC.fullmatch(value):
                    return False
            elif not _fast_strings(value):
                return False
    except ValueError:  # bytes.fromhex: not hex
        return False
    return True


def _fast_strings(value: Any) -> bool:
    items = value if value.__class__ is list else [value]
    return bool(items) and all(item.__class__ is str and item for item in items)


def _fast_custom_data(custom: Any, purchase: bool, currencies: frozenset[str]) -> bool:
    if custom is None:
        return not purchase
    if custom.__class__ is not dict:
        return False
    value, currency = custom.get("value"), custom.get("currency")
    if purchase and (value is None or currency is None):
        return False
    if value is not None and value.__class__ is not float and value.__class__ is not int:
        return False
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
    for key in ("referrer_url", "messaging_channel", "customer_segmentation"):
        if key in event and event[key].__class__ is not str:
            return False
    options = event.get("data_processing_options")
    if options is not None and options != _NO_LDU and options != _LDU:
        return False
    for key in ("data_processing_options_country", "data_processing_options_state"):
        number = event.get(key)
        if number is not None and number.__class__ is not int:
            return False
    return True
