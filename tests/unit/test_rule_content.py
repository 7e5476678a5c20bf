"""What Meta documents and capisync used to miss (issue 8, section 2), row to wire and back.

Each case is a value a warehouse hands over, what goes on the wire (or why the row cannot go),
and the sandbox's answer to that wire event, so both sides are held to the same rule.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from capisync.capi import rules, values
from capisync.capi.event import BuildOptions, BuiltEvent, EventBuilder, Rejection
from capisync.capi.mapping import resolve_mapping
from capisync.capi.params import PARAMS
from capisync.capi.values import INVALID
from capisync.sandbox.rules import check_event

NOW = 1_790_000_000
DAY = 86_400
CTWA = "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qp"
WABA = "102290129340398"
EXTINFO = ["a2", "com.example.shop", "1.0", "1.0 long", "14", "Pixel 8", "en_US", "UTC"] + [""] * 8


def build(columns: dict[str, object], **static: object) -> BuiltEvent | Rejection:
    row = {"row_id": "r-1", "event_time": NOW - 60, "em": "john@example.com", **columns}
    static = {"event_name": "Lead", **static}
    mapping = resolve_mapping(tuple(row), identifier="row_id", static=static)
    return EventBuilder(mapping, BuildOptions()).build(row, now=NOW)


def sent(columns: dict[str, object], **static: object) -> dict[str, Any]:
    """The wire event of a row that must go; the sandbox must accept it as it is."""
    outcome = build(columns, **static)
    assert isinstance(outcome, BuiltEvent), outcome
    assert check_event(outcome.event, 0, NOW) is None
    return outcome.event


def refused(columns: dict[str, object], **static: object) -> list[str]:
    outcome = build(columns, **static)
    assert isinstance(outcome, Rejection), outcome
    return [reason.code for reason in outcome.reasons]


# ---- app events: tracking flags go out as the integers 0 or 1 -----------------------------


@pytest.mark.parametrize(
    ("raw", "flag"),
    [
        (True, 1),
        (False, 0),
        (1, 1),
        (0, 0),
        (1.0, 1),
        ("true", 1),
        ("false", 0),
        ("True", 1),
        (" 1 ", 1),
        ("0", 0),
        ("yes", 1),
        ("no", 0),
        (Decimal("1"), 1),
    ],
)
def test_app_flags_are_coerced_to_0_or_1(raw: object, flag: int) -> None:
    assert values.to_app_flag(raw) == flag and type(values.to_app_flag(raw)) is int
    app_data = json.dumps({"advertiser_tracking_enabled": raw, "extinfo": EXTINFO}, default=str)
    event = sent({"app_data": app_data}, action_source="app")
    wire = event["app_data"]["advertiser_tracking_enabled"]
    assert wire == flag and type(wire) is int  # true/"true" would be "out of range" at Meta


def test_app_data_flags_inside_a_mapping_cell_are_coerced_too() -> None:
    coerced = values.to_app_data(
        {"advertiser_tracking_enabled": True, "application_tracking_enabled": "false"}
    )
    assert coerced == {"advertiser_tracking_enabled": 1, "application_tracking_enabled": 0}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (2, "app_tracking_flag_invalid"),
        (-1, "app_tracking_flag_invalid"),
        ("maybe", "app_tracking_flag_invalid"),
        ("2", "app_tracking_flag_invalid"),
        (0.5, "app_tracking_flag_invalid"),
        ([1], "app_tracking_flag_invalid"),
        # JSON has no NaN: the object loses the flag, which an app event needs
        (Decimal("sNaN"), "app_missing_app_data"),
        (Decimal("NaN"), "app_missing_app_data"),
        (float("inf"), "app_missing_app_data"),
    ],
)
def test_unreadable_app_flags_reject_the_row(raw: object, code: str) -> None:
    assert values.to_app_flag(raw) is INVALID
    app_data = {"advertiser_tracking_enabled": raw, "extinfo": EXTINFO}  # a warehouse object
    assert refused({"app_data": app_data}, action_source="app") == [code]


@pytest.mark.parametrize(
    "extinfo",
    [EXTINFO[:5], EXTINFO[:15], [*EXTINFO, ""], [], ["x2", *EXTINFO[1:]], [None, *EXTINFO[1:]]],
)
def test_extinfo_needs_16_slots_and_a2_or_i2_before_sending(extinfo: list[Any]) -> None:
    app_data = json.dumps({"advertiser_tracking_enabled": 1, "extinfo": extinfo})
    assert refused({"app_data": app_data}, action_source="app") == ["app_extinfo_invalid"]


def test_an_ios_app_event_goes() -> None:
    app_data = json.dumps({"advertiser_tracking_enabled": 0, "extinfo": ["i2", *EXTINFO[1:]]})
    assert sent({"app_data": app_data}, action_source="app")["app_data"]["extinfo"][0] == "i2"


# ---- business messaging -------------------------------------------------------------------


def test_whatsapp_business_account_id_can_be_mapped() -> None:
    assert PARAMS["whatsapp_business_account_id"].section == "user_data"
    assert not PARAMS["whatsapp_business_account_id"].hashed
    event = sent(
        {"whatsapp_business_account_id": WABA, "ctwa_clid": CTWA, "messaging_channel": "WhatsApp"},
        action_source="business_messaging",
        event_name="LeadSubmitted",
    )
    assert event["user_data"]["whatsapp_business_account_id"] == WABA  # raw, not hashed
    assert event["messaging_channel"] == "whatsapp"


@pytest.mark.parametrize(
    ("channel", "keys"),
    [
        ("messenger", {"page_id": "112233445566778", "page_scoped_user_id": "5566778899"}),
        ("instagram", {"ig_account_id": "17841400000000000", "ig_sid": "1234567890123"}),
    ],
)
def test_messenger_and_instagram_events_carry_their_keys(
    channel: str, keys: dict[str, str]
) -> None:
    event = sent(
        {"messaging_channel": channel, **keys},
        action_source="business_messaging",
        event_name="Purchase",
        value=10,
        currency="USD",
    )
    assert {k: event["user_data"][k] for k in keys} == keys
    for missing in keys:
        codes = refused(
            {"messaging_channel": channel, **keys, missing: None},
            action_source="business_messaging",
            event_name="Purchase",
            value=10,
            currency="USD",
        )
        assert codes == ["messaging_missing_channel_keys"]


def test_business_messaging_needs_a_channel() -> None:
    assert refused({}, action_source="business_messaging", event_name="Purchase", value=1) == [
        "purchase_missing_value_or_currency",
        "missing_messaging_channel",
    ]


@pytest.mark.parametrize("name", ["Lead", "CompleteRegistration", "Contact", "chat_started"])
def test_business_messaging_takes_only_metas_event_names(name: str) -> None:
    codes = refused(
        {"messaging_channel": "whatsapp", "whatsapp_business_account_id": WABA, "ctwa_clid": CTWA},
        action_source="business_messaging",
        event_name=name,
    )
    assert codes == ["messaging_event_not_allowed"]


@pytest.mark.parametrize("name", sorted(rules.MESSAGING_EVENTS - {"Purchase"}))
def test_every_messaging_event_name_goes(name: str) -> None:
    sent(
        {"messaging_channel": "whatsapp", "whatsapp_business_account_id": WABA, "ctwa_clid": CTWA},
        action_source="business_messaging",
        event_name=name,
    )


@pytest.mark.parametrize("clid", ["not a click id", "short", "ARAk/LkA8", "é" * 10])
def test_an_invalid_ctwa_clid_is_dropped_and_the_whatsapp_event_rejected(clid: str) -> None:
    outcome = build(
        {"messaging_channel": "whatsapp", "whatsapp_business_account_id": WABA, "ctwa_clid": clid},
        action_source="business_messaging",
        event_name="LeadSubmitted",
    )
    assert isinstance(outcome, Rejection)
    assert [r.code for r in outcome.reasons] == ["messaging_missing_channel_keys"]
    assert "ctwa_clid_malformed" in [w.code for w in outcome.warnings]


# ---- conversion leads (CRM) ---------------------------------------------------------------

LEAD = 1234567890123456


@pytest.mark.parametrize(
    ("raw", "wire"),
    [
        (LEAD, LEAD),
        ("1234567890123456", LEAD),
        (" 1234567890123456 ", LEAD),
        ("123456789012345", 123456789012345),  # 15 digits
        (Decimal("1234567890123456"), LEAD),
        (1234567890123456.0, LEAD),
        (["1234567890123456"], LEAD),
        ("１２３４５６７８９０１２３４５６", LEAD),  # full-width digits
    ],
)
def test_lead_id_goes_out_as_an_integer(raw: object, wire: int) -> None:
    event = sent(
        {"lead_id": raw, "lead_event_source": "Salesforce", "event_source": "crm"},
        action_source="system_generated",
        event_name="Marketing Qualified Lead",
    )
    assert event["user_data"]["lead_id"] == wire and type(event["user_data"]["lead_id"]) is int
    assert event["custom_data"] == {"lead_event_source": "Salesforce", "event_source": "crm"}


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "12345",
        12345678901234,
        "12345678901234567",
        True,
        "1234567890123456.5",
        -LEAD,
        Decimal("1E+5000"),
        pytest.param(10**5000, id="5000-digit-int"),
        "1234 5678 9012 3456",
    ],
)
def test_an_invalid_lead_id_is_dropped_with_a_warning(raw: object) -> None:
    outcome = build({"lead_id": raw}, action_source="system_generated", event_name="Converted")
    assert isinstance(outcome, BuiltEvent)  # the email still goes
    assert "lead_id" not in outcome.event["user_data"]
    assert [w.code for w in outcome.warnings] == ["lead_id_malformed"]
    assert check_event(outcome.event, 0, NOW) is None


def test_the_sandbox_refuses_lead_id_abc() -> None:
    event = sent({}, action_source="system_generated", event_name="Converted")
    event["user_data"]["lead_id"] = "abc"
    violation = check_event(event, 0, NOW)
    assert violation is not None and violation.subcode == 2804036


@pytest.mark.parametrize(
    ("raw", "wire"), [(10203040, 10203040), ("10203040506070", 10203040506070)]
)
def test_fb_login_id_goes_out_as_an_integer(raw: object, wire: int) -> None:
    event = sent({"fb_login_id": raw}, action_source="email", event_name="Lead")
    assert event["user_data"]["fb_login_id"] == wire and type(wire) is int


@pytest.mark.parametrize("raw", ["ten", "12ab", -5, 0, True, 1.5])
def test_an_invalid_fb_login_id_is_dropped(raw: object) -> None:
    outcome = build({"fb_login_id": raw}, action_source="email", event_name="Lead")
    assert isinstance(outcome, BuiltEvent) and "fb_login_id" not in outcome.event["user_data"]
    assert [w.code for w in outcome.warnings] == ["fb_login_id_malformed"]


# ---- customer_segmentation, delivery_category ----------------------------------------------


@pytest.mark.parametrize("segment", sorted(rules.CUSTOMER_SEGMENTS))
def test_customer_segmentation_goes_inside_custom_data(segment: str) -> None:
    event = sent(
        {"customer_segmentation": segment.upper()}, action_source="email", event_name="Lead"
    )
    assert event["custom_data"]["customer_segmentation"] == segment
    assert "customer_segmentation" not in event


@pytest.mark.parametrize("raw", ["vip", "new_customer", "existing", "loyal"])
def test_an_unknown_customer_segment_is_dropped_with_a_warning(raw: str) -> None:
    outcome = build({"customer_segmentation": raw}, action_source="email", event_name="Lead")
    assert isinstance(outcome, BuiltEvent) and "custom_data" not in outcome.event
    assert [w.code for w in outcome.warnings] == ["customer_segmentation_malformed"]


@pytest.mark.parametrize(("raw", "wire"), [("Curbside", "curbside"), ("IN_STORE", "in_store")])
def test_delivery_category_is_one_of_metas(raw: str, wire: str) -> None:
    event = sent({"delivery_category": raw}, action_source="email", event_name="Lead")
    assert event["custom_data"]["delivery_category"] == wire
    outcome = build({"delivery_category": "drone"}, action_source="email", event_name="Lead")
    assert isinstance(outcome, BuiltEvent) and "custom_data" not in outcome.event


# ---- Limited Data Use -----------------------------------------------------------------------


def test_ldu_with_country_1_an_ip_and_no_state_goes() -> None:
    event = sent(
        {"client_ip_address": "203.0.113.7", "data_processing_options_country": 1},
        action_source="email",
        event_name="Lead",
        data_processing_options="LDU",
    )
    assert (
        event["data_processing_options"] == ["LDU"] and "data_processing_options_state" not in event
    )


@pytest.mark.parametrize(
    ("columns", "code"),
    [
        ({"client_ip_address": "203.0.113.7"}, "ldu_missing_country_or_state"),  # no country
        ({"data_processing_options_state": 1000}, "ldu_missing_country_or_state"),
        ({"data_processing_options_country": 1}, "ldu_missing_country_or_state"),  # no IP
        (
            {"data_processing_options_country": 44, "data_processing_options_state": 0},
            "ldu_code_invalid",
        ),
        (
            {"data_processing_options_country": 1, "data_processing_options_state": 1001},
            "ldu_code_invalid",
        ),
    ],
)
def test_ldu_rules(columns: dict[str, object], code: str) -> None:
    assert refused(
        columns, action_source="email", event_name="Lead", data_processing_options="LDU"
    ) == [code]


def test_ldu_messages_name_every_state_meta_lists() -> None:
    outcome = build({}, action_source="email", event_name="Lead", data_processing_options="LDU")
    assert isinstance(outcome, Rejection)
    [message] = [r.message for r in outcome.reasons]
    for state in ("California", "Colorado", "Connecticut", "Florida", "Texas", "Oregon", "Montana"):
        assert state in message


# ---- Purchase value and currency ------------------------------------------------------------


def test_a_numeric_string_value_is_valid_on_both_sides() -> None:
    event = sent(
        {"value": "142.52", "currency": "USD"}, action_source="email", event_name="Purchase"
    )
    assert event["custom_data"]["value"] == 142.52
    event["custom_data"]["value"] = "142.52"  # Meta's own example, as a wire value
    assert check_event(event, 0, NOW) is None


def test_a_purchase_without_currency_is_metas_2804010() -> None:
    assert refused({"value": 10}, action_source="email", event_name="Purchase") == [
        "purchase_missing_value_or_currency"
    ]
    event = sent({"value": 10, "currency": "USD"}, action_source="email", event_name="Purchase")
    del event["custom_data"]["currency"]
    violation = check_event(event, 0, NOW)
    assert violation is not None
    assert (violation.subcode, violation.title) == (2804010, "Missing Currency for Purchase Event")


@pytest.mark.parametrize("name", ["Lead", "AddToCart", "InitiateCheckout", "Subscribe", "custom"])
def test_other_events_are_not_refused_for_a_missing_value(name: str) -> None:
    sent({"currency": "USD"}, action_source="email", event_name=name)


# ---- expired ---------------------------------------------------------------------------------


def test_an_event_too_old_and_otherwise_invalid_is_expired_not_fixable() -> None:
    outcome = build(
        {"event_time": NOW - 30 * DAY, "em": None, "value": "abc"},
        action_source="email",
        event_name="Purchase",
    )
    assert isinstance(outcome, Rejection) and len(outcome.reasons) > 1
    assert outcome.expired
