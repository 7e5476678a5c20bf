"""Reading Meta's Dataset Quality answers (meta/quality.py) and the shared rules
(capi/dataset_quality.py), from the answers Meta's page shows."""

from __future__ import annotations

from typing import Any

import pytest

from capisync.capi.dataset_quality import agent_name_for, upload_frequency
from capisync.errors import MetaUnknownAnswerError
from capisync.meta.quality import EventQuality, parse_web
from capisync.quality import emq_dropped
from capisync.state.quality import QualitySnapshot

# the shapes of the examples on Meta's "Dataset Quality API" page
DEDUP_ENTRY = {
    "dedupe_key": "event_id",
    "browser_events_with_dedupe_key": {"percentage": 100, "description": "..."},
    "server_events_with_dedupe_key": {"percentage": 100, "description": "..."},
    "overall_browser_coverage_from_dedupe_key": {"percentage": 14.8, "description": "..."},
}
ANSWER: dict[str, Any] = {
    "web": [
        {
            "event_name": "Purchase",
            "event_match_quality": {
                "composite_score": 7.2,
                "match_key_feedback": [
                    {
                        "identifier": "email",
                        "coverage": {"percentage": 100},
                        "potential_aly_acr_increase": {"percentage": 58.96, "description": "."},
                    },
                    {"identifier": "ip_address", "coverage": {"percentage": 99.9}},
                ],
                "diagnostics": [
                    {
                        "name": "Server sending mismatched IP addresses",
                        "description": "...",
                        "solution": "...",
                        "percentage": 61.5,
                        "affected_event_count": 19567,
                        "total_event_count": 31830,
                    }
                ],
            },
            "event_potential_aly_acr_increase": {"percentage": 32.9, "description": "."},
            "acr": {"description": ".", "percentage": 37.9},
            "event_coverage": {
                "percentage": 34.1,
                "goal_percentage": 75,
                "description": ".",
                "potential_aly_acr_increase": {"percentage": 35.8, "description": "."},
            },
            "dedupe_key_feedback": [DEDUP_ENTRY],
            "data_freshness": {"upload_frequency": "real_time", "description": "."},
        }
    ]
}


def test_every_documented_figure_is_read() -> None:
    [event] = parse_web(ANSWER)
    assert event.composite_score == 7.2
    assert [(m.identifier, m.coverage) for m in event.match_keys] == [
        ("email", 100.0),
        ("ip_address", 99.9),
    ]
    assert event.match_keys[0].potential_acr_increase == 58.96
    [diagnostic] = event.diagnostics
    assert diagnostic.affected_event_count == 19567 and diagnostic.percentage == 61.5
    assert (event.potential_acr_increase, event.acr) == (32.9, 37.9)
    assert (event.event_coverage, event.coverage_goal, event.coverage_acr_increase) == (
        34.1,
        75.0,
        35.8,
    )
    [dedup] = event.dedup_keys
    assert (dedup.dedupe_key, dedup.server_events, dedup.overall_browser_coverage) == (
        "event_id",
        100.0,
        14.8,
    )
    assert event.upload_frequency == "real_time"


def test_the_field_table_s_spelling_is_read_too() -> None:
    entry = {"event_name": "Lead", "dedup_key_feedback": [DEDUP_ENTRY]}
    [event] = parse_web({"web": [entry]})
    assert [d.dedupe_key for d in event.dedup_keys] == ["event_id"]


def test_a_null_under_one_spelling_does_not_hide_the_other() -> None:
    # Meta answering both spellings, one of them null: the list is read, not the null
    for null_first in ("dedupe_key_feedback", "dedup_key_feedback"):
        other = next(n for n in ("dedupe_key_feedback", "dedup_key_feedback") if n != null_first)
        entry = {"event_name": "Lead", null_first: None, other: [DEDUP_ENTRY]}
        [event] = parse_web({"web": [entry]})
        assert [d.dedupe_key for d in event.dedup_keys] == ["event_id"]


