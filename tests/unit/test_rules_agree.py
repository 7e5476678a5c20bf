"""The validator and the sandbox read one rule table; generated events hold them to it.

For every generated row (valid and invalid values of every rule family: time window and clock
skew, action sources, website fields, customer keys and weak combinations, hashed and raw keys,
fbc/fbp, Purchase value and currency, contents ids, app_data flags and extinfo, LDU, business
messaging, CRM lead IDs, customer_segmentation...):

- every event the builder lets through (after its repairs: values dropped with a warning,
  flags coerced) is accepted by the sandbox, and by its fast path only if by its rules;
- so every event the sandbox would refuse was rejected or repaired first.

For generated wire events (the validator's own entry point, ``validate_event``): whatever it
finds nothing wrong with, the sandbox accepts; and the sandbox's fast path never accepts what
its detailed rules refuse. Each of the three divergences of issue 8 (clock skew 300 s vs 60 s,
extinfo slots, fbc subdomain index 3) fails these properties when reintroduced.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from capisync.capi import rules
from capisync.capi.event import BuildOptions, BuiltEvent, EventBuilder, Rejection
from capisync.capi.mapping import resolve_mapping
from capisync.capi.validate import validate_event
from capisync.sandbox.examples import (
    JOHN_EMAIL_HASH,
    valid_app_event,
    valid_crm_event,
    valid_event,
    valid_messaging_event,
)
from capisync.sandbox.fast_path import check_batch, surely_valid
from capisync.sandbox.rules import check_event, iso_4217_codes

NOW = 1_790_000_000
DAY = 86_400
HASH = JOHN_EMAIL_HASH
CURRENCIES = iso_4217_codes()


def extinfo(length: int, version: str) -> list[str]:
    return [version, *["" for _ in range(length - 1)]] if length else []


def app_data(flag: object = 1, other: object = 1, length: int = 16, version: str = "a2") -> str:
    return json.dumps(
        {
            "advertiser_tracking_enabled": flag,
            "application_tracking_enabled": other,
            "extinfo": extinfo(length, version),
        }
    )


ID = "102290129340398"
CTWA = "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qp"
SKEW = rules.FUTURE_SKEW_SECONDS
AGE = rules.EVENT_MAX_AGE_SECONDS
STORE_AGE = rules.PHYSICAL_STORE_MAX_AGE_SECONDS

# column -> (values Meta takes once the builder coerced and normalized them,
#            values the builder must reject or repair: Meta refuses them as they are)
COLUMNS_VALUES: dict[str, tuple[list[Any], list[Any]]] = {
    "event_name": (
        ["Purchase", "purchase", "Lead", "LeadSubmitted", "AddToCart", "signup_v2"],
        ["  "],
    ),
    "event_time": (
        [NOW, NOW - 3600, NOW + SKEW, NOW - AGE],
        [  # the future, past 7 days (fine for physical_store up to 62 days), unreadable
            *(NOW + SKEW + 1, NOW + 180, NOW + 300, NOW + 301),
            *(NOW - AGE - 1, NOW - 30 * DAY, NOW - STORE_AGE, NOW - STORE_AGE - 1, "x"),
        ],
    ),
    "action_source": (
        [
            "website",
            "app",
            "email",
            "physical_store",
            "Physical Store",
            "business_messaging",
            "system_generated",
            "chat",
        ],
        ["web"],
    ),
    "event_source_url": (["https://shop.example/p"], [""]),
    "client_user_agent": (["Mozilla/5.0"], [HASH]),
    "em": (["john@example.com", HASH], ["not-an-email"]),
    "ph": (["+1 650 555 1212"], ["abc"]),
    "fn": (["Mary"], ["!!"]),
    "ln": (["Smith"], []),
    "ge": (["F"], ["x"]),
    "db": (["1997-02-16"], ["someday"]),
    "ct": (["Paris"], []),
    "zp": (["94035"], []),
    "country": (["US", "fr"], ["Atlantis"]),
    "client_ip_address": (["203.0.113.7", "2001:db8::1"], ["999.1.1.1"]),
    "fbc": (
        ["fb.1.1554763741205.AbCdEf", "fb.0.1554763741205.IwAR2x.AQ"],
        ["fb.3.1554763741205.AbCd", "fb.1.123.AbCd", "IwAR2x"],  # index 3: 2804001
    ),
    "fbp": (["fb.1.1596403881668.1116446470"], ["fb.4.1596403881668.1", HASH]),
    "external_id": (["user-1"], []),
    "subscription_id": (["sub-1"], [HASH]),
    "lead_id": (
        [
            1234567890123456,
            "123456789012345",
            " 1234567890123456 ",
            1.234567890123456e15,
            Decimal("1234567890123456"),
        ],
        ["abc", 12345, "12345678901234567", True, Decimal("1E+5000"), 10**5000],
    ),
    "fb_login_id": ([10203040506070, "10203040506070"], ["ten", -5, "1e5"]),
    "ctwa_clid": ([CTWA], ["bad click id", HASH]),
    "whatsapp_business_account_id": ([ID], [HASH]),
    "page_id": ([ID], [HASH]),
    "page_scoped_user_id": ([ID], []),
    "ig_account_id": ([ID], []),
    "ig_sid": ([ID], []),
    "messaging_channel": (["whatsapp", "WhatsApp", "messenger", "instagram"], ["sms"]),
    "app_data": (
        [app_data(), app_data(0, 0, version="i2"), app_data(True, "false"), app_data("1", "0")],
        [
            app_data(length=5),  # fewer than 16 slots
            app_data(length=15),
            app_data(length=17),
            app_data(length=0),
            app_data(version="x1"),
            app_data(flag=2),
            app_data(flag="x"),
            app_data(other="maybe"),
            json.dumps({"extinfo": extinfo(16, "a2")}),
            json.dumps({"advertiser_tracking_enabled": 1}),
            "not json",
        ],
    ),
    "data_processing_options": (["LDU", '["LDU"]', "[]"], ["GDPR"]),
    "data_processing_options_country": ([0, 1, "1"], [2, True]),
    "data_processing_options_state": ([0, 1000, "1000"], [6]),
    "value": ([19.99, "142.52", 0, Decimal("12.50")], ["19,99", "abc", float("inf")]),
    "currency": (["USD", "eur"], ["XYZ", ""]),
    "contents": (['[{"id": "a", "quantity": 1}]'], ['[{"quantity": 1}]', '[{"id": ""}]']),
    "content_type": (["product", "Product"], ["products"]),
    "customer_segmentation": (["new_customer_to_business", "Customer_In_Loyalty_Program"], ["vip"]),
    "delivery_category": (["curbside", "Home_Delivery"], ["drone"]),
    "num_items": ([2, "2"], ["two", 2.5]),
    "opt_out": ([True, "yes"], ["maybe"]),
    "lead_event_source": (["Salesforce"], []),
    "event_source": (["crm"], []),
}
COLUMNS = ("row_id", *COLUMNS_VALUES)
BREAKABLE = [column for column, (_, bad) in COLUMNS_VALUES.items() if bad]


REQUIRED = ("event_name", "event_time", "action_source")
CHANNEL_KEYS = {
    "whatsapp": ("whatsapp_business_account_id", "ctwa_clid"),
    "messenger": ("page_id", "page_scoped_user_id"),
    "instagram": ("ig_account_id", "ig_sid"),
}


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """A row Meta would take (its action source's and event's keys filled in), then 0 to 2
    cells replaced by a value Meta refuses as it is."""
    row: dict[str, Any] = {
        column: draw(st.sampled_from(good)) if column in REQUIRED or draw(st.booleans()) else None
        for column, (good, _) in COLUMNS_VALUES.items()
    }
    source = str(row["action_source"]).lower().replace(" ", "_")
    if source == "website":
        row["event_source_url"], row["client_user_agent"] = "https://shop.example/p", "UA/1.0"
    if source == "app":
        row["app_data"] = draw(st.sampled_from(COLUMNS_VALUES["app_data"][0]))
    if source == "business_messaging":
        row["event_name"] = draw(st.sampled_from(["Purchase", "LeadSubmitted", "ViewContent"]))
        channel = row["messaging_channel"] = draw(st.sampled_from(list(CHANNEL_KEYS)))
        row.update({key: ID for key in CHANNEL_KEYS[channel]})
        if channel == "whatsapp":
            row["ctwa_clid"] = CTWA
    elif row["messaging_channel"] is not None:
        row["messaging_channel"] = None if draw(st.booleans()) else row["messaging_channel"]
    if str(row["event_name"]).lower() == "purchase":
        row["value"], row["currency"] = 10, "USD"
    if row["data_processing_options"] in ("LDU", '["LDU"]'):
        row["data_processing_options_country"] = 1
    for column in draw(st.lists(st.sampled_from(BREAKABLE), max_size=2, unique=True)):
        row[column] = draw(st.sampled_from(COLUMNS_VALUES[column][1]))
    return row


BUILDER = EventBuilder(resolve_mapping(COLUMNS, identifier="row_id"), BuildOptions())


def _accepted_everywhere(event: dict[str, Any]) -> None:
    violation = check_event(event, 0, NOW)
    assert violation is None, (violation, event)
    assert check_batch([event], NOW) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows(), min_size=1, max_size=8))
@example([{**dict.fromkeys(COLUMNS), "event_name": "Lead", "action_source": "email",
           "event_time": NOW + 180, "em": "john@example.com"}])  # fmt: skip
def test_what_the_builder_lets_through_the_sandbox_accepts(rows: list[dict[str, Any]]) -> None:
    rows = [{"row_id": f"r-{i}", **row} for i, row in enumerate(rows)]
    one_by_one = [BUILDER.build(row, now=NOW) for row in rows]
    batched = BUILDER.build_batch(rows, now=NOW)
    for single, many in zip(one_by_one, batched, strict=True):
        assert type(single) is type(many)
        if isinstance(single, BuiltEvent):
            assert isinstance(many, BuiltEvent) and single.event == many.event
            _accepted_everywhere(single.event)
            assert validate_event(single.event, now=NOW) == []
        else:
            assert isinstance(single, Rejection) and single.reasons


def test_the_three_divergences_of_issue_8_are_rejected_or_repaired() -> None:
    base = {
        **dict.fromkeys(COLUMNS),
        "row_id": "r",
        "event_name": "Lead",
        "action_source": "email",
        "event_time": NOW,
        "em": "john@example.com",
    }
    ahead = BUILDER.build({**base, "event_time": NOW + 180}, now=NOW)  # 3 minutes ahead
    assert isinstance(ahead, Rejection)
    assert [r.code for r in ahead.reasons] == ["event_time_in_future"]
    app = json.dumps({"advertiser_tracking_enabled": 1, "extinfo": ["i2", "com.x", "", "", "17"]})
    short = BUILDER.build({**base, "action_source": "app", "app_data": app}, now=NOW)
    assert isinstance(short, Rejection)
    assert [r.code for r in short.reasons] == ["app_extinfo_invalid"]
    fbc = BUILDER.build({**base, "fbc": "fb.3.1554763741205.AbCd"}, now=NOW)
    assert isinstance(fbc, BuiltEvent)  # the good email still goes, without the bad fbc
    assert "fbc" not in fbc.event["user_data"] and fbc.event["user_data"]["em"]
    assert [w.code for w in fbc.warnings] == ["fbc_malformed"]
    _accepted_everywhere(fbc.event)


# ---- wire events: validate_event and the sandbox, and the sandbox's fast path -------------

WIRE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from(
        [
            "",
            "LDU",
            ["LDU"],
            [],
            ["GDPR"],
            1000,
            6,
            "whatsapp",
            "telegram",
            "LeadSubmitted",
            "Lead",
            "142.52",
            "19,99",
            19.99,
            "USD",
            "XYZ",
            "fb.1.1554763741205.AbCd",
            "fb.3.1554763741205.AbCd",
            "fb.1.1596403881668.1116446470",
            CTWA,
            "bad click id",
            1234567890123456,
            "1234567890123456",
            12345,
            HASH,
            "203.0.113.7",
            "new_customer_to_business",
            "vip",
            "curbside",
            [{"id": "a"}],
            [{"quantity": 1}],
            {"advertiser_tracking_enabled": 1, "extinfo": extinfo(16, "a2")},
            {"advertiser_tracking_enabled": True, "extinfo": extinfo(16, "i2")},
            {"advertiser_tracking_enabled": 1, "extinfo": extinfo(5, "i2")},
            {"advertiser_tracking_enabled": 0, "extinfo": extinfo(17, "a2")},
            NOW + 30,
            NOW + 61,
            NOW + 300,
            NOW - 8 * DAY,
        ]
    ),
)
TOP = [
    "event_name",
    "event_time",
    "action_source",
    "event_source_url",
    "messaging_channel",
    "data_processing_options",
    "data_processing_options_country",
    "data_processing_options_state",
    "app_data",
    "opt_out",
    "customer_segmentation",
]
USER = [
    "em",
    "client_ip_address",
    "client_user_agent",
    "fbc",
    "fbp",
    "lead_id",
    "fb_login_id",
    "ctwa_clid",
    "whatsapp_business_account_id",
    "page_id",
    "page_scoped_user_id",
    "ig_account_id",
    "ig_sid",
]
CUSTOM = [
    "value",
    "currency",
    "contents",
    "content_type",
    "customer_segmentation",
    "delivery_category",
    "num_items",
]
PLACES = st.one_of(
    st.tuples(st.just("top"), st.sampled_from(TOP)),
    st.tuples(st.just("user"), st.sampled_from(USER)),
    st.tuples(st.just("custom"), st.sampled_from(CUSTOM)),
)


def _bases() -> list[dict[str, Any]]:
    return [
        valid_event(now=NOW),
        valid_app_event(now=NOW),
        *(valid_messaging_event(channel, now=NOW) for channel in rules.MESSAGING_CHANNELS),
        valid_crm_event(now=NOW),
    ]


BASES = _bases()


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(range(len(BASES))),
    st.lists(st.tuples(PLACES, WIRE_VALUES, st.booleans()), min_size=1, max_size=4),
)
def test_what_the_validator_finds_valid_the_sandbox_accepts(
    base: int, mutations: list[Any]
) -> None:
    event = copy.deepcopy(BASES[base])
    for (where, key), value, remove in mutations:
        target = {"top": event, "user": event["user_data"]}.get(where)
        if target is None:
            target = event.setdefault("custom_data", {})
        if remove or value is None:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)
    if validate_event(event, now=NOW) == []:
        assert check_event(event, 0, NOW) is None, event
    if surely_valid(event, NOW, CURRENCIES):
        assert check_event(event, 0, NOW) is None, event
