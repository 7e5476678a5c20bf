"""Coercion of warehouse cells into wire types: times, numbers, currencies, lists, objects."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capisync.capi import values
from capisync.capi.values import INVALID

NEW_YEAR = 1767225600  # 2026-01-01T00:00:00Z
PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("raw", "tz", "expected"),
    [
        (NEW_YEAR, UTC, NEW_YEAR),
        (NEW_YEAR + 0.9, UTC, NEW_YEAR),
        (Decimal("1767225600.5"), UTC, NEW_YEAR),
        (NEW_YEAR * 1000 + 123, UTC, NEW_YEAR),  # epoch milliseconds
        (NEW_YEAR * 1_000_000, UTC, NEW_YEAR),  # epoch microseconds
        (NEW_YEAR * 1_000_000_000, UTC, NEW_YEAR),  # epoch nanoseconds
        (datetime(2026, 1, 1), UTC, NEW_YEAR),  # naive read as UTC
        (datetime(2026, 1, 1), PARIS, NEW_YEAR - 3600),  # naive read in Paris (UTC+1 in winter)
        (datetime(2026, 7, 1), PARIS, NEW_YEAR + 181 * 86400 - 7200),  # summer: UTC+2
        (datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), PARIS, NEW_YEAR),
        (date(2026, 1, 1), UTC, NEW_YEAR),
        (date(2026, 1, 1), PARIS, NEW_YEAR - 3600),
        ("2026-01-01T00:00:00Z", UTC, NEW_YEAR),
        ("2026-01-01 00:00:00 UTC", PARIS, NEW_YEAR),  # a warehouse's UTC rendering: not naive
        ("Thu, 01 Jan 2026 00:00:00 GMT", PARIS, NEW_YEAR),  # RFC 2822 / HTTP date
        ("2026-01-01T01:00:00+01:00", UTC, NEW_YEAR),
        (" 2026-01-01 00:00:00.123456789 ", UTC, NEW_YEAR),  # nanosecond text from a warehouse
        ("2026-01-01", UTC, NEW_YEAR),
        ("2026-01-01T00:00", PARIS, NEW_YEAR - 3600),
        ("1767225600", UTC, NEW_YEAR),
        ("1767225600123", UTC, NEW_YEAR),
        ("1767225600.75", UTC, NEW_YEAR),
        (None, UTC, None),
        ("   ", UTC, None),
        ("yesterday", UTC, INVALID),
        ("2026-13-01", UTC, INVALID),
        (True, UTC, INVALID),
        (-5, UTC, INVALID),
        (float("nan"), UTC, INVALID),
        (float("inf"), UTC, INVALID),
        ([NEW_YEAR], UTC, INVALID),
    ],
)
def test_parse_event_time(raw: object, tz: ZoneInfo, expected: object) -> None:
    assert values.parse_event_time(raw, tz) == expected


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, PARIS, ZoneInfo("America/New_York")]),
    )
)
def test_event_time_agrees_across_representations(moment: datetime) -> None:
    seconds = values.parse_event_time(moment)
    assert seconds == int(moment.timestamp() // 1)
    assert values.parse_event_time(moment.isoformat()) == seconds
    assert values.parse_event_time(seconds) == seconds
    assert values.parse_event_time(int(moment.timestamp() * 1000)) == seconds


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (10, 10.0),
        (19.99, 19.99),
        (Decimal("19.99"), 19.99),
        (" 42.50 ", 42.5),
        ("-3", -3.0),
        ("", None),
        (None, None),
        ("$5", INVALID),
        ("1,234.50", INVALID),
        (True, INVALID),
        (float("nan"), INVALID),
        ("inf", INVALID),
        (Decimal("NaN"), INVALID),
        ([1], INVALID),
    ],
)
def test_to_number(raw: object, expected: object) -> None:
    result = values.to_number(raw)
    assert result == expected
    assert result is INVALID or result is None or type(result) is float


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3, 3),
        (3.0, 3),
        ("3", 3),
        (Decimal("4"), 4),
        (3.5, INVALID),
        ("three", INVALID),
        (None, None),
    ],
)
def test_to_int(raw: object, expected: object) -> None:
    assert values.to_int(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("yes", True),
        (" FALSE ", False),
        ("t", True),
        ("", None),
        (None, None),
        ("maybe", INVALID),
        (2, INVALID),
    ],
)
def test_to_bool(raw: object, expected: object) -> None:
    assert values.to_bool(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("usd", "USD"),
        (" EUR ", "EUR"),
        ("jpy", "JPY"),
        ("", None),
        (None, None),
        ("XYZ", INVALID),
        ("US Dollar", INVALID),
        ("$", INVALID),
        (840, INVALID),
    ],
)
def test_to_currency(raw: object, expected: object) -> None:
    assert values.to_currency(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["SKU-1", 2, None, " ", 3.0], ["SKU-1", "2", "3"]),  # a warehouse array
        (("a", "b"), ["a", "b"]),
        ({"b", "a"}, ["a", "b"]),
        ('["A1", "B2", 7]', ["A1", "B2", "7"]),  # a JSON array in a text column
        ("SKU-1", ["SKU-1"]),  # a comma-free scalar
        (1234, ["1234"]),
        ("a,b", INVALID),  # ambiguous: not guessed
        ("[1, 2", INVALID),
        ('["a", ["nested"]]', INVALID),
        ('{"id": 1}', INVALID),
        ("", None),
        ([], None),
        ([None, ""], None),
        (None, None),
    ],
)
def test_to_string_list(raw: object, expected: object) -> None:
    assert values.to_string_list(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '[{"id": "A", "quantity": "2", "item_price": "9.50"}]',
            [{"id": "A", "quantity": 2, "item_price": 9.5}],
        ),
        (
            [
                {
                    "id": 17,
                    "quantity": 1,
                    "item_price": Decimal("3.25"),
                    "delivery_category": "in_store",
                }
            ],
            [{"id": "17", "quantity": 1, "item_price": 3.25, "delivery_category": "in_store"}],
        ),
        ({"id": "A"}, [{"id": "A"}]),
        ([{"quantity": 1}], [{"quantity": 1}]),  # kept: validation rejects the missing id
        ([{"id": None, "quantity": 1}], [{"quantity": 1}]),
        ("not json", INVALID),
        ([1, 2], INVALID),
        ([{"id": "A", "quantity": "x"}], INVALID),
        ("", None),
        (None, None),
        ([], None),
    ],
)
def test_to_contents(raw: object, expected: object) -> None:
    assert values.to_contents(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"advertiser_tracking_enabled": 1, "extinfo": ["a2"]}',
            {"advertiser_tracking_enabled": 1, "extinfo": ["a2"]},
        ),
        ({"a": None, "b": Decimal("1.5")}, {"b": 1.5}),
        ("[1]", INVALID),
        ("{oops", INVALID),
        (42, INVALID),
        (" ", None),
        (None, None),
    ],
)
def test_to_object(raw: object, expected: object) -> None:
    assert values.to_object(raw) == expected


@pytest.mark.parametrize(
    ("func", "raw", "expected"),
    [
        (values.to_event_name, "purchase", "Purchase"),
        (values.to_event_name, " ADDTOCART ", "AddToCart"),
        (values.to_event_name, "MyCustomEvent", "MyCustomEvent"),
        (values.to_event_name, "", None),
        (values.to_action_source, "Physical Store", "physical_store"),
        (values.to_action_source, " WEBSITE ", "website"),
        (values.to_action_source, "system-generated", "system_generated"),
        (values.to_action_source, "web", "web"),  # left for validation to reject
        (values.to_text, 123.0, "123"),
        (values.to_text, 12.5, "12.5"),
        (values.to_text, " A-1 ", "A-1"),
        (values.to_text, float("nan"), None),
        (values.to_lower_text, " Product ", "product"),
        (values.to_data_processing_options, "ldu", ["LDU"]),
        (values.to_data_processing_options, '["LDU"]', ["LDU"]),
        (values.to_data_processing_options, [], None),
    ],
)
def test_text_coercers(func: object, raw: object, expected: object) -> None:
    assert func(raw) == expected  # type: ignore[operator]


def test_to_json_value_makes_custom_properties_json_ready() -> None:
    raw = {
        "when": datetime(2026, 1, 2, 3, 4, 5),
        "day": date(2026, 1, 2),
        "amount": Decimal("2.50"),
        "tags": ("a", "b"),
        "name": " x ",
        "n": None,
    }
    assert values.to_json_value(raw) == {
        "when": "2026-01-02T03:04:05",
        "day": "2026-01-02",
        "amount": 2.5,
        "tags": ["a", "b"],
        "name": "x",
        "n": None,
    }
    assert values.to_json_value(float("nan")) is None


@pytest.mark.parametrize(
    ("raw", "blank"),
    [
        (None, True),
        ("", True),
        ("  ", True),
        (float("nan"), True),
        ([], True),
        ("x", False),
        (0, False),
        (0.0, False),
        (["a"], False),
        (False, False),
    ],
)
def test_is_blank(raw: object, blank: bool) -> None:
    assert values.is_blank(raw) is blank


def test_invalid_marker_holds_no_value() -> None:
    assert repr(INVALID) == "<invalid>"
    assert "USD" in values.iso_currencies() and "XYZ" not in values.iso_currencies()


@pytest.mark.parametrize(("text", "expected"), [("¹", 1), ("²³", 23), ("1.²", 1), ("¹x", INVALID)])
def test_superscript_digits_read_as_digits_never_raise(text: str, expected: object) -> None:
    # str.isdigit() says yes to them, float() says no (found by hypothesis); compatibility
    # forms (NFKC) now make them the digits they show
    assert values.parse_event_time(text) == expected


def test_values_the_request_json_cannot_carry_are_unreadable_not_sent() -> None:
    # orjson (the request's writer) carries 64-bit integers and nesting under 255 levels
    assert values.to_json_value(2**64 - 1) == 2**64 - 1
    assert values.to_json_value(-(2**63)) == -(2**63)
    assert values.to_json_value(2**64) is values.INVALID
    assert values.to_json_value([1, {"deep": -(2**63) - 1}]) is values.INVALID
    nested: object = "leaf"
    for _ in range(values.JSON_MAX_DEPTH + 1):
        nested = [nested]
    assert values.to_json_value(nested) is values.INVALID
    assert values.to_int(2**70) is values.INVALID
    assert values.to_object('{"points": 1180591620717411303424}') is values.INVALID
    assert values.to_object("[" * 100_000) is values.INVALID  # json.loads: RecursionError
    assert values.to_contents([{"id": "a", "quantity": 2**70}]) is values.INVALID


def test_what_json_cannot_carry_is_unreadable_in_every_reading_of_a_cell() -> None:
    # found by review: floats and Decimals as whole numbers, JSON's lone-surrogate escapes
    # (a cut emoji as JavaScript writes it), a Decimal beyond a float inside a list
    assert values.to_int(Decimal(10**38 - 1)) is values.INVALID
    assert values.to_int(1e30) is values.INVALID
    assert values.to_int("1e30") is values.INVALID
    assert values.to_int("12") == 12
    assert values.to_object('{"x": "\\ud83d"}') is values.INVALID
    assert values.to_object('{"\\ud83d": 1}') is values.INVALID
    assert values.to_object('{"x": "\\ud83d\\ude00"}') == {"x": "\U0001f600"}  # a whole emoji
    assert values.to_string_list('["a", "\\ud83d"]') is values.INVALID
    assert values.to_json_value([Decimal("1e400")]) is values.INVALID
    assert values.to_json_value(Decimal("1e400")) is values.INVALID


def test_a_contents_id_is_text_whatever_its_size_and_items_keep_their_key_order() -> None:
    assert values.to_contents('[{"id": 12345678901234567890123, "quantity": 1}]') == [
        {"id": "12345678901234567890123", "quantity": 1}
    ]
    [item] = values.to_contents([{"quantity": 2, "id": " a ", "note": None}])  # type: ignore[misc]
    assert list(item.items()) == [("quantity", 2), ("id", "a")]
    assert values.to_contents([{"id": "a", "quantity": 2**70}]) is values.INVALID


# -- Unicode look-alikes (spec section 3) and numbers of any size (issue 8, section 6) -----


@pytest.mark.parametrize(
    ("func", "raw", "expected"),
    [
        (values.parse_event_time, "２０２６‐０１‐０１T００：００：００Z", NEW_YEAR),
        (values.parse_event_time, "2026\u201301\u201301\u00a000:00", NEW_YEAR),
        (values.parse_event_time, "１７６７２２５６００", NEW_YEAR),
        (values.parse_event_time, "2026-01-01T01:00:00+01:00\u200b", NEW_YEAR),
        (values.to_number, "１４２．５２", 142.52),
        (values.to_number, "\u22125", -5.0),  # a minus sign
        (values.to_number, "\u20135", -5.0),  # an en dash typed for one
        (values.to_int, "\uff13", 3),
        (values.to_int, "\u22123", -3),
        (values.to_currency, "ｕｓｄ", "USD"),
        (values.to_currency, "\u00a0EUR\u3000", "EUR"),
        (values.to_bool, "ｙｅｓ", True),
        (values.to_bool, "０", False),
        (values.to_event_name, "ｐｕｒｃｈａｓｅ", "Purchase"),
        (values.to_event_name, "Ｍｙ－Ｅｖｅｎｔ", "Ｍｙ－Ｅｖｅｎｔ"),  # custom names as written
        (values.to_action_source, "Ｐｈｙｓｉｃａｌ\u3000Ｓｔｏｒｅ", "physical_store"),
        (values.to_action_source, "system\u2011generated", "system_generated"),
    ],
)
def test_unicode_lookalikes_in_event_and_custom_data_keys(
    func: object, raw: object, expected: object
) -> None:
    assert func(raw) == expected  # type: ignore[operator]


huge_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**60).map(lambda n: n**3),  # beyond 64 bits, beyond a float
    st.decimals(),  # NaN, sNaN, Infinity, any exponent
    st.floats(),
)


@given(huge_numbers)
def test_numbers_are_exact_finite_floats_or_invalid(number: int | float | Decimal) -> None:
    result = values.to_number(number)
    try:
        as_float = float(number)
    except (OverflowError, ValueError):  # an int beyond a float; Decimal("sNaN")
        assert result is INVALID
        return
    assert result == as_float if math.isfinite(as_float) else result is INVALID


@given(st.integers() | st.integers(min_value=2**60).map(lambda n: n**2))
def test_integers_are_exact_within_64_bits_in_every_form(number: int) -> None:
    expected = number if values.JSON_INT_MIN <= number <= values.JSON_INT_MAX else INVALID
    assert values.to_int(number) == expected
    assert values.to_int(Decimal(number)) == expected
    if abs(number) < 10**21:
        assert values.to_int(str(number)) == expected
        assert values.to_int(f" {number:+d} ") == expected


@given(st.decimals(), st.sampled_from([UTC, PARIS]))
def test_any_decimal_is_a_time_or_invalid_never_an_exception(number: Decimal, tz: ZoneInfo) -> None:
    seconds = values.parse_event_time(number, tz)
    assert seconds is INVALID or (type(seconds) is int and seconds >= 0)