def test_an_entry_with_an_empty_event_name_is_skipped() -> None:
    [event] = parse_web({"web": [{"event_name": ""}, {"event_name": "Lead"}]})
    assert event.event_name == "Lead"


def test_missing_and_malformed_figures_read_as_none() -> None:
    answer = {
        "web": [
            {"event_name": "PageView"},
            {"event_name": "Lead", "event_match_quality": {"composite_score": "n/a"}, "acr": 3},
            {"no_name": True},
            "junk",
        ]
    }
    page_view, lead = parse_web(answer)
    assert page_view == EventQuality("PageView")
    assert lead.composite_score is None and lead.acr is None
    assert parse_web({}) == ()


@pytest.mark.parametrize(
    "figure",
    ["1e999", "-inf", "Infinity", 10**400, float("inf")],
    ids=["1e999", "-inf", "Infinity", "10**400", "inf"],
)
def test_an_infinite_or_oversized_figure_reads_as_none(figure: object) -> None:
    # Meta's numbers sometimes come as strings: one that does not fit a float, or is not
    # finite, is no figure (it crashed `capisync quality` with OverflowError, and an infinite
    # score would reach the ledger and the JSON output)
    diagnostic = {"name": "x", "percentage": figure, "affected_event_count": figure}
    entry = {
        "event_name": "Purchase",
        "event_match_quality": {"composite_score": figure, "diagnostics": [diagnostic]},
        "event_coverage": {"percentage": figure},
    }
    [event] = parse_web({"web": [entry]})
    assert event.composite_score is None and event.event_coverage is None
    assert event.diagnostics[0].percentage is None
    assert event.diagnostics[0].affected_event_count is None


def test_a_web_that_is_not_a_list_is_an_unknown_answer() -> None:
    with pytest.raises(MetaUnknownAnswerError):
        parse_web({"web": {"event_name": "Purchase"}})


def test_a_stored_event_reads_back_equal() -> None:
    [event] = parse_web(ANSWER)
    assert EventQuality.from_dict(event.as_dict()) == event


@pytest.mark.parametrize(
    ("partner_agent", "agent_name"),
    [
        ("capisync_0_1", "capisync"),
        ("CapiSync_12_3", "capisync"),
        ("my_tool_2", "my_tool"),
        ("my_tool_v2", "my_tool_v2"),
        ("plain", "plain"),
    ],
)
def test_agent_name_is_meta_s_normalization(partner_agent: str, agent_name: str) -> None:
    assert agent_name_for(partner_agent) == agent_name


@pytest.mark.parametrize(
    ("delays", "frequency"),
    [
        ([], None),
        ([5.0, 60.0, 30.0], "real_time"),
        ([3000.0, 4000.0], "hourly"),
        ([30 * 3600.0], "daily"),
        ([10 * 86400.0, 1.0, 9 * 86400.0], "weekly"),
    ],
)
def test_upload_frequency_by_median_delay(delays: list[float], frequency: str | None) -> None:
    assert upload_frequency(delays) == frequency


def snapshot(at: float, **scores: float | None) -> QualitySnapshot:
    events = tuple(EventQuality(name, composite_score=score) for name, score in scores.items())
    return QualitySnapshot("s", "1", at, "v1", "capisync", events)


def test_emq_dropped_compares_the_two_newest_fetches() -> None:
    history = [
        snapshot(3, Purchase=5.0, Lead=6.9, PageView=None, New=2.0),
        snapshot(2, Purchase=7.5, Lead=7.0, PageView=8.0),
        snapshot(1, Purchase=1.0, Lead=1.0),
    ]
    assert emq_dropped(history, 1.0) == [("Purchase", 7.5, 5.0)]
    assert emq_dropped(history, 0.1) == [("Purchase", 7.5, 5.0), ("Lead", 7.0, 6.9)]
    assert emq_dropped(history[:1], 0.1) == []


def test_emq_dropped_refuses_a_threshold_of_zero() -> None:
    with pytest.raises(ValueError, match="threshold"):
        emq_dropped([], 0.0)
