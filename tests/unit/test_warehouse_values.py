"""Every Python value a warehouse driver can hand over, in every key of the catalogue.

PostgreSQL NUMERIC gives Decimals of any size (1E+5000, NaN, sNaN, Infinity), drivers give
ints of any length, bytes/bytearray/memoryview, dates, naive and aware datetimes, times,
intervals, UUIDs, arrays and JSON; DataFrames give NaN and numpy scalars; Python-made rows
and JSON escapes give lone surrogates; text columns give NUL characters and megabytes.
For each: ``EventBuilder.build`` and ``build_batch`` never raise, take bounded time, agree
with each other, and whatever they let through can be written as JSON and stored in a ledger.
"""

from __future__ import annotations

import json
import numbers
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capisync.capi import values
from capisync.capi.event import BuildOptions, BuiltEvent, EventBuilder, Rejection
from capisync.capi.mapping import resolve_mapping
from capisync.capi.normalize import NormalizeContext, hash_value, user_data_value
from capisync.capi.params import PARAMS, USER_DATA_KEYS

NOW = int(datetime(2026, 6, 1, 12, tzinfo=UTC).timestamp())
EXAMPLES = int(os.environ.get("CAPISYNC_EXAMPLES", "300"))  # 3000 for a deeper search
POINTS = "points"  # a free custom property (custom_data.points)
KEYS = sorted(k for k, p in PARAMS.items() if p.section != "app_data")
COLUMNS = ("row_id", *KEYS, POINTS)
BASE: dict[str, object] = {
    **dict.fromkeys(COLUMNS),
    "row_id": "r-1",
    "event_name": "Purchase",
    "event_time": NOW - 60,
    "action_source": "website",
    "event_id": "e-1",
    "event_source_url": "https://shop.example/p/1",
    "em": "ann@example.com",
    "ph": "+1 650 555 1212",
    "fn": "Ann",
    "ln": "Lee",
    "ge": "f",
    "db": "1990-02-16",
    "ct": "Menlo Park",
    "st": "CA",
    "zp": "94025",
    "country": "US",
    "external_id": "u-1",
    "client_ip_address": "203.0.113.9",
    "client_user_agent": "Mozilla/5.0",
    "fbc": "fb.1.1554763741205.AbCdEf",
    "fbp": "fb.1.1596403881668.1116446470",
    "value": "19.99",
    "currency": "usd",
    "content_ids": ["sku-1"],
    "content_type": "product",
    POINTS: 7,
}


def _id(value: object) -> str:
    """A short test id: repr() of a 4,301-digit int raises."""
    text = values.str_of(value) if not isinstance(value, str) else repr(value)
    return f"{type(value).__name__}:{text[:24] if isinstance(text, str) else 'unreadable'}"


class Opaque:
    """A driver type no coercer knows, with a str()."""

    def __str__(self) -> str:
        return "opaque"


class BrokenStr:
    """A driver type whose str() fails."""

    def __str__(self) -> str:
        raise RuntimeError("no text")


class NumpyLikeInt:
    """What numpy's int64 is to the coercers: a registered Integral, not an int."""

    def __init__(self, number: int) -> None:
        self.number = number

    def __int__(self) -> int:
        return self.number

    __index__ = __int__

    def __float__(self) -> float:
        return float(self.number)

    def __str__(self) -> str:
        return str(self.number)


numbers.Integral.register(NumpyLikeInt)


class ArrayLike:
    """An Arrow/numpy array: only tolist()."""

    def __init__(self, items: list[object]) -> None:
        self.items = items

    def tolist(self) -> list[object]:
        return list(self.items)


# Characters that look like ASCII or are invisible: what forms and spreadsheets hold.
LOOKALIKES = (
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u207b\u30fc\uff70"  # dashes
    "\u00a0\u2007\u202f\u3000\u1680\u2028"  # spaces
    "\u00ad\u200b\u200d\ufeff"  # format characters
    "\uff10\uff11\uff15\uff19\u0661\u0966\u00b9\u2460"  # digits of other forms
    "\uff21\uff41\uff20\uff0e\u3002\uff0b\uff08\uff09"  # full-width letters, @ . + ( )
    "\x00\ud800\udfff"  # NUL, lone surrogates
    "0123456789+-() ./@:aefmTZ"
)
HUGE_INTS = [10**4301, -(10**4301), 10**400, 2**64, -(2**63) - 1, 10**20, 2**1100]


