"""Fetch and read Meta's Dataset Quality API (capi/dataset_quality.py says what it is).

    fetch_event_quality(client, agent_name=None)   one GET through MetaClient.fetch (retries,
      └─ parse_web(body)                           auth, error mapping as a send's)

Reading is lenient, as Meta adds fields and leaves out what it has no figure for: a missing
or malformed figure is None, an entry without an ``event_name`` (or an empty one) is
skipped, and both spellings of the dedup field are read (the one holding a list). What is
kept is Meta's figures and Meta's own diagnostic texts: no customer data reaches this far
(Meta answers with shares and counts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from capisync.capi.dataset_quality import DEDUP_FIELDS, REQUEST_FIELDS, WEB
from capisync.errors import MetaUnknownAnswerError
from capisync.meta.client import MetaClient

CHECK_QUALITY_ACCESS = (
    "check the dataset ID and that the token's system user may read the dataset's quality "
    "(Meta: the 'Use events dataset' permission, and ads_read plus ads_management or "
    "business_management for the app)"
)


@dataclass(frozen=True, slots=True)
class MatchKeyFeedback:
    """One ``match_key_feedback`` entry: ``identifier`` is Meta's name (``email``,
    ``ip_address``...), ``coverage`` and ``potential_acr_increase`` percentages 0-100."""

    identifier: str
    coverage: float | None = None
    potential_acr_increase: float | None = None


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One EMQ diagnostic, Meta's texts as given; ``percentage`` of events affected."""

    name: str
    description: str | None = None
    solution: str | None = None
    percentage: float | None = None
    affected_event_count: int | None = None
    total_event_count: int | None = None


@dataclass(frozen=True, slots=True)
class DedupKeyFeedback:
    """One dedupe key (``event_id``, ``external_id``, ``fbp``): percentages 0-100 of browser
    and server events carrying it, and of browser events deduplicated through it."""

    dedupe_key: str
    browser_events: float | None = None
    server_events: float | None = None
    overall_browser_coverage: float | None = None


@dataclass(frozen=True, slots=True)
class EventQuality:
    """Meta's figures for one web event name; every figure is None when Meta gave none."""

    event_name: str
    composite_score: float | None = None  # EMQ, 0-10
    match_keys: tuple[MatchKeyFeedback, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    potential_acr_increase: float | None = None  # event_potential_aly_acr_increase, %
    acr: float | None = None  # additional conversions reported, %
    event_coverage: float | None = None  # % of pixel events the server also sent
    coverage_goal: float | None = None  # event_coverage.goal_percentage
    coverage_acr_increase: float | None = None  # event_coverage.potential_aly_acr_increase
    dedup_keys: tuple[DedupKeyFeedback, ...] = ()
    upload_frequency: str | None = None  # data_freshness: real_time, hourly...

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EventQuality:
        """The inverse of ``as_dict`` (a stored snapshot)."""
        fields = dict(raw)
        fields["match_keys"] = tuple(MatchKeyFeedback(**m) for m in raw.get("match_keys", ()))
        fields["diagnostics"] = tuple(Diagnostic(**d) for d in raw.get("diagnostics", ()))
        fields["dedup_keys"] = tuple(DedupKeyFeedback(**d) for d in raw.get("dedup_keys", ()))
        return cls(**fields)


async def fetch_event_quality(
    client: MetaClient, agent_name: str | None = None
) -> tuple[EventQuality, ...]:
    """Meta's figures per web event name for the client's dataset, all events or only those
    sent with the ``partner_agent`` that ``agent_name`` names. Raises what
    ``MetaClient.fetch`` raises, and MetaUnknownAnswerError when the answer has no ``web``."""
    settings = client.settings
    url = f"{settings.base_url.rstrip('/')}/{settings.api_version}/dataset_quality"
    params = {"dataset_id": settings.dataset_id.strip(), "fields": REQUEST_FIELDS}
    if agent_name:
        params["agent_name"] = agent_name
    body = await client.fetch(url, params, hint=CHECK_QUALITY_ACCESS)
    return parse_web(body)


def parse_web(body: Mapping[str, Any]) -> tuple[EventQuality, ...]:
    """The ``web`` entries of a Dataset Quality answer, in Meta's order. Meta leaves ``web``
    out when the dataset has no web event in the period: that reads as no entries; a ``web``
    that is not a list is an answer capisync cannot read (MetaUnknownAnswerError)."""
    web = body.get(WEB, [])
    if not isinstance(web, list):
        raise MetaUnknownAnswerError(
            f"the Dataset Quality answer's '{WEB}' is not a list: {CHECK_QUALITY_ACCESS}"
        )
    return tuple(
        _event(entry)
        for entry in web
        if isinstance(entry, Mapping) and _text(entry.get("event_name"))
    )


def _event(entry: Mapping[str, Any]) -> EventQuality:
    emq = _object(entry.get("event_match_quality"))
    coverage = _object(entry.get("event_coverage"))
    # the first spelling holding a list: Meta may give the other one as null
    dedup: Any = next((entry[n] for n in DEDUP_FIELDS if isinstance(entry.get(n), list)), [])
    return EventQuality(
        event_name=entry["event_name"],
        composite_score=_number(emq.get("composite_score")),
        match_keys=tuple(_match_key(m) for m in _objects(emq.get("match_key_feedback"))),
        diagnostics=tuple(_diagnostic(d) for d in _objects(emq.get("diagnostics"))),
        potential_acr_increase=_percentage(entry.get("event_potential_aly_acr_increase")),
        acr=_percentage(entry.get("acr")),
        event_coverage=_number(coverage.get("percentage")),
        coverage_goal=_number(coverage.get("goal_percentage")),
        coverage_acr_increase=_percentage(coverage.get("potential_aly_acr_increase")),
        dedup_keys=tuple(_dedup(d) for d in _objects(dedup) if _text(d.get("dedupe_key"))),
        upload_frequency=_text(_object(entry.get("data_freshness")).get("upload_frequency")),
    )


def _match_key(raw: Mapping[str, Any]) -> MatchKeyFeedback:
    return MatchKeyFeedback(
        identifier=_text(raw.get("identifier")) or "?",
        coverage=_percentage(raw.get("coverage")),
        potential_acr_increase=_percentage(raw.get("potential_aly_acr_increase")),
    )


def _diagnostic(raw: Mapping[str, Any]) -> Diagnostic:
    return Diagnostic(
        name=_text(raw.get("name")) or "?",
        description=_text(raw.get("description")),
        solution=_text(raw.get("solution")),
        percentage=_number(raw.get("percentage")),
        affected_event_count=_count(raw.get("affected_event_count")),
        total_event_count=_count(raw.get("total_event_count")),
    )


def _dedup(raw: Mapping[str, Any]) -> DedupKeyFeedback:
    return DedupKeyFeedback(
        dedupe_key=raw["dedupe_key"],
        browser_events=_percentage(raw.get("browser_events_with_dedupe_key")),
        server_events=_percentage(raw.get("server_events_with_dedupe_key")),
        overall_browser_coverage=_percentage(raw.get("overall_browser_coverage_from_dedupe_key")),
    )


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _objects(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _percentage(value: Any) -> float | None:
    """``{"percentage": 58.96, "description": ...}`` -> 58.96."""
    return _number(_object(value).get("percentage"))


def _number(value: Any) -> float | None:
    """A finite number, or None (NaN, infinity, or too large for a float is no figure)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
