"""The sandbox's per-event rules, table-driven: what Meta accepts, what it refuses and how."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capisync.capi.rules import FUTURE_SKEW_SECONDS
from capisync.sandbox.examples import (
    JOHN_EMAIL_HASH,
    LEAD_ID,
    sha256_hex,
    valid_app_event,
    valid_batch,
    valid_crm_event,
    valid_event,
    valid_messaging_event,
)
from capisync.sandbox.fast_path import check_batch
from capisync.sandbox.rules import (
    SUBCODE_BAD_FBC,
    SUBCODE_CTWA_CLID,
    SUBCODE_INSUFFICIENT_CUSTOMER_INFO,
    SUBCODE_INVALID_LEAD_ID,
    SUBCODE_MESSAGING_CHANNEL,
    SUBCODE_MESSAGING_EVENT,
    SUBCODE_MISSING_CURRENCY,
    SUBCODE_NOT_HASHED,
    SUBCODE_PARAMETER,
    SUBCODE_TOO_OLD,
    check_event,
)

NOW = 1_790_000_000.0
DAY = 86_400
HASH = JOHN_EMAIL_HASH
RAW_EMAIL = "john_smith@gmail.com"


def event(**overrides: Any) -> dict[str, Any]:
    return valid_event(now=NOW, **overrides)


def with_user_data(**changes: Any) -> dict[str, Any]:
    base = event()
    for key, value in changes.items():
        if value is None:
            base["user_data"].pop(key, None)
        else:
            base["user_data"][key] = value
    return base


def only_user_data(**user_data: Any) -> dict[str, Any]:
    return event(action_source="email", event_source_url=None, user_data=user_data)


def with_custom_data(**changes: Any) -> dict[str, Any]:
    base = event()
    base["custom_data"].update(changes)
    return base


def messaging(channel: str | None = "whatsapp", **overrides: Any) -> dict[str, Any]:
    """A business messaging Purchase of `channel` (None: no messaging_channel); keyword
    arguments named user_data__<key> change its user_data."""
    base = valid_messaging_event(channel or "whatsapp", now=NOW)
    if channel is None:
        del base["messaging_channel"]
    for key, value in overrides.items():
        target = base["user_data"] if key.startswith("user_data__") else base
        name = key.removeprefix("user_data__")
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return base


def crm_event(**user_data: Any) -> dict[str, Any]:
    """A conversion-leads (CRM) event, as Meta's payload specification shows it."""
    base = valid_crm_event(now=NOW)
    base["user_data"].update(user_data)
    return base


def ldu(country: Any, state: Any, **user_data: Any) -> dict[str, Any]:
    base = event(data_processing_options=["LDU"])
    if country is not None:
        base["data_processing_options_country"] = country
    if state is not None:
        base["data_processing_options_state"] = state
    base["user_data"].update(user_data)
    return base


def app_event(**app_data_changes: Any) -> dict[str, Any]:
    base = valid_app_event(now=NOW)
    for key, value in app_data_changes.items():
        if value is None:
            base["app_data"].pop(key)
        else:
            base["app_data"][key] = value
    return base