class Huge:
    """Stands for HUGE_INTS[index] in generated values: hypothesis reprs what it draws, and
    repr() of a 4,301-digit int raises. ``_real`` swaps the int in before building."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"HUGE_INTS[{self.index}]"

    def __hash__(self) -> int:
        return self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Huge) and other.index == self.index


def _real(value: Any) -> Any:
    """``value`` with every Huge marker replaced by its int, containers rebuilt alike."""
    if isinstance(value, Huge):
        return HUGE_INTS[value.index]
    if isinstance(value, list | tuple | frozenset):
        return type(value)(_real(item) for item in value)
    if isinstance(value, dict):
        return {_real(k): _real(v) for k, v in value.items()}
    if isinstance(value, ArrayLike):
        return ArrayLike([_real(item) for item in value.items])
    return value


huge_ints = st.integers(0, len(HUGE_INTS) - 1).map(Huge)
SPECIAL_DECIMALS = [
    Decimal("1E+5000"),
    Decimal("1E+999999"),
    Decimal("-1E+999999"),
    Decimal("1E-999999"),
    Decimal("NaN"),
    Decimal("sNaN"),
    Decimal("-sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    Decimal("-0"),
    Decimal("-0.00"),
    Decimal("94035.00"),
    Decimal("1767225600.5"),
]
BIG_TEXT = [
    "1" * 1_000_000,
    "é" * 200_000,
    "t" * 200_000 + " 1:00",  # a quadratic case of a time-of-day regex
    "[" * 100_000,
    '{"a":' * 50_000,
    "-" * 300_000,
]

texts = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(exclude_categories=()), max_size=12),  # surrogates included
    st.text(st.sampled_from(LOOKALIKES), max_size=20),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
zones = st.sampled_from([UTC, timezone(timedelta(hours=-3)), ZoneInfo("Europe/Paris")])
scalars = st.one_of(
    st.none(),
    texts,
    st.booleans(),
    st.integers(),
    huge_ints,
    st.floats(),  # nan, inf, -0.0
    st.decimals(),
    st.sampled_from(SPECIAL_DECIMALS),
    st.binary(max_size=12),
    st.binary(max_size=12).map(bytearray),
    st.binary(max_size=12).map(memoryview),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=zones),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    json_values.map(json.dumps),  # JSON in a text column (surrogates escaped as \ud800)
    st.builds(Opaque),
    st.builds(BrokenStr),
    st.integers().map(NumpyLikeInt),
)
warehouse_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.lists(scalars, max_size=3).map(tuple),
    st.frozensets(st.one_of(texts, st.integers(), huge_ints), max_size=3),
    st.dictionaries(texts, scalars, max_size=3),
    st.lists(scalars, max_size=3).map(ArrayLike),
    json_values,
)


def _builder() -> EventBuilder:
    mapping = resolve_mapping(
        COLUMNS, identifier="row_id", explicit={f"custom_data.{POINTS}": POINTS}
    )
    return EventBuilder(mapping, BuildOptions(default_country="us"))


BUILDER = _builder()


def _snapshot(outcome: BuiltEvent | Rejection) -> tuple[Any, ...]:
    if isinstance(outcome, Rejection):
        return ("rejected", outcome.identifier, outcome.reasons, outcome.warnings, outcome.expired)
    body = orjson.dumps(outcome.event)  # never unencodable: no surrogate, no 65-bit int
    return ("built", outcome.identifier, outcome.event_id, body, outcome.warnings)


def _assert_storable(outcome: BuiltEvent | Rejection) -> None:
    """What the ledger stores (identifier, event_id) holds no NUL and no lone surrogate."""
    assert values.is_wire_text(outcome.identifier)
    if isinstance(outcome, BuiltEvent):
        assert outcome.identifier and values.is_wire_text(outcome.event_id)


def _build_both(row: dict[str, object]) -> tuple[Any, float]:
    """(the outcome of build, CPU seconds of build + build_batch); asserts they agree."""
    started = time.process_time()
    one = BUILDER.build(row, now=NOW)
    [batched, base] = BUILDER.build_batch([row, BASE], now=NOW)
    spent = time.process_time() - started
    assert _snapshot(one) == _snapshot(batched)
    assert isinstance(base, BuiltEvent)  # the next row of the batch is not affected
    _assert_storable(one)
    return one, spent


def test_the_base_row_is_a_valid_event_with_every_key_it_holds() -> None:
    outcome = BUILDER.build(BASE, now=NOW)
    assert isinstance(outcome, BuiltEvent) and outcome.warnings == ()
    assert set(outcome.event["user_data"]) == {k for k in USER_DATA_KEYS if BASE[k] is not None}


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(COLUMNS), value=warehouse_values)
def test_any_value_in_any_key_never_raises_and_both_builders_agree(key: str, value: Any) -> None:
    _, spent = _build_both({**BASE, key: _real(value)})
    assert spent < 2.0  # bounded: milliseconds, with a wide margin for a loaded machine


@settings(max_examples=EXAMPLES // 3, suppress_health_check=[HealthCheck.too_slow])
@given(row=st.fixed_dictionaries({c: st.one_of(st.just(BASE[c]), warehouse_values) for c in KEYS}))
def test_any_values_in_every_key_at_once(row: dict[str, object]) -> None:
    _build_both({**BASE, **_real(row)})


PATHOLOGICAL: list[object] = [
    *HUGE_INTS,
    *SPECIAL_DECIMALS,
    float("nan"),
    float("inf"),
    -0.0,
    1.8e308,
    "\ud800",
    "a\x00b",
    BrokenStr(),
    memoryview(b"\xff\xfe"),
]


@pytest.mark.parametrize("value", PATHOLOGICAL, ids=_id)
def test_pathological_numbers_and_text_take_milliseconds_in_every_key(value: object) -> None:
    worst = 0.0
    for key in COLUMNS:
        _, spent = _build_both({**BASE, key: value})
        worst = max(worst, spent)
    assert worst < 0.1, worst  # Decimal("1E+999999") took 95 s of CPU in str()/int()


@pytest.mark.parametrize("text", BIG_TEXT, ids=lambda t: f"{t[:3]!r}x{len(t)}")
def test_megabytes_of_text_take_bounded_time_in_every_key(text: str) -> None:
    worst = 0.0
    for key in COLUMNS:
        _, spent = _build_both({**BASE, key: text})
        worst = max(worst, spent)
    assert worst < 1.0, worst  # linear work at most: ~10 ms a megabyte


def test_ten_megabytes_in_a_customer_key_is_dropped_in_bounded_time() -> None:
    for key in ("em", "fn", "ph", "db", "zp", "st", "country"):
        for text in ("1" * 10_000_000, "é" * 5_000_000):
            outcome, spent = _build_both({**BASE, key: text})
            assert key not in outcome.event["user_data"]
            assert spent < 2.0, (key, spent)


def _issue_codes(outcome: BuiltEvent | Rejection, key: str) -> list[str]:
    return [w.code for w in outcome.warnings if w.key == key]


# -- the examples of issue 8 (section 6) and their class --------------------------------


@pytest.mark.parametrize(
    "value", [Decimal("1E+5000"), 10**4301, -(10**4301), Decimal("-1E+999999")], ids=_id
)
@pytest.mark.parametrize("key", ["em", "ph", "zp", "external_id", "madid"])
def test_a_number_too_long_to_write_in_a_customer_key_is_dropped_with_a_warning(
    key: str, value: object
) -> None:
    outcome, _ = _build_both({**BASE, key: value})
    assert isinstance(outcome, BuiltEvent)
    assert key not in outcome.event["user_data"]
    assert _issue_codes(outcome, key) == ["value_unreadable"]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (10**400, "event_time_invalid"),  # beyond a float: OverflowError before
        (2**1100, "event_time_invalid"),
        (Decimal("sNaN"), "event_time_invalid"),  # float(sNaN) raised ValueError
        (Decimal("-sNaN"), "event_time_invalid"),
        (Decimal("Infinity"), "event_time_invalid"),
        (Decimal("1E+999999"), "event_time_invalid"),
        ("Thu, 01 Jan 9999999999 00:00:00 +0000", "event_time_invalid"),  # OverflowError
    ],
)
def test_an_unreadable_event_time_rejects_the_row_with_its_reason(value: object, code: str) -> None:
    outcome, _ = _build_both({**BASE, "event_time": value})
    assert isinstance(outcome, Rejection)
    assert [r.code for r in outcome.reasons] == [code]


@pytest.mark.parametrize(
    "value",
    [10**400, 2**1100, Decimal("sNaN"), Decimal("NaN"), Decimal("-Infinity"), Decimal("1E+5000")],
    ids=_id,
)
@pytest.mark.parametrize("key", ["value", "predicted_ltv", "net_revenue"])
def test_an_unreadable_amount_rejects_the_row_with_its_reason(key: str, value: object) -> None:
    outcome, _ = _build_both({**BASE, key: value})
    assert isinstance(outcome, Rejection)
    assert [r.key for r in outcome.reasons] == [key]  # one reason, about this key


PASS_THROUGH = sorted(k for k in USER_DATA_KEYS if not PARAMS[k].hashed and k not in ("fbc", "fbp"))


@pytest.mark.parametrize("key", [*PASS_THROUGH, "fbc", "fbp"])
def test_a_lone_surrogate_in_a_key_sent_as_is_is_dropped_with_a_warning(key: str) -> None:
    outcome, _ = _build_both({**BASE, key: "12\ud800"})
    if isinstance(outcome, BuiltEvent):  # not for client_user_agent: website events need it
        assert key not in outcome.event["user_data"]
    expected = {  # keys with a shape of their own say so
        "client_ip_address": "ip_malformed",
        "fbc": "fbc_malformed",
        "fbp": "fbp_malformed",
        "ctwa_clid": "ctwa_clid_malformed",
        "lead_id": "lead_id_malformed",
        "fb_login_id": "fb_login_id_malformed",
    }
    assert _issue_codes(outcome, key) == [expected.get(key, "text_malformed")]


@pytest.mark.parametrize(
    "key", ["event_source_url", "referrer_url", "content_name", "order_id", "search_string"]
)
@pytest.mark.parametrize("text", ["https://x.example/\ud83d", "a\x00b"])
def test_text_no_ledger_or_json_can_hold_is_dropped_from_text_parameters(
    key: str, text: str
) -> None:
    outcome, _ = _build_both({**BASE, "action_source": "other", key: text})
    assert isinstance(outcome, BuiltEvent)
    section = (
        outcome.event.get("custom_data", {})
        if PARAMS[key].section == "custom_data"
        else outcome.event
    )
    assert key not in section
    assert _issue_codes(outcome, key) == [f"{key}_malformed"]


@pytest.mark.parametrize("identifier", ["r\x00", "r\ud800", 10**4301, BrokenStr()], ids=_id)
def test_an_identifier_no_ledger_can_store_is_a_missing_identifier(identifier: object) -> None:
    outcome, _ = _build_both({**BASE, "row_id": identifier})
    assert isinstance(outcome, Rejection) and outcome.identifier == ""
    assert [r.code for r in outcome.reasons] == ["missing_identifier"]


def test_an_event_id_no_ledger_can_store_falls_back_to_the_identifier() -> None:
    outcome, _ = _build_both({**BASE, "event_id": "e\x00"})
    assert isinstance(outcome, BuiltEvent) and outcome.event_id == "r-1"
    assert _issue_codes(outcome, "event_id") == ["event_id_malformed", "event_id_missing"]


def test_a_template_field_no_ledger_can_store_rejects_the_row() -> None:
    mapping = resolve_mapping(
        COLUMNS, identifier="row_id", explicit={f"custom_data.{POINTS}": POINTS}
    )
    builder = EventBuilder(mapping, BuildOptions(event_id_template="{event_name}:{order_id}"))
    row = {**BASE, "order_id": "o\ud800"}
    for outcome in (builder.build(row, now=NOW), builder.build_batch([row], now=NOW)[0]):
        assert isinstance(outcome, Rejection)
        assert [r.code for r in outcome.reasons] == ["missing_event_id"]


# -- coercers and normalizers on their own ----------------------------------------------

COERCERS: list[Callable[[object], object]] = [
    values.parse_event_time,
    values.to_number,
    values.to_int,
    values.to_bool,
    values.to_currency,
    values.to_text,
    values.to_lower_text,
    values.to_event_name,
    values.to_action_source,
    values.to_string_list,
    values.to_data_processing_options,
    values.to_contents,
    values.to_object,
    values.to_json_value,
    values.is_blank,
]


@settings(max_examples=EXAMPLES)
@given(value=warehouse_values)
def test_every_coercer_answers_any_value(value: object) -> None:
    for coerce in COERCERS:
        coerce(_real(value))  # never raises


@settings(max_examples=EXAMPLES)
@given(key=st.sampled_from(sorted(USER_DATA_KEYS)), value=warehouse_values)
def test_every_normalizer_answers_any_value(key: str, value: object) -> None:
    warnings: list[Any] = []
    wire = user_data_value(key, _real(value), NormalizeContext(country="us"), warnings)
    assert wire is None or isinstance(wire, str | int | list)  # lead_id, fb_login_id: int
    hash_value(key, _real(value))  # never raises


@pytest.mark.parametrize(
    ("coerce", "raw", "expected"),
    [
        (values.to_int, 2**53 + 1, 2**53 + 1),
        (values.to_int, "9007199254740993", 9007199254740993),  # exact, not through a float
        (values.to_int, Decimal("9007199254740993"), 9007199254740993),
        (values.to_int, Decimal("3.5"), values.INVALID),
        (values.to_int, Decimal("sNaN"), values.INVALID),
        (values.to_int, NumpyLikeInt(7), 7),
        (values.to_int, "+-3", values.INVALID),
        (values.to_number, NumpyLikeInt(7), 7.0),
        (values.to_number, 10**400, values.INVALID),
        (values.to_number, Decimal("-0"), -0.0),
        (values.parse_event_time, NumpyLikeInt(NOW), NOW),
        (values.to_text, 10**4301, values.INVALID),
        (values.to_text, b"caf\xc3\xa9", "café"),
        (values.to_text, b"\xff", values.INVALID),
        (values.to_text, memoryview(b"ab"), "ab"),
        (values.to_text, BrokenStr(), values.INVALID),
        (values.to_text, uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (values.to_string_list, memoryview(b"sku"), ["sku"]),
        (values.to_string_list, ArrayLike(["a", 1]), ["a", "1"]),
        (values.to_string_list, frozenset({10**4301, "a"}), values.INVALID),
        (values.to_json_value, {10**4301: 1}, values.INVALID),
        (values.to_json_value, frozenset({10**4301, 1}), values.INVALID),
        (values.to_json_value, b"ab", "ab"),
        (values.to_json_value, NumpyLikeInt(3), 3),
        (values.to_contents, [{"id": "a", "item_price": float("nan")}], [{"id": "a"}]),
        (values.to_contents, [{"id": 10**4301}], values.INVALID),
        (values.to_object, "[" * 100_000, values.INVALID),
    ],
    ids=_id,
)
def test_coercers_on_the_odd_values_of_drivers(
    coerce: Callable[[object], object], raw: object, expected: object
) -> None:
    assert coerce(raw) == expected


@pytest.mark.parametrize(
    ("key", "raw", "code"),
    [
        ("zp", Decimal("1E+5000"), "value_unreadable"),
        ("ph", 10**4301, "value_unreadable"),
        ("em", b"\xff@example.com", "value_unreadable"),
        ("fn", BrokenStr(), "value_unreadable"),
        ("em", "a" * 996 + "@x.co", "value_too_long"),
        ("fn", "é" * 1001, "value_too_long"),
        ("external_id", "u-\ud800", "text_malformed"),
        ("fb_login_id", "1\ud800", "fb_login_id_malformed"),  # an integer ID: not digits
        ("em", "ann\x00@example.com", "email_malformed"),
        ("em", ["ann@example.com", 10**4301], "value_unreadable"),
    ],
    ids=_id,
)
def test_unreadable_customer_values_are_dropped_with_their_warning(
    key: str, raw: object, code: str
) -> None:
    warnings: list[Any] = []
    wire = user_data_value(key, raw, NormalizeContext(country="us"), warnings)
    assert [w.code for w in warnings] == [code]
    if isinstance(raw, list):
        assert wire == hash_value(key, raw[0])
    else:
        assert wire is None


def test_customer_values_that_read_as_numbers_or_bytes() -> None:
    assert hash_value("zp", Decimal("94035.00"), country="us") == hash_value("zp", "94035")
    assert hash_value("zp", Decimal("1E+3"), country="us") == hash_value("zp", "01000")
    assert hash_value("ph", Decimal("16505551212")) == hash_value("ph", "16505551212")
    assert hash_value("fn", memoryview(b"Ann")) == hash_value("fn", "ann")
    assert hash_value("fn", bytearray("Zoë".encode())) == hash_value("fn", "zoë")
    assert hash_value("external_id", NumpyLikeInt(42)) == hash_value("external_id", "42")
    assert hash_value("external_id", -0.0) == hash_value("external_id", "0")
    assert hash_value("db", date(1997, 2, 16)) == hash_value("db", "19970216")
    assert hash_value("db", datetime(1997, 2, 16, 23, 59)) == hash_value("db", "19970216")
