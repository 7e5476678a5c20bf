"""Event-level rules: what Meta would refuse, found before any batch is built.

``validate_event`` reads one event in wire shape (a dict as it would be POSTed) and returns
the reasons it cannot be sent, each an ``Issue`` with a machine-readable code and a sentence
that says how to fix it. ``check_event`` is its per-row path for the event builder, which has
already coerced and normalized every value (and dropped, with a warning, the optional values
whose rule says ``on_bad="drop"``). Messages never quote a row's values.

The rules are not written here: the keys, their kinds and allowed values come from the table
in ``capi/params.py`` (``kinds.fits`` says whether a value is valid), the limits from
``capi/rules.py``; the sandbox reads the same, and tests/unit/test_rules_agree.py holds the two
sides to each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from capisync.capi import rules
from capisync.capi.issues import Issue
from capisync.capi.kinds import fits, is_empty
from capisync.capi.params import APP_DATA_PARAMS, PARAMS, TOP_LEVEL_KEYS, Param
from capisync.capi.rules import (
    ACTION_SOURCES,
    CONTENT_TYPES,
    FUTURE_SKEW_SECONDS,
    WEAK_KEY_COMBINATIONS,
    WEAK_KEYS,
)
from capisync.capi.values import iso_currencies

__all__ = ["CONTENT_TYPES", "check_event", "customer_keys", "is_expired", "validate_event"]

MONEY_KEYS = ("value", "predicted_ltv", "net_revenue")
_DAY = rules.DAY_SECONDS
_SOURCES_TEXT = ", ".join(sorted(ACTION_SOURCES))
_CURRENCIES = iso_currencies()
_ABSENT = object()
# custom_data keys with a rule beyond value and currency (enums, lists, integers)
_OTHER_RULED_CUSTOM = frozenset(
    k
    for k, p in PARAMS.items()
    if p.section == "custom_data" and p.kind != "text" and k not in ("value", "currency")
)
_RULED_CUSTOM = tuple(
    (k, p) for k, p in PARAMS.items() if p.section == "custom_data" and k in _OTHER_RULED_CUSTOM
)


def validate_event(
    event: Mapping[str, Any], *, now: int, time_column: str = "event_time"
) -> list[Issue]:
    """Every reason Meta would refuse ``event`` at UNIX time ``now``; empty when it may go.

    Besides the event-level rules of ``check_event``, every known top-level and user_data value
    must be of its kind (the builder guarantees that for the events it makes).
    ``time_column`` names the model column behind event_time, for the WHERE filter that a
    too-old message suggests.
    """
    user_data = event.get("user_data")
    keys = customer_keys(user_data) if isinstance(user_data, Mapping) else frozenset()
    reasons = check_event(event, keys, now=now, time_column=time_column)
    for key, value in event.items():
        if key not in TOP_LEVEL_KEYS:
            reasons.append(_unknown_top_level(key))
            continue
        param = PARAMS.get(key)
        if (
            param is not None
            and param.section == "event"
            and value is not None
            and key not in _CHECKED_BY_EVENT_RULES
            and not fits(param, value)
        ):
            reasons.append(_invalid(param, key))
    if isinstance(user_data, Mapping):
        for key in keys:
            param = PARAMS.get(key)
            if (
                param is not None
                and param.section == "user_data"
                and not fits(param, user_data[key])
            ):
                reasons.append(_invalid(param, f"user_data.{key}"))
    return reasons


_CHECKED_BY_EVENT_RULES = frozenset(
    {
        "event_name",
        "event_time",
        "action_source",
        "data_processing_options",
        "messaging_channel",
        "app_data",
    }
)


def check_event(
    event: Mapping[str, Any], keys: AbstractSet[str], *, now: int, time_column: str = "event_time"
) -> list[Issue]:
    """``validate_event``'s event-level rules with the customer keys already known (the event
    builder's path, whose values are already of their kind).

    Each rule is called only when a cheap test says it may fail: this runs once per row.
    """
    reasons: list[Issue] = []
    get = event.get
    name = get("event_name")
    if type(name) is not str or not name.strip():
        reasons.append(MISSING_EVENT_NAME)
    source = get("action_source")
    if type(source) is not str or source not in ACTION_SOURCES:
        reasons.append(MISSING_ACTION_SOURCE if source in (None, "") else INVALID_ACTION_SOURCE)
    event_time = get("event_time")
    if (
        type(event_time) is not int
        or not -FUTURE_SKEW_SECONDS <= now - event_time <= rules.EVENT_MAX_AGE_SECONDS
    ):
        _check_time(event_time, source, now, time_column, reasons)
    if not keys or keys <= WEAK_KEYS:
        _check_customer_keys(keys, reasons)
    if source == "website":
        url = get("event_source_url")
        if "client_user_agent" not in keys or type(url) is not str or not url.strip():
            _check_website(event, keys, reasons)
    app_data = get("app_data")
    if source == "app" or app_data is not None:
        _check_app(app_data, reasons)
    custom = get("custom_data")
    if (custom or name == "Purchase") and not _plain_custom_data(custom):
        if type(custom) is not dict and not isinstance(custom, Mapping):
            custom = {}
        _check_custom_data(name, custom, reasons)
    options = get("data_processing_options")
    if options is not None:
        _check_ldu(event, options, keys, reasons)
    if source == rules.MESSAGING_SOURCE or get("messaging_channel") is not None:
        _check_messaging(event, name, source, keys, reasons)
    return reasons


def is_expired(reasons: Sequence[Issue]) -> bool:
    """True when the event is too old: nothing will ever get it sent, whatever else is wrong
    with it, so it is expired, not fixable."""
    return any(r.code == "event_time_too_old" for r in reasons)


def customer_keys(user_data: Mapping[str, Any]) -> frozenset[str]:
    """The user_data keys that carry a value."""
    return frozenset(k for k, v in user_data.items() if not is_empty(v))


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _unknown_top_level(key: str) -> Issue:
    known = PARAMS.get(key)
    where = f"it goes inside {known.section}" if known is not None else "remove it"
    return Issue(
        "unknown_parameter",
        f"a key of the event is not a parameter of a server event, which Meta refuses: {where}",
        known.key if known is not None else None,
    )


def _invalid(param: Param, where: str) -> Issue:
    return Issue(
        f"{param.key}_invalid",
        f"{where} {param.problem}: fix the column mapped to '{param.key}' or remove the mapping",
        param.key,
    )


def _check_time(
    event_time: object, source: object, now: int, column: str, reasons: list[Issue]
) -> None:
    if event_time is None:
        reasons.append(MISSING_EVENT_TIME)
        return
    if type(event_time) is not int:
        reasons.append(EVENT_TIME_INVALID)
        return
    limit = rules.max_age_seconds(source)
    age = now - event_time
    if age > limit:
        reasons.append(_too_old(age, limit, source, column))
    elif -age > FUTURE_SKEW_SECONDS:
        reasons.append(_in_future(-age, column))


def _too_old(age: int, limit: int, source: object, column: str) -> Issue:
    days = limit // _DAY
    rule = (
        "for physical_store events"
        if source == "physical_store"
        else "(62 only for physical_store events)"
    )
    return Issue(
        "event_time_too_old",
        f"event_time is {age // _DAY} days old; Meta accepts at most {days} days {rule}, "
        f"so this row expired and will never be sent: add "
        f"`WHERE {column} >= now() - INTERVAL {days} DAY` to the model",
        "event_time",
    )


def _in_future(ahead: int, column: str) -> Issue:
    return Issue(
        "event_time_in_future",
        f"event_time is {math.ceil(ahead / 60)} minutes in the future (Meta tolerates "
        f"{FUTURE_SKEW_SECONDS} seconds of clock skew): check the timezone of "
        f"`{column}` (naive timestamps are read in the sync's `timezone` setting) or add "
        f"`WHERE {column} <= now()` to the model",
        "event_time",
    )


def _check_customer_keys(keys: AbstractSet[str], reasons: list[Issue]) -> None:
    if not keys:
        reasons.append(NO_CUSTOMER_KEYS)
    elif any(keys <= combo for combo in WEAK_KEY_COMBINATIONS):
        reasons.append(
            Issue(
                "weak_key_combination",
                f"the only customer keys are {', '.join(sorted(keys))}, a combination Meta "
                f"rejects as too weak to match anyone: add em, ph, external_id, fbp, fbc or "
                f"client_ip_address to the model",
                "user_data",
            )
        )


def _check_website(event: Mapping[str, Any], keys: AbstractSet[str], reasons: list[Issue]) -> None:
    if "client_user_agent" not in keys:
        reasons.append(WEBSITE_MISSING_UA)
    if not _is_text(event.get("event_source_url")):
        reasons.append(WEBSITE_MISSING_URL)


def _check_app(app_data: object, reasons: list[Issue]) -> None:
    if not isinstance(app_data, Mapping) or app_data.get(rules.APP_FLAG_REQUIRED) is None:
        reasons.append(APP_MISSING_APP_DATA)
        return
    if app_data.get("extinfo") is None:
        reasons.append(APP_MISSING_APP_DATA)
        return
    for key, param in APP_DATA_PARAMS.items():
        value = app_data.get(key)
        if value is not None and not fits(param, value):
            reasons.append(APP_FLAG_INVALID if param.kind == "flag" else APP_EXTINFO_INVALID)


def _check_custom_data(event_name: object, custom: Mapping[str, Any], reasons: list[Issue]) -> None:
    for key in MONEY_KEYS:
        amount = custom.get(key, _ABSENT)
        if amount is not _ABSENT and not _is_number(amount):
            reasons.append(_invalid_number(key))
    currency = custom.get("currency")
    if currency is not None and not (
        type(currency) is str and (currency in _CURRENCIES or currency.upper() in _CURRENCIES)
    ):
        reasons.append(INVALID_CURRENCY)
    if event_name == "Purchase" and (currency is None or custom.get("value") is None):
        reasons.append(
            _purchase_missing([k for k in rules.PURCHASE_REQUIRES if custom.get(k) is None])
        )
    if custom.keys().isdisjoint(_OTHER_RULED_CUSTOM):
        return
    for key, param in _RULED_CUSTOM:
        value = custom.get(key)
        if value is None or key in MONEY_KEYS:
            continue
        if key == "content_type" and not fits(param, value):
            reasons.append(INVALID_CONTENT_TYPE)
        elif key == "contents":
            _check_contents(value, reasons)
        elif not fits(param, value):
            reasons.append(_invalid(param, f"custom_data.{key}"))


def _plain_custom_data(custom: object) -> bool:
    """The usual custom_data, which no rule can fault: a finite float value, a known
    currency, none of the other ruled keys. One test instead of every rule."""
    if type(custom) is not dict:
        return False
    value, currency = custom.get("value"), custom.get("currency")
    return (
        type(value) is float
        and value - value == 0.0  # finite
        and type(currency) is str
        and currency in _CURRENCIES
        and custom.keys().isdisjoint(_OTHER_RULED_CUSTOM)
    )


def _is_number(value: object) -> bool:
    cls = type(value)
    if cls is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    return cls is int or fits(PARAMS["value"], value)


def _invalid_number(key: str) -> Issue:
    return Issue(
        "invalid_value",
        f"custom_data.{key} is not a number: select a numeric "
        f"column (no currency symbols or thousands separators) for '{key}'",
        key,
    )


def _purchase_missing(missing: list[str]) -> Issue:
    return Issue(
        "purchase_missing_value_or_currency",
        f"Purchase events need custom_data value and currency; this row has no "
        f"{' and no '.join(missing)}: map a value column and a currency column, or set a "
        f"static currency (e.g. `currency: USD`)",
        missing[0],
    )


def _check_contents(contents: object, reasons: list[Issue]) -> None:
    items = contents if isinstance(contents, list | tuple) else [contents]
    for position, item in enumerate(items, start=1):
        if not isinstance(item, Mapping) or not _is_text(item.get("id")):
            reasons.append(
                Issue(
                    "contents_item_missing_id",
                    f"contents item {position} has no id; Meta rejects contents items without "
                    f"one: include the product id in every contents object",
                    "contents",
                )
            )
            return


def _check_ldu(
    event: Mapping[str, Any], options: object, keys: AbstractSet[str], reasons: list[Issue]
) -> None:
    if not fits(PARAMS["data_processing_options"], options):
        reasons.append(INVALID_PROCESSING_OPTIONS)
        return
    if not options:
        return  # [] : no Limited Data Use
    country, state = event.get(rules.LDU_COUNTRY), event.get(rules.LDU_STATE)
    if country is None or (state is None and "client_ip_address" not in keys):
        missing = rules.LDU_COUNTRY if country is None else rules.LDU_STATE
        reasons.append(
            Issue(
                "ldu_missing_country_or_state",
                f"data_processing_options has LDU but {missing} is missing. {rules.LDU_HOW_TO}",
                missing,
            )
        )
    # a value that is no integer at all is the kind check's (validate_event) to report
    elif type(country) is int and country not in rules.LDU_COUNTRIES:
        reasons.append(_ldu_code(rules.LDU_COUNTRY))
    elif type(state) is int and state not in rules.LDU_STATES:
        reasons.append(_ldu_code(rules.LDU_STATE))


def _ldu_code(key: str) -> Issue:
    return Issue(
        "ldu_code_invalid",
        f"{key} is not a code Meta documents. {rules.LDU_HOW_TO}",
        key,
    )


def _check_messaging(
    event: Mapping[str, Any],
    name: object,
    source: object,
    keys: AbstractSet[str],
    reasons: list[Issue],
) -> None:
    channel = event.get("messaging_channel")
    if channel is not None and (
        type(channel) is not str or channel not in rules.MESSAGING_CHANNELS
    ):
        reasons.append(INVALID_MESSAGING_CHANNEL)
        return
    if source != rules.MESSAGING_SOURCE:
        return
    if channel is None:
        reasons.append(MISSING_MESSAGING_CHANNEL)
        return
    if type(name) is not str or name not in rules.MESSAGING_EVENTS:
        reasons.append(MESSAGING_EVENT_NOT_ALLOWED)
    missing = [k for k in rules.MESSAGING_CHANNEL_KEYS[channel] if k not in keys]
    if missing:
        reasons.append(
            Issue(
                "messaging_missing_channel_keys",
                f"{channel} business messaging events need user_data "
                f"{' and '.join(rules.MESSAGING_CHANNEL_KEYS[channel])}; this row has no "
                f"{' and no '.join(missing)}: map the column holding it",
                missing[0],
            )
        )


MISSING_EVENT_NAME = Issue(
    "missing_event_name",
    "event_name is empty: fill the event_name column or set a static event_name "
    "(e.g. `event_name: Purchase`)",
    "event_name",
)
MISSING_ACTION_SOURCE = Issue(
    "invalid_action_source",
    f"action_source is empty: fill the column or set a static action_source, one of "
    f"{_SOURCES_TEXT}",
    "action_source",
)
INVALID_ACTION_SOURCE = Issue(
    "invalid_action_source",
    f"action_source is not one of Meta's values ({_SOURCES_TEXT}): fix the column or set a "
    f"static action_source",
    "action_source",
)
MISSING_EVENT_TIME = Issue(
    "missing_event_time",
    "event_time is empty: every row needs the time the event happened; filter out rows "
    "without one (`WHERE event_time IS NOT NULL`)",
    "event_time",
)
EVENT_TIME_INVALID = Issue(
    "event_time_invalid",
    "event_time could not be read as a time: use a timestamp column, epoch seconds or "
    "milliseconds, or an ISO-8601 string such as 2026-01-31T12:00:00Z",
    "event_time",
)
NO_CUSTOMER_KEYS = Issue(
    "no_customer_keys",
    "no customer information is left after normalization: map "
    "at least one of em, ph, external_id, fbp, fbc, or client_ip_address with "
    "client_user_agent",
    "user_data",
)
WEBSITE_MISSING_UA = Issue(
    "website_missing_client_user_agent",
    "website events need client_user_agent: map the column holding the browser's "
    "User-Agent (`client_user_agent: <column>`) or use another action_source",
    "client_user_agent",
)
WEBSITE_MISSING_URL = Issue(
    "website_missing_event_source_url",
    "website events need event_source_url: map the column holding the page URL "
    "(`event_source_url: <column>`) or use another action_source",
    "event_source_url",
)
APP_MISSING_APP_DATA = Issue(
    "app_missing_app_data",
    "app events need app_data with advertiser_tracking_enabled and extinfo (slot 0 'a2' "
    "for Android or 'i2' for iOS): map an app_data column holding that JSON object",
    "app_data",
)
APP_FLAG_INVALID = Issue(
    "app_tracking_flag_invalid",
    "app_data advertiser_tracking_enabled and application_tracking_enabled must be 0 or 1 "
    "(true/false and '0'/'1' are converted; other values are not): fix the app_data column",
    "app_data",
)
APP_EXTINFO_INVALID = Issue(
    "app_extinfo_invalid",
    f"app_data.extinfo must hold exactly {rules.EXTINFO_SLOTS} values (empty strings for "
    f"unknown slots), the first 'a2' (Android) or 'i2' (iOS): fix the app_data column",
    "app_data",
)
INVALID_CURRENCY = Issue(
    "invalid_currency",
    "currency is not an ISO 4217 code: fix the column or set a static currency "
    "(e.g. `currency: USD`)",
    "currency",
)
INVALID_CONTENT_TYPE = Issue(
    "invalid_content_type",
    "content_type must be 'product' or 'product_group': fix the column or remove the mapping",
    "content_type",
)
INVALID_PROCESSING_OPTIONS = Issue(
    "invalid_data_processing_options",
    'data_processing_options must be ["LDU"] (Limited Data Use) or empty: fix the column '
    "or the static value",
    "data_processing_options",
)
MISSING_MESSAGING_CHANNEL = Issue(
    "missing_messaging_channel",
    "business_messaging events need messaging_channel (whatsapp, messenger or instagram): "
    "map a column or set a static messaging_channel",
    "messaging_channel",
)
INVALID_MESSAGING_CHANNEL = Issue(
    "invalid_messaging_channel",
    "messaging_channel must be whatsapp, messenger or instagram: fix the column or the "
    "static value",
    "messaging_channel",
)
MESSAGING_EVENT_NOT_ALLOWED = Issue(
    "messaging_event_not_allowed",
    f"Meta takes only these event names for business messaging: "
    f"{', '.join(sorted(rules.MESSAGING_EVENTS))} (LeadSubmitted, not Lead): map the event "
    f"names of this model to them",
    "event_name",
)
