"""The sandbox's fast path never accepts an event the detailed rules refuse.

`fast_path.surely_valid` skips the per-rule checks for the common valid event; a wrong True there
would let the sandbox accept what Meta refuses. Differential tests: every case of
test_sandbox_rules, then random mutations of valid events, against `check_event`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sandbox_rules import ACCEPTED, NOW, REJECTED  # the table-driven cases, reused

from capisync.sandbox.examples import JOHN_EMAIL_HASH, valid_app_event, valid_batch, valid_event
from capisync.sandbox.fast_path import check_batch, surely_valid
from capisync.sandbox.rules import check_event, iso_4217_codes

CURRENCIES = iso_4217_codes()


def fast(event: Any, now: float = NOW) -> bool:
    return surely_valid(event, now, CURRENCIES)


def reference_batch(events: list[Any], now: float) -> Any:
    """check_batch as it was before the fast path: the detailed rules on every event."""
    for index, event in enumerate(events):
        violation = check_event(event, index, now)
        if violation is not None:
            return index, violation
    return None


@pytest.mark.parametrize("case", list(REJECTED), ids=list(REJECTED))
def test_the_fast_path_accepts_no_rejected_case(case: str) -> None:
    bad, _, _ = REJECTED[case]
    assert not fast(bad)


@pytest.mark.parametrize("case", list(REJECTED), ids=list(REJECTED))
def test_a_batch_names_the_same_event_and_error(case: str) -> None:
    bad, _, _ = REJECTED[case]
    events = [*valid_batch(3, now=NOW), bad, *valid_batch(2, start=3, now=NOW)]
    assert check_batch(events, NOW) == reference_batch(events, NOW)
    assert check_batch(events, NOW) is not None


@pytest.mark.parametrize("case", list(ACCEPTED), ids=list(ACCEPTED))
def test_accepted_cases_stay_accepted(case: str) -> None:
    assert check_batch([ACCEPTED[case]], NOW) is None
    if fast(ACCEPTED[case]):
        assert check_event(ACCEPTED[case], 0, NOW) is None


COMMON_SHAPES = {
    "website purchase": valid_event(now=NOW),
    "lead": valid_event(now=NOW, event_name="Lead", custom_data=None),
    "single hash strings": valid_event(
        now=NOW, user_data={"em": JOHN_EMAIL_HASH, "client_user_agent": "UA"}
    ),
    "LDU options": valid_event(
        now=NOW,
        data_processing_options=["LDU"],
        data_processing_options_country=0,
        data_processing_options_state=0,
        opt_out=False,
        referrer_url="https://r.example/",
    ),
    "fbc and external_id": valid_event(
        now=NOW,
        user_data={
            "external_id": ["user-42"],
            "fbc": "fb.1.1554763741205.AbCd",
            "client_user_agent": "UA",
        },
    ),
}


@pytest.mark.parametrize("case", list(COMMON_SHAPES), ids=list(COMMON_SHAPES))
def test_the_common_shapes_take_the_fast_path(case: str) -> None:
    # the speed of the sandbox rests on this; correctness rests on the other tests
    assert fast(COMMON_SHAPES[case])
    assert check_event(COMMON_SHAPES[case], 0, NOW) is None


def test_app_events_go_to_the_detailed_rules() -> None:
    assert not fast(valid_app_event(now=NOW))
    assert check_batch([valid_app_event(now=NOW)], NOW) is None


@pytest.mark.parametrize("now", [NOW, NOW + 0.5, NOW + 0.999999, NOW - 0.25])
def test_time_window_edges_agree(now: float) -> None:
    for offset in range(-2, 3):
        for event_time in (int(now) + 60 + offset, int(now) - 7 * 86400 + offset):
            event = valid_event(now=NOW, event_time=event_time)
            assert fast(event, now) <= (check_event(event, 0, now) is None)


# Random mutations: any JSON-ish value at any place of a valid event, or the key removed.
HEXISH = st.text(alphabet="0123456789abcdefABCDEF g", min_size=62, max_size=66)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**62),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    HEXISH,
    st.sampled_from(
        [
            "",
            " ",
            "LDU",
            "USD",
            "usd",
            "Purchase",
            "website",
            "app",
            "physical_store",
            "203.0.113.7",
            "2001:db8::1",
            "fb.1.2.x",
            JOHN_EMAIL_HASH,
            JOHN_EMAIL_HASH.upper(),
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "quantity", "em", "x"]), inner, max_size=2)
    ),
    max_leaves=4,
)
TOP_KEYS = [
    "event_name",
    "event_time",
    "event_id",
    "action_source",
    "event_source_url",
    "user_data",
    "custom_data",
    "opt_out",
    "referrer_url",
    "messaging_channel",
    "data_processing_options",
    "data_processing_options_country",
    "app_data",
    "original_event_data",
    "unknown_key",
]
USER_KEYS = [
    "em",
    "ph",
    "country",
    "fn",
    "ge",
    "db",
    "external_id",
    "client_ip_address",
    "client_user_agent",
    "fbc",
    "fbp",
    "madid",
    "email",
]
CUSTOM_KEYS = ["value", "currency", "content_ids", "contents", "order_id"]


def section(event: dict[str, Any], where: str) -> Any:
    if where == "top":
        return event
    if where == "user":
        return event.get("user_data")
    custom = event.get("custom_data")
    if where == "custom" or not isinstance(custom, dict):
        return custom
    contents = custom.get("contents")
    return contents[0] if isinstance(contents, list) and contents else None


def mutate(event: dict[str, Any], where: str, key: str, value: Any, remove: bool) -> None:
    target = section(event, where)
    if not isinstance(target, dict):
        return  # an earlier mutation replaced this section
    if remove:
        target.pop(key, None)
    else:
        target[key] = value


PLACES = st.one_of(
    st.tuples(st.just("top"), st.sampled_from(TOP_KEYS)),
    st.tuples(st.just("user"), st.sampled_from(USER_KEYS)),
    st.tuples(st.just("custom"), st.sampled_from(CUSTOM_KEYS)),
    st.tuples(st.just("item"), st.sampled_from(["id", "quantity"])),
)
MUTATIONS = st.lists(st.tuples(PLACES, VALUES, st.booleans()), min_size=1, max_size=3)
BASE = valid_event(now=NOW)


@settings(max_examples=600, deadline=None)
@given(MUTATIONS)
def test_mutated_events_the_fast_path_accepts_pass_every_rule(mutations: list[Any]) -> None:
    event = copy.deepcopy(BASE)
    for (where, key), value, remove in mutations:
        mutate(event, where, key, copy.deepcopy(value), remove)
    if fast(event):
        assert check_event(event, 0, NOW) is None
    batch = [*valid_batch(2, now=NOW), event]
    assert check_batch(batch, NOW) == reference_batch(batch, NOW)
