"""The sandbox's Dataset Quality figures, computed from the events it received.

Meta computes its figures from its own data (pixel events, account matches, "similar
advertisers"); the sandbox has only the server events it accepted, so it answers in Meta's
shape with figures it can derive from them (Meta's descriptions kept as Meta words them):

- ``composite_score``: the mean of ``capi.emq.event_score`` over the event name's events, one
  decimal (capisync's own estimate works from coverage shares: close, not equal, as for real);
- ``match_key_feedback``: one entry per key at least one event carries, in Meta's naming
  (``capi.dataset_quality.META_IDENTIFIERS``), coverage in percent; its
  ``potential_aly_acr_increase`` is the sandbox's stand-in: the key's weight x 10 x the
  share of events missing it;
- ``diagnostics``: Meta's documented IPv4 diagnostic, when events carry IPv4 addresses;
- the pixel is modelled by the events carrying ``fbp`` (a browser saw them): ``acr`` is the
  share of events without ``fbp`` (conversions only the server reported), ``event_coverage``
  the share of the ``fbp`` events that also carry an ``event_id`` (deduplicable);
  ``dedupe_key_feedback`` the share of server and of those browser events with each key;
- ``data_freshness``: ``capi.dataset_quality.upload_frequency`` of receipt minus event_time.

Only web events (``action_source`` website) of the last 7 days count, as Meta's are.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from capisync.capi import emq
from capisync.capi.dataset_quality import (
    COVERAGE_GOAL,
    DEDUP_KEYS,
    META_IDENTIFIERS,
    agent_name_for,
    upload_frequency,
)
from capisync.sandbox.store import ReceivedEvent

WINDOW_SECONDS = 7 * 86400
_BROWSER = "The percentage of browser events that contain this dedupe key."
_SERVER = "The percentage of server events that contain this dedupe key."
_OVERALL = (
    "The overall percentage of browser events that are deduped with Conversions API events "
    "using this key. This percentage is incremental for each dedupe key."
)
_FRESHNESS = (
    "The average frequency with which instances of this event are received through the "
    "Conversions API."
)
_COVERAGE = (
    "The percentage of events received from your Conversions API compared to unique browser "
    "events from the Meta Pixel."
)


def web_figures(
    received: Sequence[ReceivedEvent], now: float, agent_name: str | None
) -> list[dict[str, Any]]:
    """Meta's ``web`` array for these events (one dataset's), in order of first receipt."""
    groups: dict[str, list[tuple[dict[str, Any], float]]] = {}
    wanted = agent_name.strip().lower() if agent_name is not None else None
    for item in received:
        if item.received_at < now - WINDOW_SECONDS:
            continue
        if wanted is not None and agent_name_for(item.partner_agent or "") != wanted:
            continue
        event = item.event
        name = event.get("event_name")
        if event.get("action_source") == "website" and isinstance(name, str):
            groups.setdefault(name, []).append((event, item.received_at))
    return [_entry(name, events) for name, events in groups.items()]


def _keys(event: dict[str, Any]) -> frozenset[str]:
    user_data = event.get("user_data")
    if not isinstance(user_data, dict):
        return frozenset()
    return frozenset(k for k, v in user_data.items() if v not in (None, "", []))


def _share(count: int, total: int) -> float:
    return round(100.0 * count / total, 2) if total else 0.0


def _entry(name: str, events: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    keys = [_keys(event) for event, _ in events]
    total = len(events)
    score = round(sum(emq.event_score(k) for k in keys) / total, 1)
    browser = [k for k in keys if "fbp" in k]
    pairs = zip(events, keys, strict=True)
    covered = sum(1 for (event, _), k in pairs if "fbp" in k and _has_id(event))
    coverage = _share(covered, len(browser))
    server_only = total - len(browser)
    acr = round(100.0 * server_only / total, 1)
    potential = round(3.0 * (10.0 - score), 1)
    delays = [
        at - event["event_time"]
        for event, at in events
        if isinstance(event.get("event_time"), int | float)
    ]
    return {
        "event_name": name,
        "event_match_quality": {
            "composite_score": score,
            "match_key_feedback": _match_keys(name, keys),
            "diagnostics": _diagnostics([event for event, _ in events]),
        },
        "event_potential_aly_acr_increase": {
            "percentage": potential,
            "description": f"Similar advertisers who set up Conversions API for {name} events "
            f"saw a median of {potential}% additional conversions reported versus those that "
            "only used Meta Pixel.",
        },
        "acr": {
            "percentage": acr,
            "description": f"In the last 7 days, you saw about {acr}% more conversions "
            f"reported for {name} events by using the Conversions API alongside the Meta Pixel.",
        },
        "event_coverage": _event_coverage(name, coverage),
        "dedupe_key_feedback": _dedup([e for e, _ in events], keys),
        "data_freshness": {"upload_frequency": upload_frequency(delays), "description": _FRESHNESS},
    }


def _has_id(event: dict[str, Any]) -> bool:
    return event.get("event_id") not in (None, "")


def _match_keys(name: str, keys: list[frozenset[str]]) -> list[dict[str, Any]]:
    feedback = []
    for param, identifier in META_IDENTIFIERS.items():
        carrying = sum(1 for k in keys if param in k)
        if not carrying:
            continue
        missing = 1.0 - carrying / len(keys)
        gain = round(emq.key_weight(param) * 10.0 * missing, 2)
        label = identifier.replace("_", " ").title()
        feedback.append(
            {
                "identifier": identifier,
                "coverage": {"percentage": _share(carrying, len(keys))},
                "potential_aly_acr_increase": {
                    "percentage": gain,
                    "description": f"Similar advertisers who sent valid {label} for {name} saw "
                    f"a {gain}% median increase in their existing additional conversions "
                    "reported.",
                },
            }
        )
    return feedback


def _diagnostics(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ipv4 = sum(1 for event in events if _is_ipv4(event))
    if not ipv4:
        return []
    return [
        {
            "name": "Update your IPv4 IP addresses to IPv6 IP addresses",
            "description": "Your server is sending IPV4 IP addresses through the Conversions "
            "API. We recommend updating to IPV6 IP addresses because this is the industry "
            "standard and offers better durability for this integration.",
            "solution": "You can update your web server and DNS provider configuration to "
            "support IPv6. In your server payload, send the client_ip_address retrieved from "
            "customer interactions.",
            "percentage": _share(ipv4, len(events)),
            "affected_event_count": ipv4,
            "total_event_count": len(events),
        }
    ]


def _is_ipv4(event: dict[str, Any]) -> bool:
    user_data = event.get("user_data")
    ip = user_data.get("client_ip_address") if isinstance(user_data, dict) else None
    try:
        return isinstance(ip, str) and ipaddress.ip_address(ip).version == 4
    except ValueError:
        return False


def _event_coverage(name: str, coverage: float) -> dict[str, Any]:
    gain = round(max(0.0, COVERAGE_GOAL - coverage) / 2.0, 1)
    return {
        "percentage": coverage,
        "goal_percentage": COVERAGE_GOAL,
        "description": _COVERAGE,
        "potential_aly_acr_increase": {
            "percentage": gain,
            "description": f"Similar advertisers who send the same {name} pixel events with "
            f"matching deduplication keys through Conversions API saw a median of {gain}% "
            "additional conversions reported versus those that only used Meta Pixel.",
        },
    }


def _dedup(events: list[dict[str, Any]], keys: list[frozenset[str]]) -> list[dict[str, Any]]:
    carries = {
        "event_id": [_has_id(e) for e in events],
        "external_id": ["external_id" in k for k in keys],
        "fbp": ["fbp" in k for k in keys],
    }
    browser = [i for i, k in enumerate(keys) if "fbp" in k]
    deduped: set[int] = set()
    feedback = []
    for key in DEDUP_KEYS:
        newly = {i for i in browser if carries[key][i]} - deduped
        deduped |= newly
        feedback.append(
            {
                "dedupe_key": key,
                "browser_events_with_dedupe_key": {
                    "percentage": _share(sum(carries[key][i] for i in browser), len(browser)),
                    "description": _BROWSER,
                },
                "server_events_with_dedupe_key": {
                    "percentage": _share(sum(carries[key]), len(events)),
                    "description": _SERVER,
                },
                "overall_browser_coverage_from_dedupe_key": {
                    "percentage": _share(len(newly), len(browser)),
                    "description": _OVERALL,
                },
            }
        )
    return feedback
