"""The EMQ model (capi/emq.py): bounds, monotonicity, the name pair, agreement of the two
entry points."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capisync.capi import emq

shares = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
coverages = st.dictionaries(st.sampled_from(emq.MATCH_KEY_NAMES), shares)
key_sets = st.frozensets(st.sampled_from([*emq.MATCH_KEY_NAMES, "fn", "ln", "lead_id"]))


def test_nothing_scores_zero() -> None:
    assert emq.estimate_from_coverage({}) == 0.0
    assert emq.event_score(()) == 0.0
    assert emq.estimate_from_coverage(dict.fromkeys(emq.MATCH_KEY_NAMES, 0.0)) == 0.0


@given(coverages)
def test_bounded(coverage: dict[str, float]) -> None:
    assert 0.0 <= emq.estimate_from_coverage(coverage) <= 10.0


@given(coverages, st.sampled_from(emq.MATCH_KEY_NAMES), shares)
def test_monotone_in_each_coverage(coverage: dict[str, float], key: str, more: float) -> None:
    before = emq.estimate_from_coverage(coverage)
    raised = {**coverage, key: max(coverage.get(key, 0.0), more)}
    assert emq.estimate_from_coverage(raised) >= before


@given(key_sets, st.sampled_from(emq.MATCH_KEY_NAMES))
def test_event_score_monotone_in_keys(keys: frozenset[str], extra: str) -> None:
    assert emq.event_score(keys | {extra}) >= emq.event_score(keys)
    assert 0.0 <= emq.event_score(keys) <= 10.0


@given(key_sets)
def test_event_score_is_the_estimate_at_full_coverage(keys: frozenset[str]) -> None:
    coverage = dict.fromkeys(emq.identifiers(keys), 1.0)
    assert emq.event_score(keys) == emq.estimate_from_coverage(coverage)


@given(st.lists(key_sets, min_size=1, max_size=30))
def test_average_of_event_scores_is_at_most_the_coverage_estimate(
    events: list[frozenset[str]],
) -> None:
    # the curve is concave: the sandbox's per-event average never beats the coverage figure
    average = sum(emq.event_score(e) for e in events) / len(events)
    assert average <= emq.estimate_from_coverage(emq.coverage_of(events)) + 0.1


def test_one_name_is_not_the_pair() -> None:
    assert emq.event_score({"fn"}) == 0.0
    assert emq.identifiers({"fn", "ln", "em"}) == {"fn+ln", "em"}
    assert emq.event_score({"fn", "ln"}) > 0.0


def test_pair_coverage_defaults_to_the_smaller_name() -> None:
    assert emq.estimate_from_coverage({"fn": 1.0, "ln": 0.4}) == emq.estimate_from_coverage(
        {"fn+ln": 0.4}
    )


def test_high_quality_keys_outrank_the_rest() -> None:
    # Meta's guidance: em, ph, IP, fn+ln high; supporting keys only narrow a name match
    high = [k.weight for k in emq.MATCH_KEYS if k.tier == "high"]
    supporting = [k.weight for k in emq.MATCH_KEYS if k.tier == "supporting"]
    assert min(high) > max(supporting)
    assert emq.event_score({"em"}) > emq.event_score({"zp", "ct"})


def test_coverage_of_counts_shares() -> None:
    coverage = emq.coverage_of([{"em", "ph"}, {"em"}, set(), {"fn", "ln"}])
    assert coverage["em"] == 0.5
    assert coverage["ph"] == 0.25
    assert coverage["fn+ln"] == 0.25
    assert coverage["fbc"] == 0.0
    assert emq.coverage_of([]) == dict.fromkeys(emq.MATCH_KEY_NAMES, 0.0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_a_share_out_of_range_is_refused_by_name(bad: float) -> None:
    with pytest.raises(ValueError, match="'em'"):
        emq.estimate_from_coverage({"em": bad})


def test_one_decimal() -> None:
    score = emq.estimate_from_coverage({"em": 0.37, "client_user_agent": 0.91})
    assert round(score, 1) == score