ACCEPTED = {
    "website purchase": event(),
    "lead without custom_data": event(event_name="Lead", custom_data=None),
    "custom event name": event(event_name="signup_completed_v2", custom_data=None),
    "event_time just now": event(event_time=int(NOW)),
    "event_time with small clock skew": event(event_time=int(NOW) + 30),
    "event_time 6 days old": event(event_time=int(NOW) - 6 * DAY),
    "physical_store 60 days old": event(
        action_source="physical_store", event_source_url=None, event_time=int(NOW) - 60 * DAY
    ),
    "hashes as a single string": with_user_data(em=HASH),
    "uppercase hex hash": with_user_data(em=HASH.upper()),
    "raw external_id (Meta recommends hashing, does not require it)": with_user_data(
        external_id="user-42"
    ),
    "hashed external_id list": with_user_data(external_id=[sha256_hex("user-42")]),
    "ipv6 client address": with_user_data(client_ip_address="2001:db8::1"),
    "valid fbc": with_user_data(fbc="fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890"),
    "only client_ip_address and user agent": only_user_data(
        client_ip_address="203.0.113.7", client_user_agent="Mozilla/5.0"
    ),
    "only em": only_user_data(em=[HASH]),
    "weak keys plus a strong one": only_user_data(
        fn=[sha256_hex("mary")], ge=[sha256_hex("f")], em=[HASH]
    ),
    "empty values ignored beside a real key": with_user_data(ph=[], fn=""),
    "app event": valid_app_event(now=NOW),
    "LDU with geolocation": event(
        data_processing_options=["LDU"],
        data_processing_options_country=0,
        data_processing_options_state=0,
    ),
    "LDU California": event(
        data_processing_options=["LDU"],
        data_processing_options_country=1,
        data_processing_options_state=1000,
    ),
    "no LDU": event(data_processing_options=[]),
    "lowercase currency": with_custom_data(currency="eur"),
    "integer value": with_custom_data(value=100),
    "custom properties in custom_data": with_custom_data(compared_product="banner-shoes"),
    "contents ids as numbers": with_custom_data(contents=[{"id": 42, "quantity": 2}]),
    "optional keys": event(
        opt_out=False,
        referrer_url="https://ref.example/",
        messaging_channel="whatsapp",
        original_event_data={"event_name": "Purchase", "event_time": int(NOW) - 100},
    ),
    # spec section 2 (Meta's docs, late 2026)
    "value as a numeric string (Meta's own example)": with_custom_data(value="142.52"),
    "lead without value": event(event_name="Lead", custom_data={"currency": "USD"}),
    "customer_segmentation in custom_data": with_custom_data(
        customer_segmentation="new_customer_to_business"
    ),
    "every customer segment": with_custom_data(customer_segmentation="customer_in_loyalty_program"),
    "LDU, country 1, an IP and no state": ldu(1, None),
    "LDU, country 0, an IP and no state": ldu(0, None),
    "LDU with geolocated state": ldu(1, 0),
    "whatsapp purchase": messaging("whatsapp"),
    "whatsapp LeadSubmitted": messaging("whatsapp", event_name="LeadSubmitted"),
    "messenger purchase": messaging("messenger"),
    "instagram purchase": messaging("instagram"),
    "messenger AddToCart": messaging("messenger", event_name="AddToCart", custom_data=None),
    "CRM event with a 16-digit lead_id": crm_event(),
    "CRM event with a 15-digit lead_id": crm_event(lead_id=123456789012345),
    "fb_login_id as an integer": with_user_data(fb_login_id=10203040506070),
    "app flags 0": app_event(advertiser_tracking_enabled=0, application_tracking_enabled=0),
    "iOS extinfo": app_event(extinfo=["i2"] + [""] * 15),
    "delivery_category": with_custom_data(delivery_category="curbside"),
}


@pytest.mark.parametrize("case", list(ACCEPTED), ids=list(ACCEPTED))
def test_meta_accepts(case: str) -> None:
    assert check_event(ACCEPTED[case], 0, NOW) is None


