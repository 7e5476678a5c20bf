"""Event-level rules: what Meta would reject, found before any batch is built.

``validate_event`` reads one event in wire shape (a dict as it would be POSTed) and returns
the reasons it cannot be sent, each an ``Issue`` with a machine-readable code and a sentence
that says how to fix it. It works on any wire dict, so the sandbox can apply the same rules
to what it receives. Messages never quote a row's values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from capisync.capi.issues import Issue
from capisync.capi.params import (
    ACTION_SOURCES,
    EVENT_MAX_AGE_SECONDS,
    PHYSICAL_STORE_MAX_AGE_SECONDS,
    WEAK_KEY_COMBINATIONS,
)
from capisync.capi.values import iso_currencies

FUTURE_SKEW_SECONDS = 5 * 60  # tolerated clock skew between warehouse and Meta
CONTENT_TYPES = frozenset({"product", "product_group"})
MONEY_KEYS = ("value", "predicted_ltv", "net_revenue")
EXTINFO_VERSIONS = frozenset({"a2", "i2"})
_DAY = 24 * 3600
_SOURCES_TEXT = ", ".join(sorted(ACTION_SOURCES))
_WEAK_KEYS = frozenset().union(*WEAK_KEY_COMBINATIONS)  # outside it, no combination is weak
_CURRENCIES = iso_currencies()
_ABSENT = object()
_OTHER_RULED_CUSTOM = frozenset({"predicted_ltv", "net_revenue", "content_type", "contents"})


def validate_event(
    event: Mapping[str, Any], *, now: int, time_column: str = "event_time"
) -> list[Issue]:
    """Every reason Meta would reject ``event`` at UNIX time ``now``; empty when it may go.

    ``time_column`` names the model column behind event_time, for the WHERE filter that a
    too-old message suggests.
    """
    user_data = event.get("user_data")
    keys = customer_keys(user_data) if isinstance(user_data, Mapping) else frozenset()
    return check_event(event, keys, now=now, time_column=time_column)


def check_event(
    event: Mapping[str, Any], keys: AbstractSet[str], *, now: int, time_column: str = "event_time"
) -> list[Issue]:
    """``validate_event`` with the customer keys already known (the event builder's path).

    Each rule is called only when a cheap test says it may fail: this runs once per row.
    """
    reasons: list[Issue] = []
    get = event.get
    name = get("event_name")
    if type(name) is not str or not name.strip():
        reasons.append(MISSING_EVENT_NAME)
    source = get("action_source")
    if source not in ACTION_SOURCES:
        reasons.append(MISSING_ACTION_SOURCE if source in (None, "") else INVALID_ACTION_SOURCE)
    event_time = get("event_time")
    if (
        type(event_time) is not int
        or not -FUTURE_SKEW_SECONDS <= now - event_time <= EVENT_MAX_AGE_SECONDS
    ):
        _check_time(event_time, source, now, time_column, reasons)
    if not keys or keys <= _WEAK_KEYS:
        _check_customer_keys(keys, reasons)
    if source == "website":
        url = get("event_source_url")
        if "client_user_agent" not in keys or type(url) is not str or not url.strip():
            _check_website(event, keys, reasons)
    elif source == "app":
        _check_app(get("app_data"), reasons)
    custom = get("custom_data")
    if (custom or name == "Purchase") and not _plain_custom_data(custom):
        if type(custom) is not dict and not isinstance(custom, Mapping):
            custom = {}
        _check_custom_data(name, custom, reasons)
    options = get("data_processing_options")
    if options and "LDU" in options:
        _check_ldu(event, reasons)
    return reasons


def is_expired(reasons: Sequence[Issue]) -> bool:
    """True when the event's only fault is its age: it will never be sendable, not fixable."""
    return bool(reasons) and all(r.code == "event_time_too_old" for r in reasons)


def customer_keys(user_data: Mapping[str, Any]) -> frozenset[str]:
    """The user_data keys that carry a value."""
    return frozenset(k for k, v in user_data.items() if v not in (None, "", []))


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_time(
    event_time: object, source: object, now: int, column: str, reasons: list[Issue]
) -> None:
    if event_time is None:
        reasons.append(MISSING_EVENT_TIME)
        return
    if type(event_time) is not int:
        reasons.append(EVENT_TIME_INVALID)
        return
    limit = PHYSICAL_STORE_MAX_AGE_SECONDS if source == "physical_store" else EVENT_MAX_AGE_SECONDS
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
        f"event_time is {math.ceil(ahead / 60)} minutes in the future (more than "
        f"{FUTURE_SKEW_SECONDS // 60} minutes of clock skew): check the timezone of "
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
    if not isinstance(app_data, Mapping):
        reasons.append(APP_MISSING_APP_DATA)
        return
    extinfo = app_data.get("extinfo")
    if (
        app_data.get("advertiser_tracking_enabled") is None
        or not isinstance(extinfo, list | tuple)
        or not extinfo
        or extinfo[0] not in EXTINFO_VERSIONS
    ):
        reasons.append(APP_MISSING_APP_DATA)


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
            _purchase_missing([k for k in ("value", "currency") if custom.get(k) is None])
        )
    content_type = custom.get("content_type")
    if content_type is not None and content_type not in CONTENT_TYPES:
        reasons.append(INVALID_CONTENT_TYPE)
    contents = custom.get("contents")
    if contents is not None:
        _check_contents(contents, reasons)


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
    return cls is int or (cls is float and math.isfinite(value))  # type: ignore[arg-type]


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


def _check_ldu(event: Mapping[str, Any], reasons: list[Issue]) -> None:
    missing = [
        k
        for k in ("data_processing_options_country", "data_processing_options_state")
        if type(event.get(k)) is not int
    ]
    if missing:
        reasons.append(
            Issue(
                "ldu_missing_country_or_state",
                f"data_processing_options has LDU but {' and '.join(missing)} is missing: set "
                f"country 1 and the state's code (1000 = California), or 0 and 0 to let Meta "
                f"geolocate the event",
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
    "no customer information is left after normalization (see this row's warnings): map "
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
