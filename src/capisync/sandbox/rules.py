"""Wire-level rules for one server event, as Meta enforces them at /{dataset_id}/events.

`check_event(event, index, now)` returns the first `Violation` of an event or None. Each
violation carries Meta's error subcode and user title, and a message that names the event as
`$['data'][index]` (Meta's own path notation) and the parameter concerned, never its value.

Nothing here is a rule of its own: the keys, their kinds, allowed values, the action sources
that need them and Meta's answer come from the table in `capi/params.py`; the limits (time
window, clock skew, extinfo, LDU codes, messaging channels and events, lead IDs) and shapes
(fbc, ctwa_clid) from `capi/rules.py`. The pre-send validator reads the same table, and
tests/unit/test_rules_agree.py holds the two sides to each other.

Pure: no I/O, no clock (time is passed in). Written for speed: a 1,000-event batch checks in
a few milliseconds (and most events take `fast_path.surely_valid` instead).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from capisync.capi import rules
from capisync.capi.kinds import IPV4_PATTERN as IPV4_PATTERN
from capisync.capi.kinds import fits, is_empty
from capisync.capi.kinds import is_hash as _is_hash
from capisync.capi.params import (
    APP_DATA_PARAMS,
    PARAMS,
    TOP_LEVEL_KEYS,
    USER_DATA_KEYS,
    Param,
)
from capisync.capi.rules import MetaError
from capisync.capi.values import iso_currencies

SUBCODE_BAD_FBC = rules.BAD_FBC.subcode
SUBCODE_TOO_OLD = rules.TOO_OLD.subcode
SUBCODE_MISSING_CURRENCY = rules.MISSING_CURRENCY.subcode
SUBCODE_NOT_HASHED = rules.NOT_HASHED.subcode
SUBCODE_PARAMETER = rules.PARAMETER.subcode
SUBCODE_INVALID_LEAD_ID = rules.INVALID_LEAD_ID.subcode
SUBCODE_INSUFFICIENT_CUSTOMER_INFO = rules.INSUFFICIENT.subcode
SUBCODE_MESSAGING_CHANNEL = rules.MESSAGING_CHANNEL_MISSING.subcode
SUBCODE_MESSAGING_EVENT = rules.MESSAGING_EVENT_TYPE.subcode
SUBCODE_CTWA_CLID = rules.INVALID_CTWA_CLID.subcode

FUTURE_SKEW_SECONDS = rules.FUTURE_SKEW_SECONDS
REQUIRED_KEYS = ("event_name", "event_time", "action_source", "user_data")
WEAK_KEYS = rules.WEAK_KEYS
# the kinds of user_data value the fast path can judge by itself
HASHED, RAW = "hash", "raw"
KEY_KIND: dict[str, str] = {key: PARAMS[key].kind for key in USER_DATA_KEYS}

_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
FBC_PATTERN = rules.FBC_SHAPE


@dataclass(frozen=True, slots=True)
class Violation:
    subcode: int
    title: str
    message: str  # names the event and the parameter, never a customer value


def path(index: int, *keys: str | int) -> str:
    return f"$['data'][{index}]" + "".join(
        f"[{k}]" if isinstance(k, int) else f"['{k}']" for k in keys
    )


def _violation(
    error: MetaError, index: int, keys: tuple[str | int, ...], problem: str
) -> Violation:
    return Violation(error.subcode, error.title, f"The parameter {path(index, *keys)} {problem}.")


def _parameter(index: int, keys: tuple[str | int, ...], problem: str) -> Violation:
    return _violation(rules.PARAMETER, index, keys, problem)


def _required(index: int, *keys: str | int) -> Violation:
    return _parameter(index, keys, "is required")


def _wrong(param: Param, index: int, *keys: str | int) -> Violation:
    """The table's answer for a value of the wrong kind."""
    return _violation(param.error, index, keys, param.problem)


def check_event(event: Any, index: int, now: float) -> Violation | None:
    """The first rule `event` breaks, or None when Meta would accept it."""
    if not isinstance(event, dict):
        return Violation(
            SUBCODE_PARAMETER,
            rules.PARAMETER.title,
            f"{path(index)} must be a JSON object (an event).",
        )
    for check in _CHECKS:
        violation = check(event, index, now)
        if violation is not None:
            return violation
    return None


@cache
def iso_4217_codes() -> frozenset[str]:
    """The ISO 4217 codes (the fast path's set; the table's kinds read the same one)."""
    return iso_currencies()


