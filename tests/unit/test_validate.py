"""Event-level rules: one test row per reason code, on wire-shaped events."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from capisync.capi.issues import Issue
from capisync.capi.rules import FUTURE_SKEW_SECONDS
from capisync.capi.validate import customer_keys, is_expired, validate_event

NOW = 1767225600  # 2026-01-01T00:00:00Z
DAY = 86400
EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
COUNTRY_US = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"
Event = dict[str, Any]
EXTINFO = {"extinfo": ["i2", "com.example", "", "", "17.2", *[""] * 11]}  # 16 slots
EXTINFO_15 = {"extinfo": EXTINFO["extinfo"][:15]}
EXTINFO_17 = {"extinfo": [*EXTINFO["extinfo"], ""]}


def website_purchase() -> Event:
    return {
        "event_name": "Purchase",
        "event_time": NOW - 3600,
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout",
        "user_data": {
            "em": [EM],
            "client_user_agent": "Mozilla/5.0",
            "client_ip_address": "203.0.113.9",
        },
        "custom_data": {
            "value": 19.99,
            "currency": "USD",
            "content_type": "product",
            "contents": [{"id": "SKU-1", "quantity": 1}],
        },
    }


def edit(**changes: Any) -> Callable[[Event], None]:
    """Set top-level keys (None deletes) or nested ones named like 'user_data__em'."""

    def apply(event: Event) -> None:
        for dotted, value in changes.items():
            *parents, leaf = dotted.split("__")
            target = event
            for parent in parents:
                target = target.setdefault(parent, {})
            if value is None:
                target.pop(leaf, None)
            else:
                target[leaf] = value

    return apply


def codes(event: Event, now: int = NOW) -> list[str]:
    return [issue.code for issue in validate_event(event, now=now)]


def test_a_complete_website_purchase_passes() -> None:
    assert validate_event(website_purchase(), now=NOW) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (edit(event_name=None), ["missing_event_name"]),
        (edit(event_name="  "), ["missing_event_name"]),
        (edit(action_source=None), ["invalid_action_source"]),
        (edit(action_source="web"), ["invalid_action_source"]),
        (edit(event_time=None), ["missing_event_time"]),
        (edit(event_time="2026-01-01"), ["event_time_invalid"]),
        (edit(event_time=NOW - 7 * DAY - 1), ["event_time_too_old"]),
        (edit(event_time=NOW + 301), ["event_time_in_future"]),
        (edit(user_data__client_user_agent=None), ["website_missing_client_user_agent"]),
        (edit(event_source_url=None), ["website_missing_event_source_url"]),
        (edit(user_data={}), ["no_customer_keys", "website_missing_client_user_agent"]),
        (
            edit(user_data={"ct": [EM], "zp": [EM], "client_user_agent": "UA"}),
            ["weak_key_combination"],
        ),
        (edit(custom_data__value=None), ["purchase_missing_value_or_currency"]),
        (edit(custom_data__currency=None), ["purchase_missing_value_or_currency"]),
        (edit(custom_data__currency="DOLLARS"), ["invalid_currency"]),
        (edit(custom_data__value="19,99"), ["invalid_value"]),
        (edit(custom_data__value=True), ["invalid_value"]),
        (edit(custom_data__predicted_ltv=float("nan")), ["invalid_value"]),
        (edit(custom_data__contents=[{"id": "A"}, {"quantity": 2}]), ["contents_item_missing_id"]),
        (edit(custom_data__contents=["SKU-1"]), ["contents_item_missing_id"]),
        (edit(custom_data__content_type="products"), ["invalid_content_type"]),
        (edit(data_processing_options=["LDU"]), ["ldu_missing_country_or_state"]),
        (  # without an IP address, LDU needs the state too
            edit(
                data_processing_options=["LDU"],
                data_processing_options_country=1,
                user_data__client_ip_address=None,
            ),
            ["ldu_missing_country_or_state"],
        ),
        (  # with an IP address and no country: still refused
            edit(data_processing_options=["LDU"], data_processing_options_state=1000),
            ["ldu_missing_country_or_state"],
        ),
        (
            edit(
                data_processing_options=["LDU"],
                data_processing_options_country=1,
                data_processing_options_state=6,
            ),
            ["ldu_code_invalid"],
        ),
        (
            edit(
                data_processing_options=["LDU"],
                data_processing_options_country=True,
                data_processing_options_state=0,
            ),
            ["data_processing_options_country_invalid"],
        ),
        (edit(data_processing_options=["GDPR"]), ["invalid_data_processing_options"]),
        (edit(action_source="app", event_source_url=None), ["app_missing_app_data"]),
        (
            edit(
                action_source="app", app_data={"advertiser_tracking_enabled": 1, "extinfo": ["x"]}
            ),
            ["app_extinfo_invalid"],
        ),
        (
            edit(action_source="app", app_data={"advertiser_tracking_enabled": 1, **EXTINFO_15}),
            ["app_extinfo_invalid"],
        ),
        (
            edit(action_source="app", app_data={"advertiser_tracking_enabled": 1, **EXTINFO_17}),
            ["app_extinfo_invalid"],
        ),
        (
            edit(action_source="app", app_data={"advertiser_tracking_enabled": True, **EXTINFO}),
            ["app_tracking_flag_invalid"],
        ),
        (
            edit(
                action_source="app",
                app_data={"advertiser_tracking_enabled": 1, "application_tracking_enabled": "true"}
                | EXTINFO,
            ),
            ["app_tracking_flag_invalid"],
        ),
        (  # app_data on another source is still checked: Meta refuses it there too
            edit(app_data={"advertiser_tracking_enabled": 2, **EXTINFO}),
            ["app_tracking_flag_invalid"],
        ),
        (edit(event_time=NOW + FUTURE_SKEW_SECONDS + 1), ["event_time_in_future"]),
        (edit(event_time=NOW + 180), ["event_time_in_future"]),  # the issue's example
        (edit(custom_data__customer_segmentation="vip"), ["customer_segmentation_invalid"]),
        (edit(custom_data__delivery_category="drone"), ["delivery_category_invalid"]),
        (edit(custom_data__num_items="2"), ["num_items_invalid"]),
        (edit(messaging_channel="telegram"), ["invalid_messaging_channel"]),
        (
            edit(action_source="business_messaging", event_source_url=None),
            ["missing_messaging_channel"],
        ),
        (
            edit(
                action_source="business_messaging",
                event_source_url=None,
                messaging_channel="whatsapp",
                event_name="Lead",
                custom_data=None,
            ),
            ["messaging_event_not_allowed", "messaging_missing_channel_keys"],
        ),
        (
            edit(
                action_source="business_messaging",
                event_source_url=None,
                messaging_channel="messenger",
                user_data__page_id="1122334455",
            ),
            ["messaging_missing_channel_keys"],
        ),
    ],
)
def test_each_rule_has_its_reason(change: Callable[[Event], None], expected: list[str]) -> None:
    event = website_purchase()
    change(event)
    assert codes(event) == expected


@pytest.mark.parametrize(
    "change",
    [
        edit(event_time=NOW + FUTURE_SKEW_SECONDS),  # a minute of clock skew is tolerated
        edit(event_time=NOW - 7 * DAY),  # exactly seven days is still in the window
        edit(action_source="physical_store", event_time=NOW - 62 * DAY),
        edit(custom_data__currency="usd"),  # Meta takes either case
        edit(custom_data__value=0),
        edit(event_name="Lead", custom_data={}),  # only Purchase needs value and currency
        edit(
            data_processing_options=["LDU"],
            data_processing_options_country=0,
            data_processing_options_state=0,
        ),
        edit(data_processing_options=[]),
        edit(action_source="app", app_data={"advertiser_tracking_enabled": 0, **EXTINFO}),
        edit(
            data_processing_options=["LDU"], data_processing_options_country=1
        ),  # an IP address and no state: Meta geolocates the state
        edit(custom_data__value="142.52"),  # Meta's own example: a numeric string
        edit(event_name="Lead", custom_data={"currency": "USD"}),  # no value: fine for a Lead
        edit(custom_data__customer_segmentation="new_customer_to_business"),
        edit(
            action_source="business_messaging",
            event_source_url=None,
            messaging_channel="whatsapp",
            user_data__whatsapp_business_account_id="102290129340398",
            user_data__ctwa_clid="ARAkLkA8rmlFeiCktEJQ",
        ),
        edit(
            action_source="business_messaging",
            event_source_url=None,
            messaging_channel="instagram",
            event_name="LeadSubmitted",
            user_data__ig_account_id="17841400000000000",
            user_data__ig_sid="1234567890123",
        ),
        edit(
            action_source="system_generated",
            event_source_url=None,
            event_name="Marketing Qualified Lead",
            user_data__lead_id=1234567890123456,
            custom_data={"lead_event_source": "Salesforce", "event_source": "crm"},
        ),
        edit(action_source="email", event_source_url=None, user_data={"external_id": [EM]}),
        edit(user_data={"fn": [EM], "ln": [EM], "client_user_agent": "UA"}),  # fn+ln not weak
    ],
)
def test_valid_variations_pass(change: Callable[[Event], None]) -> None:
    event = website_purchase()
    change(event)
    assert codes(event) == []


def test_physical_store_window_is_62_days_and_message_has_the_filter() -> None:
    event = website_purchase()
    edit(action_source="physical_store", event_time=NOW - 63 * DAY)(event)
    [issue] = validate_event(event, now=NOW, time_column="ordered_at")
    assert issue.code == "event_time_too_old"
    assert "63 days old" in issue.message
    assert "add `WHERE ordered_at >= now() - INTERVAL 62 DAY` to the model" in issue.message


def test_too_old_website_event_suggests_a_seven_day_filter() -> None:
    event = website_purchase()
    event["event_time"] = NOW - 30 * DAY
    [issue] = validate_event(event, now=NOW)
    assert "add `WHERE event_time >= now() - INTERVAL 7 DAY` to the model" in issue.message
    assert is_expired([issue])


def test_future_message_points_at_the_timezone() -> None:
    event = website_purchase()
    event["event_time"] = NOW + 2 * 3600
    [issue] = validate_event(event, now=NOW)
    assert "120 minutes in the future" in issue.message and "`timezone` setting" in issue.message


def test_too_old_is_expired_whatever_else_is_wrong() -> None:
    old = Issue("event_time_too_old", "m", "event_time")
    other = Issue("no_customer_keys", "m", "user_data")
    assert is_expired([old]) and is_expired([other, old]) and not is_expired([other])
    assert not is_expired([])


def test_an_old_invalid_event_is_expired_not_fixable() -> None:
    event = website_purchase()
    edit(event_time=NOW - 30 * DAY, user_data={}, custom_data__currency=None)(event)
    reasons = validate_event(event, now=NOW)
    assert "event_time_too_old" in [r.code for r in reasons] and len(reasons) > 1
    assert is_expired(reasons)


def test_lead_id_must_be_an_integer_of_15_or_16_digits() -> None:
    for bad in ("abc", "1234567890123456", 12345678901234, 12345678901234567, True):
        event = website_purchase()
        event["user_data"]["lead_id"] = bad
        assert "lead_id_invalid" in codes(event), bad
    for good in (123456789012345, 1234567890123456):
        event = website_purchase()
        event["user_data"]["lead_id"] = good
        assert codes(event) == [], good


def test_several_faults_are_all_reported() -> None:
    event = website_purchase()
    edit(
        event_name=None,
        action_source="web",
        event_time="x",
        custom_data={"currency": "ZZZ", "value": "x"},
    )(event)
    assert codes(event) == [
        "missing_event_name",
        "invalid_action_source",
        "event_time_invalid",
        "invalid_value",
        "invalid_currency",
    ]


def test_messages_never_quote_row_values() -> None:
    event = {
        "event_name": "Purchase",
        "event_time": "john@example.com",
        "action_source": "john@example.com",
        "user_data": {"ge": ["secret"]},
        "custom_data": {
            "currency": "john@example.com",
            "value": "john@example.com",
            "content_type": "john@example.com",
            "contents": [{"name": "john@example.com"}],
        },
    }
    issues = validate_event(copy.deepcopy(event), now=NOW)
    assert len(issues) == 8  # ge "secret" is not a hash: user_data.ge_invalid
    assert all("john" not in i.message and "secret" not in i.message for i in issues)


def test_customer_keys_ignore_empty_values() -> None:
    assert customer_keys({"em": [EM], "ph": [], "fn": "", "ln": None}) == {"em"}