# (event, subcode, text that must appear in the message)
REJECTED: dict[str, tuple[Any, int, str]] = {
    "not an object": ("an event", SUBCODE_PARAMETER, "$['data'][0] must be a JSON object"),
    "unknown top-level key": (
        event(email=RAW_EMAIL),
        SUBCODE_PARAMETER,
        "$['data'][0]['email'] is not a valid",
    ),
    "missing event_name": (event(event_name=None), SUBCODE_PARAMETER, "['event_name'] is required"),
    "missing event_time": (event(event_time=None), SUBCODE_PARAMETER, "['event_time'] is required"),
    "missing action_source": (
        event(action_source=None),
        SUBCODE_PARAMETER,
        "['action_source'] is required",
    ),
    "missing user_data": (event(user_data=None), SUBCODE_PARAMETER, "['user_data'] is required"),
    "empty event_name": (event(event_name="  "), SUBCODE_PARAMETER, "non-empty string"),
    "event_name not a string": (event(event_name=7), SUBCODE_PARAMETER, "non-empty string"),
    "event_time as a string": (
        event(event_time=str(int(NOW))),
        SUBCODE_PARAMETER,
        "must be an integer",
    ),
    "event_time as a float": (event(event_time=NOW), SUBCODE_PARAMETER, "must be an integer"),
    "event_time in milliseconds": (
        event(event_time=int(NOW * 1000)),
        SUBCODE_PARAMETER,
        "is in the future",
    ),
    "event_time beyond the skew": (
        event(event_time=int(NOW) + 600),
        SUBCODE_PARAMETER,
        "is in the future",
    ),
    "event_time 8 days old": (
        event(event_time=int(NOW) - 8 * DAY),
        SUBCODE_TOO_OLD,
        "within 7 days",
    ),
    "physical_store 63 days old": (
        event(
            action_source="physical_store", event_source_url=None, event_time=int(NOW) - 63 * DAY
        ),
        SUBCODE_TOO_OLD,
        "within 62 days",
    ),
    "unknown action_source": (event(action_source="web"), SUBCODE_PARAMETER, "must be one of"),
    "website without event_source_url": (
        event(event_source_url=None),
        SUBCODE_PARAMETER,
        "['event_source_url'] is required",
    ),
    "website without client_user_agent": (
        with_user_data(client_user_agent=None),
        SUBCODE_PARAMETER,
        "['user_data']['client_user_agent'] is required for website events",
    ),
    "user_data not an object": (event(user_data=[HASH]), SUBCODE_PARAMETER, "JSON object"),
    "no customer key": (
        only_user_data(),
        SUBCODE_INSUFFICIENT_CUSTOMER_INFO,
        "no customer information",
    ),
    "only unknown user_data keys": (
        only_user_data(email=HASH),
        SUBCODE_INSUFFICIENT_CUSTOMER_INFO,
        "no customer information",
    ),
    "weak: fn and ge": (
        only_user_data(fn=[sha256_hex("mary")], ge=[sha256_hex("f")]),
        SUBCODE_INSUFFICIENT_CUSTOMER_INFO,
        "fn, ge",
    ),
    "weak: db and user agent": (
        only_user_data(db=[sha256_hex("19970216")], client_user_agent="Mozilla/5.0"),
        SUBCODE_INSUFFICIENT_CUSTOMER_INFO,
        "client_user_agent, db",
    ),
    "weak: location keys only": (
        only_user_data(ct=[sha256_hex("paris")], country=[sha256_hex("fr")]),
        SUBCODE_INSUFFICIENT_CUSTOMER_INFO,
        "country, ct",
    ),
    "weak: user agent alone": (
        only_user_data(client_user_agent="Mozilla/5.0"),
        SUBCODE_INSUFFICIENT_CUSTOMER_INFO,
        "client_user_agent",
    ),
    "raw email": (with_user_data(em=RAW_EMAIL), SUBCODE_NOT_HASHED, "['user_data']['em']"),
    "raw email in a list": (
        with_user_data(em=[HASH, RAW_EMAIL]),
        SUBCODE_NOT_HASHED,
        "['user_data']['em']",
    ),
    "raw phone": (with_user_data(ph="16505551212"), SUBCODE_NOT_HASHED, "['ph']"),
    "raw country": (with_user_data(country="us"), SUBCODE_NOT_HASHED, "['country']"),
    "md5 instead of sha256": (
        with_user_data(em="5d41402abc4b2a76b9719d911017c592"),
        SUBCODE_NOT_HASHED,
        "['em']",
    ),
    "63 hex digits": (with_user_data(fn=HASH[:-1]), SUBCODE_NOT_HASHED, "['fn']"),
    "64 chars with a space": (
        with_user_data(ln=HASH[:30] + " " + HASH[31:]),
        SUBCODE_NOT_HASHED,
        "['ln']",
    ),
    "hash as a number": (with_user_data(zp=94035), SUBCODE_NOT_HASHED, "['zp']"),
    "hashed client ip": (
        with_user_data(client_ip_address=sha256_hex("203.0.113.7")),
        SUBCODE_PARAMETER,
        "['client_ip_address'] must not be hashed",
    ),
    "hashed user agent": (
        with_user_data(client_user_agent=HASH),
        SUBCODE_PARAMETER,
        "must not be hashed",
    ),
    "hashed fbp": (with_user_data(fbp=HASH), SUBCODE_PARAMETER, "['fbp'] must not be hashed"),
    "invalid ip": (
        with_user_data(client_ip_address="203.0.113.999"),
        SUBCODE_PARAMETER,
        "valid IPv4 or IPv6",
    ),
    "user agent not a string": (
        with_user_data(client_user_agent=["Mozilla"]),
        SUBCODE_PARAMETER,
        "must be a string",
    ),
    "fbc without prefix": (with_user_data(fbc="AbCdEf123"), SUBCODE_BAD_FBC, "['fbc']"),
    "fbc with subdomain index 3": (
        with_user_data(fbc="fb.3.1554763741205.AbCd"),
        SUBCODE_BAD_FBC,
        "fb.{subdomain_index}",
    ),
    "fbc with non-numeric time": (
        with_user_data(fbc="fb.1.yesterday.AbCd"),
        SUBCODE_BAD_FBC,
        "['fbc']",
    ),
    "external_id not a string": (
        with_user_data(external_id={"id": 1}),
        SUBCODE_PARAMETER,
        "['external_id']",
    ),
    "purchase without custom_data": (
        event(custom_data=None),
        SUBCODE_MISSING_CURRENCY,
        "include a currency parameter",
    ),
    "purchase without currency": (
        with_custom_data(currency=None),
        SUBCODE_MISSING_CURRENCY,
        "Enter a currency parameter. For example: USD",
    ),
    "purchase without value": (
        with_custom_data(value=None),
        SUBCODE_PARAMETER,
        "['value'] is required",
    ),
    "value as a word": (with_custom_data(value="lots"), SUBCODE_PARAMETER, "must be a number"),
    "value as a string with a currency sign": (
        with_custom_data(value="$129.90"),
        SUBCODE_PARAMETER,
        "must be a number",
    ),
    "value infinite": (with_custom_data(value="inf"), SUBCODE_PARAMETER, "must be a number"),
    "value as a boolean": (with_custom_data(value=True), SUBCODE_PARAMETER, "must be a number"),
    "unknown currency": (with_custom_data(currency="EUROS"), SUBCODE_PARAMETER, "ISO 4217"),
    "currency not a code": (with_custom_data(currency="XYZ"), SUBCODE_PARAMETER, "ISO 4217"),
    "custom_data not an object": (
        event(custom_data=[1]),
        SUBCODE_PARAMETER,
        "['custom_data'] must be a JSON object",
    ),
    "contents item without id": (
        with_custom_data(contents=[{"id": "a"}, {"quantity": 1}]),
        SUBCODE_PARAMETER,
        "['custom_data']['contents'][1]['id'] is required",
    ),
    "contents item with empty id": (
        with_custom_data(contents=[{"id": ""}]),
        SUBCODE_PARAMETER,
        "[0]['id'] is required",
    ),
    "contents not a list": (
        with_custom_data(contents={"id": "a"}),
        SUBCODE_PARAMETER,
        "list of objects",
    ),
    "content_ids not a list": (
        with_custom_data(content_ids="sku-1"),
        SUBCODE_PARAMETER,
        "list of strings",
    ),
    "app event without app_data": (
        valid_app_event(now=NOW, app_data=None),
        SUBCODE_PARAMETER,
        "['app_data'] is required",
    ),
    "app event without advertiser_tracking_enabled": (
        app_event(advertiser_tracking_enabled=None),
        SUBCODE_PARAMETER,
        "['advertiser_tracking_enabled'] is required",
    ),
    "advertiser_tracking_enabled 2": (
        app_event(advertiser_tracking_enabled=2),
        SUBCODE_PARAMETER,
        "must be 0 or 1",
    ),
    "app event without extinfo": (
        app_event(extinfo=None),
        SUBCODE_PARAMETER,
        "['extinfo'] is required",
    ),
    "extinfo too short": (app_event(extinfo=["i2"]), SUBCODE_PARAMETER, "16 values"),
    "extinfo wrong version": (
        app_event(extinfo=["x1"] + [""] * 15),
        SUBCODE_PARAMETER,
        "a2 (Android) or i2 (iOS)",
    ),
    "data_processing_options not LDU": (
        event(data_processing_options=["GDPR"]),
        SUBCODE_PARAMETER,
        '["LDU"] or []',
    ),
    "LDU without a country": (
        ldu(None, 1000),
        SUBCODE_PARAMETER,
        "['data_processing_options_country'] is required with LDU",
    ),
    "LDU without country or state": (ldu(None, None), SUBCODE_PARAMETER, "Colorado"),
    "LDU without state or IP": (
        ldu(1, None, client_ip_address=None),
        SUBCODE_PARAMETER,
        "['data_processing_options_state'] is required with LDU when the event has no "
        "client_ip_address",
    ),
    "LDU undocumented country code": (ldu(2, 0), SUBCODE_PARAMETER, "must be 0 or 1"),
    "LDU undocumented state code": (ldu(1, 1001), SUBCODE_PARAMETER, "must be 0 or 1000"),
    "LDU country as a string": (
        event(data_processing_options=["LDU"], data_processing_options_country="US"),
        SUBCODE_PARAMETER,
        "['data_processing_options_country'] must be an integer",
    ),
    "LDU state as a boolean": (
        event(data_processing_options=["LDU"], data_processing_options_state=True),
        SUBCODE_PARAMETER,
        "['data_processing_options_state'] must be an integer",
    ),
    "advertiser_tracking_enabled true": (
        app_event(advertiser_tracking_enabled=True),
        SUBCODE_PARAMETER,
        "['advertiser_tracking_enabled'] must be 0 or 1",
    ),
    "advertiser_tracking_enabled 'true'": (
        app_event(advertiser_tracking_enabled="true"),
        SUBCODE_PARAMETER,
        "must be 0 or 1",
    ),
    "advertiser_tracking_enabled '1'": (
        app_event(advertiser_tracking_enabled="1"),
        SUBCODE_PARAMETER,
        "must be 0 or 1",
    ),
    "application_tracking_enabled false": (
        app_event(application_tracking_enabled=False),
        SUBCODE_PARAMETER,
        "['application_tracking_enabled'] must be 0 or 1",
    ),
    "extinfo 17 slots": (app_event(extinfo=["a2"] + [""] * 16), SUBCODE_PARAMETER, "16 values"),
    "extinfo 15 slots": (app_event(extinfo=["a2"] + [""] * 14), SUBCODE_PARAMETER, "16 values"),
    "business messaging without messaging_channel": (
        messaging(None),
        SUBCODE_MESSAGING_CHANNEL,
        "['messaging_channel'] is required",
    ),
    "business messaging with an unknown channel": (
        messaging("whatsapp", messaging_channel="telegram"),
        SUBCODE_PARAMETER,
        "['messaging_channel'] must be one of",
    ),
    "business messaging Lead": (
        messaging("whatsapp", event_name="Lead", custom_data=None),
        SUBCODE_MESSAGING_EVENT,
        "LeadSubmitted",
    ),
    "business messaging custom event": (
        messaging("messenger", event_name="ChatStarted", custom_data=None),
        SUBCODE_MESSAGING_EVENT,
        "business messaging",
    ),
    "whatsapp without ctwa_clid": (
        messaging("whatsapp", user_data__ctwa_clid=None),
        SUBCODE_CTWA_CLID,
        "['user_data']['ctwa_clid'] is required",
    ),
    "whatsapp with an invalid ctwa_clid": (
        messaging("whatsapp", user_data__ctwa_clid="not a click id!"),
        SUBCODE_CTWA_CLID,
        "['user_data']['ctwa_clid']",
    ),
    "whatsapp without its business account": (
        messaging("whatsapp", user_data__whatsapp_business_account_id=None),
        SUBCODE_PARAMETER,
        "['whatsapp_business_account_id'] is required for whatsapp events",
    ),
    "messenger without page_scoped_user_id": (
        messaging("messenger", user_data__page_scoped_user_id=None),
        SUBCODE_PARAMETER,
        "['page_scoped_user_id'] is required for messenger events",
    ),
    "instagram without ig_sid": (
        messaging("instagram", user_data__ig_sid=None),
        SUBCODE_PARAMETER,
        "['ig_sid'] is required for instagram events",
    ),
    "lead_id abc": (crm_event(lead_id="abc"), SUBCODE_INVALID_LEAD_ID, "['lead_id']"),
    "lead_id as a digit string": (
        crm_event(lead_id=str(LEAD_ID)),
        SUBCODE_INVALID_LEAD_ID,
        "integer of 15 or 16 digits",
    ),
    "lead_id of 14 digits": (crm_event(lead_id=12345678901234), SUBCODE_INVALID_LEAD_ID, "15"),
    "lead_id of 17 digits": (
        crm_event(lead_id=12345678901234567),
        SUBCODE_INVALID_LEAD_ID,
        "['lead_id']",
    ),
    "lead_id true": (crm_event(lead_id=True), SUBCODE_INVALID_LEAD_ID, "['lead_id']"),
    "fb_login_id as text": (
        with_user_data(fb_login_id="ten"),
        SUBCODE_PARAMETER,
        "['fb_login_id'] must be an integer",
    ),
    "customer_segmentation at the top level": (
        event(customer_segmentation="new_customer_to_business"),
        SUBCODE_PARAMETER,
        "(it goes inside custom_data)",
    ),
    "customer_segmentation not one of Meta's": (
        with_custom_data(customer_segmentation="vip"),
        SUBCODE_PARAMETER,
        "['customer_segmentation'] must be one of",
    ),
    "delivery_category unknown": (
        with_custom_data(delivery_category="drone"),
        SUBCODE_PARAMETER,
        "in_store, curbside or home_delivery",
    ),
    "opt_out not a boolean": (event(opt_out="yes"), SUBCODE_PARAMETER, "must be a boolean"),
    "event_source_url not a string": (
        event(event_source_url=["https://x"]),
        SUBCODE_PARAMETER,
        "must be a string",
    ),
    "original_event_data not an object": (
        event(original_event_data="order-1"),
        SUBCODE_PARAMETER,
        "must be a JSON object",
    ),
}


