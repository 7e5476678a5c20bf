"""Events the sandbox (and Meta) accept, for tests, benchmarks and the quickstart.

valid_event()                          a website Purchase with hashed customer keys
valid_event(event_name="Lead", custom_data=None)   None removes a key
valid_app_event(), valid_batch(1000)   an app event; n events with distinct event_ids
valid_messaging_event("messenger")     a business messaging Purchase of that channel
valid_crm_event()                      a conversion-leads (CRM) event with its lead_id
"""

from __future__ import annotations

import hashlib
import itertools
import time
from typing import Any

JOHN_EMAIL_HASH = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
US_HASH = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) capisync-sandbox"
CTWA_CLID = "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4Xv_zfUQ2a"
LEAD_ID = 1234567890123456  # Meta's lead IDs are integers of 15 or 16 digits
CHANNEL_USER_DATA = {  # the keys each messaging channel needs (capi.rules), with sample IDs
    "whatsapp": {"whatsapp_business_account_id": "102290129340398", "ctwa_clid": CTWA_CLID},
    "messenger": {"page_id": "112233445566778", "page_scoped_user_id": "5566778899"},
    "instagram": {"ig_account_id": "17841400000000000", "ig_sid": "1234567890123"},
}
_ORDER_NUMBERS = itertools.count(1)  # every call gets its own order: no accidental duplicates


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def valid_event(*, now: float | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid website Purchase event; keyword arguments replace keys, None removes one."""
    event_time = int(time.time() if now is None else now) - 60
    order_id = f"order-{event_time}-{next(_ORDER_NUMBERS)}"
    event: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": event_time,
        "event_id": f"Purchase:{order_id}",
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout/thank-you",
        "user_data": {
            "em": [JOHN_EMAIL_HASH],
            "ph": [sha256_hex("16505551212")],
            "country": [US_HASH],
            "client_ip_address": "203.0.113.7",
            "client_user_agent": USER_AGENT,
            "fbp": f"fb.1.{event_time * 1000}.1234567890",
        },
        "custom_data": {
            "value": 129.9,
            "currency": "USD",
            "contents": [{"id": "sku-1", "quantity": 1, "item_price": 129.9}],
            "order_id": order_id,
        },
    }
    return _apply(event, overrides)


def valid_app_event(*, now: float | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid app event (action_source app, with app_data)."""
    extinfo = [
        "a2",
        "com.example.shop",
        "1.0",
        "1.0 long",
        "14",
        "Pixel 8",
        "en_US",
        "UTC",
        "",
        "1080",
        "2400",
        "2.6",
        "8",
        "128",
        "64",
        "Europe/Paris",
    ]
    base = valid_event(now=now, action_source="app", event_source_url=None)
    base["user_data"] = {"madid": "38400000-8cf0-11bd-b23e-10b96e40000d", "em": [JOHN_EMAIL_HASH]}
    base["app_data"] = {
        "advertiser_tracking_enabled": 1,
        "application_tracking_enabled": 1,
        "extinfo": extinfo,
    }
    return _apply(base, overrides)


def valid_messaging_event(
    channel: str = "whatsapp", *, now: float | None = None, **overrides: Any
) -> dict[str, Any]:
    """A valid business messaging Purchase of ``channel`` (whatsapp, messenger, instagram)."""
    base = valid_event(now=now, action_source="business_messaging", event_source_url=None)
    base["messaging_channel"] = channel
    base["user_data"] = {"em": [JOHN_EMAIL_HASH], **CHANNEL_USER_DATA[channel]}
    return _apply(base, overrides)


def valid_crm_event(*, now: float | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid conversion-leads event: a CRM stage, system_generated, with the lead's ID."""
    base = valid_event(
        now=now,
        event_name="Marketing Qualified Lead",
        action_source="system_generated",
        event_source_url=None,
        custom_data={"lead_event_source": "Salesforce", "event_source": "crm"},
    )
    base["user_data"] = {"lead_id": LEAD_ID}
    return _apply(base, overrides)


def valid_batch(
    count: int, *, start: int = 0, now: float | None = None, **overrides: Any
) -> list[dict[str, Any]]:
    """`count` valid events with event_ids `start`..`start+count-1` (no accidental duplicates)."""
    events = []
    for n in range(start, start + count):
        event = valid_event(now=now, **overrides)
        event["event_id"] = f"{event['event_name']}:batch-{n}"
        events.append(event)
    return events


def _apply(event: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event