# ---- the checks, in the order Meta answers them --------------------------------------------


def _check_keys(event: dict[str, Any], index: int, now: float) -> Violation | None:
    for key in event:
        if key not in TOP_LEVEL_KEYS:
            # name the key only when it looks like a parameter name, not like sent data
            shown = key if _PARAMETER_NAME.fullmatch(key) else "(unnamed)"
            known = PARAMS.get(shown)
            where = f" (it goes inside {known.section})" if known is not None else ""
            return _parameter(index, (shown,), f"is not a valid parameter of a server event{where}")
    for key in REQUIRED_KEYS:
        if event.get(key) is None:
            return _required(index, key)
    for key in ("user_data", "custom_data", "attribution_data"):
        value = event.get(key)
        if value is not None and type(value) is not dict:
            return _parameter(index, (key,), "must be a JSON object")
    for key, value in event.items():
        param = PARAMS.get(key)
        if (
            param is not None
            and param.section == "event"
            and value is not None
            and not fits(param, value)
        ):
            return _wrong(param, index, key)
    return None


def _check_time(event: dict[str, Any], index: int, now: float) -> Violation | None:
    event_time = event["event_time"]
    if event_time > now + FUTURE_SKEW_SECONDS:
        return _parameter(
            index,
            ("event_time",),
            "is in the future: send UNIX seconds (not milliseconds) of when the event happened",
        )
    max_age = rules.max_age_seconds(event["action_source"])
    if now - event_time > max_age:
        return _too_old(index, max_age // rules.DAY_SECONDS)
    return None


def _too_old(index: int, days: int) -> Violation:
    message = (
        "The timestamp for this event is too far in the past. Events need to be sent from your "
        f"server within {days} days of when they occurred. Enter a timestamp that has occurred "
        f"within the last {days} days. Event: {path(index, 'event_time')}."
    )
    return Violation(SUBCODE_TOO_OLD, rules.TOO_OLD.title, message)


def _check_user_data(event: dict[str, Any], index: int, now: float) -> Violation | None:
    user_data = event["user_data"]
    present: list[str] = []
    for key, value in user_data.items():
        param = PARAMS.get(key)
        if param is None or param.section != "user_data" or is_empty(value):
            continue
        present.append(key)
        if not fits(param, value):
            if param.kind not in _MAY_BE_HASHED and _is_hash(value):
                return _parameter(
                    index,
                    ("user_data", key),
                    "must not be hashed: Meta expects this parameter as is",
                )
            return _wrong(param, index, "user_data", key)
    return _check_key_strength(present, index)


_MAY_BE_HASHED = frozenset({"hash", "external_id"})


def _check_key_strength(present: list[str], index: int) -> Violation | None:
    if not present:
        message = (
            f"The event {path(index)} has no customer information parameters in user_data. "
            "Send at least one of em, ph, external_id, fbp, fbc, client_ip_address..."
        )
        return Violation(SUBCODE_INSUFFICIENT_CUSTOMER_INFO, rules.INSUFFICIENT.title, message)
    if not WEAK_KEYS.issuperset(present):
        return None  # a key outside every weak combination: strong enough
    keys = frozenset(present)
    for combination in rules.WEAK_KEY_COMBINATIONS:
        if keys <= combination:
            message = (
                f"The customer information parameters of {path(index, 'user_data')} "
                f"({', '.join(sorted(keys))}) are only a subset of a combination Meta cannot "
                f"match on ({', '.join(sorted(combination))}). Add a stronger key such as em, "
                "ph, external_id, fbp or client_ip_address."
            )
            return Violation(SUBCODE_INSUFFICIENT_CUSTOMER_INFO, rules.INSUFFICIENT.title, message)
    return None


def _check_required_by_source(event: dict[str, Any], index: int, now: float) -> Violation | None:
    """Keys the event's action_source needs (website: url and user agent; app: app_data;
    business_messaging: messaging_channel), as the table's ``required_for`` says."""
    source = event["action_source"]
    for key in _REQUIRED_FOR.get(source, ()):
        param = PARAMS[key]
        holder = event["user_data"] if param.section == "user_data" else event
        if is_empty(holder.get(key)) or holder.get(key) == {}:
            keys = ("user_data", key) if param.section == "user_data" else (key,)
            if key == "messaging_channel":
                return _violation(
                    rules.MESSAGING_CHANNEL_MISSING,
                    index,
                    keys,
                    "is required for business_messaging events: whatsapp, messenger or instagram",
                )
            return _parameter(index, keys, f"is required for {source} events")
    return None


_REQUIRED_FOR: dict[str, tuple[str, ...]] = {
    source: tuple(key for key, param in PARAMS.items() if source in param.required_for)
    for source in rules.ACTION_SOURCES
}


def _check_custom_data(event: dict[str, Any], index: int, now: float) -> Violation | None:
    custom = event.get("custom_data") or {}
    if event["event_name"] == "Purchase":
        if custom.get("currency") is None:
            message = f"{rules.MISSING_CURRENCY_MESSAGE}. Event: {path(index, 'custom_data')}."
            return Violation(SUBCODE_MISSING_CURRENCY, rules.MISSING_CURRENCY.title, message)
        if custom.get("value") is None:
            return _parameter(index, ("custom_data", "value"), "is required for Purchase events")
    for key, value in custom.items():
        param = PARAMS.get(key)
        if param is None or param.section != "custom_data" or value is None:
            continue  # a custom property: anything JSON carries
        if param.kind == "text":
            continue  # content_name, order_id...: Meta takes numbers there too
        if not fits(param, value):
            return _wrong(param, index, "custom_data", key)
    return _check_contents(custom.get("contents"), index)


def _check_contents(contents: Any, index: int) -> Violation | None:
    for position, item in enumerate(contents or ()):
        if not isinstance(item, dict):
            return _parameter(index, ("custom_data", "contents", position), "must be a JSON object")
        item_id = item.get("id")
        if item_id is None or item_id == "" or isinstance(item_id, bool):
            return _required(index, "custom_data", "contents", position, "id")
    return None


def _check_app_data(event: dict[str, Any], index: int, now: float) -> Violation | None:
    app_data = event.get("app_data")
    if app_data is None:
        return None  # required for app events: _check_required_by_source
    if app_data.get(rules.APP_FLAG_REQUIRED) is None:
        return _required(index, "app_data", rules.APP_FLAG_REQUIRED)
    if app_data.get("extinfo") is None:
        return _required(index, "app_data", "extinfo")
    for key, param in APP_DATA_PARAMS.items():
        value = app_data.get(key)
        if value is not None and not fits(param, value):
            return _wrong(param, index, "app_data", key)
    return None


def _check_processing_options(event: dict[str, Any], index: int, now: float) -> Violation | None:
    options = event.get("data_processing_options")
    if not options:
        return None
    country, state = event.get(rules.LDU_COUNTRY), event.get(rules.LDU_STATE)
    if country is None:
        return _parameter(index, (rules.LDU_COUNTRY,), f"is required with LDU. {rules.LDU_HOW_TO}")
    if country not in rules.LDU_COUNTRIES:
        return _parameter(index, (rules.LDU_COUNTRY,), f"must be 0 or 1. {rules.LDU_HOW_TO}")
    if state is None and not event["user_data"].get("client_ip_address"):
        return _parameter(
            index,
            (rules.LDU_STATE,),
            f"is required with LDU when the event has no client_ip_address. {rules.LDU_HOW_TO}",
        )
    if state is not None and state not in rules.LDU_STATES:
        return _parameter(index, (rules.LDU_STATE,), f"must be 0 or 1000. {rules.LDU_HOW_TO}")
    return None


def _check_messaging(event: dict[str, Any], index: int, now: float) -> Violation | None:
    if event["action_source"] != rules.MESSAGING_SOURCE:
        return None
    if event["event_name"] not in rules.MESSAGING_EVENTS:
        allowed = ", ".join(sorted(rules.MESSAGING_EVENTS))
        message = (
            f"The event_name of {path(index)} is not an event Meta takes for business "
            f"messaging. Use one of {allowed}."
        )
        return Violation(SUBCODE_MESSAGING_EVENT, rules.MESSAGING_EVENT_TYPE.title, message)
    channel = event["messaging_channel"]
    user_data = event["user_data"]
    for key in rules.MESSAGING_CHANNEL_KEYS[channel]:
        if is_empty(user_data.get(key)):
            error = PARAMS[key].error
            return _violation(error, index, ("user_data", key), f"is required for {channel} events")
    return None


_CHECKS: tuple[Callable[[dict[str, Any], int, float], Violation | None], ...] = (
    _check_keys,  # after it: the required keys are there and every known key has its kind
    _check_time,
    _check_user_data,
    _check_required_by_source,
    _check_custom_data,
    _check_app_data,
    _check_processing_options,
    _check_messaging,
)
