"""Meta's Dataset Quality API, the rules both sides read: the sandbox that answers it and
capisync that fetches and stores its figures.

Source: Meta, "Dataset Quality API" (developers.facebook.com/docs/marketing-api/
conversions-api/dataset-quality-api, the page of late 2026):

- ``GET /{version}/dataset_quality?dataset_id=...&access_token=...`` with ``fields`` and the
  optional ``agent_name``: "the normalized value of the ``partner_agent`` field": for a
  ``partner_agent`` shaped ``[partner_name]_[majorversion]_[minorVersion]`` it is
  ``partner_name`` in lowercase (:func:`agent_name_for`).
- The answer: ``web``, one entry per ``event_name`` (web events only: "EMQ is currently
  available only for web events").
- Deduplication: the page's field table names ``dedup_key_feedback``; its request and answer
  examples, and the Business SDKs' ``AdsPixelCAPIIntegrationQuality``, say
  ``dedupe_key_feedback``. capisync asks for ``dedupe_key_feedback`` and reads either.
- ``match_key_feedback[].identifier`` uses Meta's own names, not ``user_data`` keys: the
  page's examples show ``email``, ``ip_address``, ``user_agent`` and ``external_id``; the
  others in :data:`META_IDENTIFIERS` follow the same pattern (Events Manager's labels) and
  are capisync's reading, not quoted from Meta.
- ``data_freshness.upload_frequency``: the examples show ``real_time`` and ``hourly``;
  :func:`upload_frequency` adds ``daily`` and ``weekly`` for slower senders.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

WEB: Final = "web"
DEDUP_FIELDS: Final = ("dedupe_key_feedback", "dedup_key_feedback")
"""Both spellings Meta's page uses; the first is the one its examples and SDKs use."""

EVENT_FIELDS: Final = (
    "event_name",
    "event_match_quality",
    "event_potential_aly_acr_increase",
    "acr",
    "event_coverage",
    *DEDUP_FIELDS,
    "data_freshness",
)

REQUEST_FIELDS: Final = (
    "web{event_name,"
    "event_match_quality{composite_score,"
    "match_key_feedback{identifier,coverage{percentage},"
    "potential_aly_acr_increase{percentage,description}},"
    "diagnostics{name,description,solution,percentage,affected_event_count,total_event_count}},"
    "event_potential_aly_acr_increase{percentage,description},"
    "acr{percentage,description},"
    "event_coverage{percentage,goal_percentage,description,"
    "potential_aly_acr_increase{percentage,description}},"
    "dedupe_key_feedback{dedupe_key,browser_events_with_dedupe_key{percentage,description},"
    "server_events_with_dedupe_key{percentage,description},"
    "overall_browser_coverage_from_dedupe_key{percentage,description}},"
    "data_freshness{upload_frequency,description}}"
)
"""The ``fields`` capisync asks for: every figure the page documents, in its own syntax."""

META_IDENTIFIERS: Final[Mapping[str, str]] = {
    "em": "email",
    "ph": "phone",
    "fn": "first_name",
    "ln": "last_name",
    "ge": "gender",
    "db": "date_of_birth",
    "ct": "city",
    "st": "state",
    "zp": "zip",
    "country": "country",
    "external_id": "external_id",
    "client_ip_address": "ip_address",
    "client_user_agent": "user_agent",
    "fbc": "fbc",
    "fbp": "fbp",
}
"""``user_data`` key -> the ``identifier`` Meta's ``match_key_feedback`` names it by."""

USER_DATA_KEYS: Final[Mapping[str, str]] = {v: k for k, v in META_IDENTIFIERS.items()}
"""Meta's ``identifier`` -> the ``user_data`` key."""

DEDUP_KEYS: Final = ("event_id", "external_id", "fbp")
"""The dedupe keys Meta's example answer lists, in its order."""

COVERAGE_GOAL: Final = 75.0
"""``event_coverage.goal_percentage`` in Meta's example (and its "75% threshold")."""

_VERSION_TAIL = re.compile(r"(?:_\d+){1,2}$")


def agent_name_for(partner_agent: str) -> str:
    """The ``agent_name`` that selects events sent with ``partner_agent``: Meta's
    normalization, ``"capisync_0_1"`` -> ``"capisync"`` (the trailing ``_major[_minor]``
    dropped, lowercased). A value without a version tail is only lowercased."""
    return _VERSION_TAIL.sub("", partner_agent.strip()).lower()


_FRESHNESS: Final[tuple[tuple[float, str], ...]] = (
    (15 * 60.0, "real_time"),
    (2 * 3600.0, "hourly"),
    (2 * 86400.0, "daily"),
)


def upload_frequency(delays: Sequence[float]) -> str | None:
    """``data_freshness.upload_frequency`` of events received ``delays`` seconds after their
    ``event_time``: by the median delay, ``real_time`` (up to 15 minutes), ``hourly`` (up to
    2 hours), ``daily`` (up to 2 days), else ``weekly``. None without events. The cut-offs
    are capisync's: Meta names the values, not the bounds."""
    if not delays:
        return None
    ordered = sorted(max(0.0, d) for d in delays)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return next((name for bound, name in _FRESHNESS if median <= bound), "weekly")