@pytest.mark.parametrize("case", list(REJECTED), ids=list(REJECTED))
def test_meta_rejects(case: str) -> None:
    bad, subcode, text = REJECTED[case]
    violation = check_event(bad, 0, NOW)
    assert violation is not None, f"{case} was accepted"
    assert violation.subcode == subcode
    assert text in violation.message


def test_messages_never_hold_customer_values() -> None:
    raw_ip = "203.0.113.999"
    for bad in (
        with_user_data(em=RAW_EMAIL),
        with_user_data(client_ip_address=raw_ip),
        with_user_data(fbc="fb.9.1.secret-click"),
        event(**{RAW_EMAIL: 1}),
    ):
        violation = check_event(bad, 0, NOW)
        assert violation is not None
        for secret in (RAW_EMAIL, raw_ip, "secret-click"):
            assert secret not in violation.message and secret not in violation.title


def test_batch_names_the_first_failing_event() -> None:
    events = valid_batch(5, now=NOW)
    events[3] = event(event_time=int(NOW) - 30 * DAY)
    events[4] = with_user_data(em=RAW_EMAIL)
    failure = check_batch(events, NOW)
    assert failure is not None
    index, violation = failure
    assert index == 3
    assert violation.subcode == SUBCODE_TOO_OLD
    assert "$['data'][3]['event_time']" in violation.message


