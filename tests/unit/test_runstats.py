"""runstats.RunStats: per event name match keys, freshness buckets, dedup readiness."""

from __future__ import annotations

from typing import Any

import pytest

from capisync import runstats
from capisync.runstats import EventIdSource, RunStats, freshness_bucket

NOW = 2_000_000_000.0
TEMPLATE = EventIdSource("template", "{event_name}:{order_id}")


def event(name: str = "Purchase", *, age: float = 60, event_id: str = "x", **user: str) -> Any:
    return {
        "event_name": name,
        "event_time": int(NOW - age),
        "event_id": event_id,
        "user_data": user,
    }


@pytest.mark.parametrize(
    ("age", "label"),
    [
        (-120, "<5m"),  # clock skew: an event from the future is as fresh as can be
        (0, "<5m"),
        (299, "<5m"),
        (300, "<1h"),
        (3599, "<1h"),
        (3600, "<6h"),
        (6 * 3600, "<24h"),
        (24 * 3600, "<7d"),
        (7 * 24 * 3600 - 1, "<7d"),
        (7 * 24 * 3600, "older"),
    ],
)
def test_freshness_bucket_bounds_are_exclusive(age: float, label: str) -> None:
    assert freshness_bucket(age) == label


def test_keys_are_counted_per_event_name_with_the_name_pair_only_when_both_are_there() -> None:
    stats = RunStats(TEMPLATE)
    stats.observe(event(em="h", fn="a", ln="b", event_id="1"), own_event_id=True, now=NOW)
    stats.observe(event(em="h", fn="a", event_id="2"), own_event_id=True, now=NOW)
    stats.observe(event("Lead", ph="p", event_id="3"), own_event_id=True, now=NOW)
    out = stats.as_dict()["events"]
    assert out["Purchase"] == {"sent": 2, "keys": {"em": 2, "fn+ln": 1}}
    assert out["Lead"] == {"sent": 1, "keys": {"ph": 1}}


def test_freshness_histogram_uses_the_send_time_passed_in() -> None:
    stats = RunStats(TEMPLATE)
    for i, age in enumerate((10, 400, 400, 8 * 24 * 3600)):
        stats.observe(event(age=age, event_id=str(i)), own_event_id=True, now=NOW)
    assert stats.as_dict()["freshness"] == {
        "<5m": 1,
        "<1h": 2,
        "<6h": 0,
        "<24h": 0,
        "<7d": 0,
        "older": 1,
    }
    later = RunStats(TEMPLATE)
    later.observe(event(age=10), own_event_id=True, now=NOW + 3 * 3600)
    assert later.as_dict()["freshness"]["<6h"] == 1


def test_dedup_counts_repeated_event_ids_and_events_without_their_own() -> None:
    stats = RunStats(TEMPLATE)
    for event_id in ("Purchase:1", "Purchase:2", "Purchase:1", "Purchase:1"):
        stats.observe(event(event_id=event_id), own_event_id=True, now=NOW)
    stats.observe(event(event_id="row-9"), own_event_id=False, now=NOW)  # identifier fallback
    assert stats.as_dict()["dedup"] == {
        "events": 5,
        "with_event_id": 4,
        "checked": 4,
        "repeated": 2,
        "source": "template",
        "pattern": "{event_name}:{order_id}",
    }


def test_dedup_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runstats, "DEDUP_CHECKED_MAX", 3)
    stats = RunStats(TEMPLATE)
    for i in range(10):
        stats.observe(event(event_id=f"id-{i % 2}"), own_event_id=True, now=NOW)
    d = stats.as_dict()["dedup"]
    assert (d["with_event_id"], d["checked"], d["repeated"]) == (10, 3, 1)
    assert len(stats._seen_ids) == 2


def test_event_names_beyond_the_cap_are_pooled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runstats, "MAX_EVENT_NAMES", 2)
    stats = RunStats(TEMPLATE)
    for name in ("A", "B", "C", "D", "A"):
        stats.observe(event(name, em="h"), own_event_id=True, now=NOW)
    events = stats.as_dict()["events"]
    assert {n: e["sent"] for n, e in events.items()} == {"A": 2, "B": 1, runstats.OTHER_EVENTS: 2}


def test_signatures_are_folded_into_counts_when_too_many_are_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runstats, "MAX_SIGNATURES", 2)
    stats = RunStats(TEMPLATE)
    combos = [{"em": "h"}, {"ph": "p"}, {"fn": "a", "ln": "b"}, {"em": "h", "ph": "p"}]
    for i, user in enumerate(combos * 3):
        stats.observe(event(event_id=str(i), **user), own_event_id=True, now=NOW)
        assert len(stats._signatures) <= 2
    assert stats.as_dict()["events"]["Purchase"] == {
        "sent": 12,
        "keys": {"em": 6, "ph": 6, "fn+ln": 3},
    }
