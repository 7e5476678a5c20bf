"""Each event rule over real HTTP: the good event passes, the bad one fails with Meta's codes.

Every bad event is sent at index 2 of a 4-event batch, so each case also proves that one bad
event rejects the whole request and that the answer names the failing event.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from capisync.capi import versions
from capisync.sandbox import SandboxServer
from capisync.sandbox.examples import sha256_hex, valid_app_event, valid_batch, valid_event

NOW = 1_790_000_000.0
VERSION = versions.newest_name(NOW)  # the default on the frozen clock's day
DATASET = "1234567890"
TOKEN = "sandbox-token"
EVENTS = f"/{VERSION}/{DATASET}/events"
DAY = 86_400
HASH = sha256_hex("someone@example.com")


def ev(**overrides: Any) -> dict[str, Any]:
    return valid_event(now=NOW, **overrides)


def user(**user_data: Any) -> dict[str, Any]:
    base = ev()
    base["user_data"].update(user_data)
    return base


def custom(**custom_data: Any) -> dict[str, Any]:
    base = ev()
    base["custom_data"].update(custom_data)
    return base


def non_web(**user_data: Any) -> dict[str, Any]:
    return ev(action_source="system_generated", event_source_url=None, user_data=user_data)


def app(**app_data: Any) -> dict[str, Any]:
    base = valid_app_event(now=NOW)
    base["app_data"].update(app_data)
    return base


def messaging(**changes: Any) -> dict[str, Any]:
    """A WhatsApp business messaging Purchase; keyword arguments change the event or, for
    user_data keys, its user_data (None removes a key)."""
    base = ev(action_source="business_messaging", event_source_url=None)
    base["messaging_channel"] = "whatsapp"
    base["user_data"] = {
        "em": [HASH],
        "whatsapp_business_account_id": "102290129340398",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qp",
    }
    for key, value in changes.items():
        target = base["user_data"] if key in base["user_data"] else base
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return base


# rule: (accepted event, rejected event, subcode, text in error_user_msg)
RULES: dict[str, tuple[dict[str, Any], dict[str, Any], int, str]] = {
    "required keys": (ev(), ev(event_name=None), 2804019, "['event_name'] is required"),
    "event_name string": (
        ev(event_name="Lead", custom_data=None),
        ev(event_name=""),
        2804019,
        "['event_name']",
    ),
    "event_time integer": (ev(), ev(event_time=str(int(NOW))), 2804019, "['event_time']"),
    "event_time not in future": (
        ev(event_time=int(NOW) + 30),
        ev(event_time=int(NOW) + 3600),
        2804019,
        "in the future",
    ),
    "event_time 7 days": (
        ev(event_time=int(NOW) - 6 * DAY),
        ev(event_time=int(NOW) - 8 * DAY),
        2804003,
        "within 7 days",
    ),
    "physical_store 62 days": (
        ev(action_source="physical_store", event_source_url=None, event_time=int(NOW) - 61 * DAY),
        ev(action_source="physical_store", event_source_url=None, event_time=int(NOW) - 63 * DAY),
        2804003,
        "within 62 days",
    ),
    "action_source values": (
        ev(action_source="chat", event_source_url=None),
        ev(action_source="server"),
        2804019,
        "['action_source']",
    ),
    "website url": (ev(), ev(event_source_url=None), 2804019, "['event_source_url']"),
    "website user agent": (
        non_web(em=[HASH]),
        ev(user_data={"em": [HASH]}),
        2804019,
        "['client_user_agent']",
    ),
    "a customer key": (non_web(external_id="u-1"), non_web(), 2804050, "no customer information"),
    "weak combination": (
        non_web(fn=[HASH], ph=[HASH]),
        non_web(fn=[HASH], ge=[HASH]),
        2804050,
        "fn, ge",
    ),
    "hashed keys": (user(ct=[HASH]), user(ct=["paris"]), 2804016, "['user_data']['ct']"),
    "raw keys not hashed": (
        user(client_ip_address="198.51.100.4"),
        user(client_ip_address=HASH),
        2804019,
        "must not be hashed",
    ),
    "fbc shape": (
        user(fbc="fb.2.1700000000000.IwAR2x"),
        user(fbc="IwAR2x"),
        2804001,
        "['user_data']['fbc']",
    ),
    "value numeric": (
        custom(value="142.52"),  # Meta's own example: a numeric string is a number
        custom(value="142,52"),
        2804019,
        "['custom_data']['value']",
    ),
    "purchase currency": (
        custom(currency="JPY"),
        custom(currency=None),
        2804010,
        "include a currency parameter",
    ),
    "value only for Purchase": (
        ev(event_name="Lead", custom_data={"currency": "USD"}),
        ev(custom_data={"currency": "USD"}),
        2804019,
        "['custom_data']['value'] is required for Purchase",
    ),
    "ISO 4217": (custom(currency="chf"), custom(currency="ABC"), 2804019, "ISO 4217"),
    "contents id": (
        custom(contents=[{"id": "a"}]),
        custom(contents=[{"quantity": 1}]),
        2804019,
        "['contents'][0]['id']",
    ),
    "app data": (
        valid_app_event(now=NOW),
        valid_app_event(now=NOW, app_data={"extinfo": []}),
        2804019,
        "['app_data']['advertiser_tracking_enabled']",
    ),
    "LDU ints": (
        ev(
            data_processing_options=["LDU"],
            data_processing_options_country=1,
            data_processing_options_state=1000,
        ),
        ev(
            data_processing_options=["LDU"],
            data_processing_options_country=1,
            data_processing_options_state="CA",
        ),
        2804019,
        "['data_processing_options_state']",
    ),
    "LDU country": (
        ev(data_processing_options=["LDU"], data_processing_options_country=1),  # IP, no state
        ev(data_processing_options=["LDU"], data_processing_options_state=1000),
        2804019,
        "['data_processing_options_country'] is required with LDU",
    ),
    "app flags as integers": (
        valid_app_event(now=NOW),
        app(advertiser_tracking_enabled=True),
        2804019,
        "['app_data']['advertiser_tracking_enabled'] must be 0 or 1",
    ),
    "extinfo 16 slots": (
        valid_app_event(now=NOW),
        app(extinfo=["a2", "com.example.shop"]),
        2804019,
        "['app_data']['extinfo'] must be an array of 16 values",
    ),
    "messaging channel": (
        messaging(),
        messaging(messaging_channel=None),
        2804063,
        "['messaging_channel'] is required",
    ),
    "messaging event names": (
        messaging(event_name="LeadSubmitted"),
        messaging(event_name="Lead"),
        2804066,
        "LeadSubmitted",
    ),
    "whatsapp click ID": (
        messaging(),
        messaging(ctwa_clid="bad click id"),
        2804087,
        "['user_data']['ctwa_clid']",
    ),
    "lead_id": (
        non_web(lead_id=1234567890123456),
        non_web(lead_id="abc"),
        2804036,
        "['user_data']['lead_id']",
    ),
    "no unknown top-level key": (ev(), ev(phone="16505551212"), 2804019, "['phone']"),
}


@pytest.fixture
def frozen_clock(sandbox: SandboxServer) -> float:
    sandbox.config.clock = lambda: NOW
    return NOW


def batch_with(event: dict[str, Any]) -> list[dict[str, Any]]:
    events = valid_batch(4, now=NOW)
    events[2] = event
    return events


@pytest.mark.parametrize("rule", list(RULES), ids=list(RULES))
def test_rule_over_http(
    graph: httpx.Client, sandbox: SandboxServer, frozen_clock: float, rule: str
) -> None:
    good, bad, subcode, text = RULES[rule]
    accepted = graph.post(EVENTS, json={"access_token": TOKEN, "data": batch_with(good)})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["events_received"] == 4

    rejected = graph.post(EVENTS, json={"access_token": TOKEN, "data": batch_with(bad)})
    assert rejected.status_code == 400
    error = rejected.json()["error"]
    assert (error["code"], error["error_subcode"], error["is_transient"]) == (100, subcode, False)
    assert error["message"] == "Invalid parameter" and error["type"] == "OAuthException"
    assert "$['data'][2]" in error["error_user_msg"] and text in error["error_user_msg"]
    assert len(sandbox.store.events()) == 4  # only the good batch


def test_the_live_clock_is_used_by_default(graph: httpx.Client) -> None:
    fresh = valid_event(event_time=int(time.time()) - 10)
    live = f"/{versions.newest_name(time.time())}/{DATASET}/events"
    response = graph.post(live, json={"access_token": TOKEN, "data": [fresh]})
    assert response.status_code == 200
