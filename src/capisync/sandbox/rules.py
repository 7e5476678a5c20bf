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
WEAK_KEYS = frozenset().union(*WEAK_KEY_COMBINATIONS)
OBJECT_KEYS = ("original_event_data", "attribution_data")
STRING_KEYS = ("event_source_url", "referrer_url", "messaging_channel", "customer_segmentation")

_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
FBC_PATTERN = re.compile(r"fb\.[0-2]\.\d+\.\S+")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4_PATTERN = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
HASHED, RAW, _EXTERNAL_ID = "hashed", "raw", "external_id"
KEY_KIND = {
    **{key: HASHED for key in MUST_BE_HASHED},
    **{key: RAW for key in MUST_NOT_BE_HASHED},
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
        kind = KEY_KIND.get(key)
        if kind is None or value is None or value == "" or value == []:
            continue
        present.append(key)
        if kind is HASHED:
            if not _all_hashes(value):
                return _not_hashed(key, index)
        elif kind is RAW:
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
    if key == "fbc" and not (isinstance(value, str) and FBC_PATTERN.fullmatch(value)):
        message = (
            f"The parameter {path(index, 'user_data', 'fbc')} must have the format "
            "fb.{subdomain_index}.{creation_time}.{fbclid}, as in the _fbc cookie."
        )
        return Violation(SUBCODE_BAD_FBC, TITLE_BAD_FBC, message)
    return None


def _is_ip(value: Any) -> bool:
    if value.__class__ is str and IPV4_PATTERN.fullmatch(value):
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
    if not WEAK_KEYS.issuperset(present):
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