def test_a_valid_batch_passes() -> None:
    assert check_batch(valid_batch(50, now=NOW), NOW) is None


def test_window_edges_are_exact() -> None:
    seven_days = 7 * DAY
    assert check_event(event(event_time=int(NOW) - seven_days), 0, NOW) is None
    assert check_event(event(event_time=int(NOW) - seven_days - 1), 0, NOW) is not None
    skew = FUTURE_SKEW_SECONDS  # the one constant the validator reads too
    assert check_event(event(event_time=int(NOW) + skew), 0, NOW) is None
    assert check_event(event(event_time=int(NOW) + skew + 1), 0, NOW) is not None


@given(st.text(min_size=1, max_size=80))
def test_any_value_that_is_not_64_hex_is_refused_for_a_hashed_key(value: str) -> None:
    is_hex64 = len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)
    violation = check_event(with_user_data(em=value), 0, NOW)
    assert (violation is None) == is_hex64
    if violation is not None:
        assert violation.subcode == SUBCODE_NOT_HASHED


@given(st.binary(min_size=1, max_size=40))
def test_every_sha256_is_accepted_for_every_hashed_key(data: bytes) -> None:
    digest = sha256_hex(data.hex())
    for key in ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country"):
        assert check_event(with_user_data(**{key: [digest]}), 0, NOW) is None


def test_checking_does_not_modify_the_event() -> None:
    original = event()
    snapshot = copy.deepcopy(original)
    check_event(original, 0, NOW)
    assert original == snapshot


def test_a_thousand_events_check_in_a_few_milliseconds() -> None:
    events = valid_batch(1000, now=NOW)
    check_batch(events, NOW)  # warm caches (currency table)
    best = min(_timed(lambda: check_batch(events, NOW)) for _ in range(5))
    assert best < 0.05, f"1,000 events took {best * 1000:.1f} ms"


def _timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def test_examples_never_repeat_an_event_id() -> None:
    ids = [valid_event(now=NOW)["event_id"] for _ in range(3)]
    ids += [e["event_id"] for e in valid_batch(3, now=NOW)]
    assert len(set(ids)) == len(ids)
