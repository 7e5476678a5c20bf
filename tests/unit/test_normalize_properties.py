"""Properties of normalization over generated input (hypothesis)."""

from __future__ import annotations

import os
import re
import string
import sys
import unicodedata

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from capisync.capi import keyrules, personal, phone
from capisync.capi import normalize as normalize_module
from capisync.capi.issues import Issue
from capisync.capi.normalize import (
    NormalizeContext,
    dropped,
    hash_value,
    normalize,
    user_data_value,
)
from capisync.capi.params import HASHED_KEYS, PARAMS, USER_DATA_KEYS
from capisync.capi.textforms import MINUS_SIGNS

# CAPISYNC_EXAMPLES=3000 for a deeper search than the fast default
settings.register_profile(
    "capisync",
    max_examples=int(os.environ.get("CAPISYNC_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("capisync")

HEX64 = re.compile(r"[0-9a-f]{64}")
ALL_KEYS = sorted(USER_DATA_KEYS)
COUNTRIES = st.sampled_from(
    [
        None,
        "us",
        "gb",
        "fr",
        "de",
        "it",
        "ru",
        "br",
        "ar",
        "jp",
        "in",
        "ca",
        "au",
        "mx",
        "nl",
        "ag",
        "aq",
    ]
)
KNOWN_MESSAGES = {
    dropped(key, code).issue.message for key in ALL_KEYS for code in normalize_module._MESSAGES
} | {  # an unhashed key holding an email or phone (anon_id "0@0.AA"): personal.screen's sentence
    issue.message
    for key in ALL_KEYS
    if (check := personal.screen(key, PARAMS[key].screen)) is not None
    for issue in (check("a@example.com"), check("+16505551212"))
    if issue is not None
}

# Text that looks like what warehouses hold for each key, plus arbitrary Unicode.
messy_text = st.text(alphabet=string.ascii_letters + string.digits + " .-()+/@'_,#", max_size=30)
phone_text = st.from_regex(
    r"\A(\+|00|011 )?\(?\d{1,4}\)?[ .\-]?\d{2,4}[ .\-]?\d{2,4}"
    r"[ .\-]?\d{0,4}( ext\. ?\d{1,4})?\Z"
)
date_text = st.from_regex(r"\A\d{1,4}[/.\- ]\d{1,2}[/.\- ]\d{1,4}\Z")
any_text = st.one_of(st.text(max_size=40), messy_text)


@given(key=st.sampled_from(ALL_KEYS), value=any_text, country=COUNTRIES)
@example(key="ph", value="+1 (650) 555-1212", country=None)
@example(key="fn", value="İstanbul", country=None)
@example(key="external_id", value="id-\ud800", country=None)  # a lone surrogate: no UTF-8
@example(key="em", value="a\udfff@example.com", country=None)
@example(key="anon_id", value="0@0.AA", country=None)  # screened: dropped, message known
def test_no_text_raises_and_every_warning_is_a_known_message(
    key: str, value: str, country: str | None
) -> None:
    warnings: list[Issue] = []
    result = user_data_value(key, value, NormalizeContext(country=country), warnings)
    assert result is None or isinstance(result, str | int | list)  # lead_id, fb_login_id: int
    for warning in warnings:
        assert warning.key == key
        assert warning.message in KNOWN_MESSAGES  # fixed sentences: no customer data inside
    if key in HASHED_KEYS and result is not None:
        for wire in [result] if isinstance(result, str) else result:
            assert HEX64.fullmatch(wire)


def _assert_idempotent(key: str, value: object, country: str | None) -> None:
    once = normalize(key, value, country=country)
    if once is not None and not _foreign_phone(key, once, country):
        assert normalize(key, once, country=country) == once


def _foreign_phone(key: str, digits: str, country: str | None) -> bool:
    """ "+20 00000000" in a US row normalizes to 2000000000, which without its "+" is also a
    US number: the wire format cannot say which, so a foreign number is not re-normalized."""
    region = phone.region_for_country(country) if key == "ph" and country else None
    return region is not None and not digits.startswith(region.calling_code)


@given(key=st.sampled_from(ALL_KEYS), value=any_text, country=COUNTRIES)
@example(key="fn", value="e.\u0301", country=None)
@example(key="zp", value="94035-1234", country=None)
def test_normalizing_a_normalized_value_changes_nothing(
    key: str, value: str, country: str | None
) -> None:
    _assert_idempotent(key, value, country)


@given(value=phone_text, country=COUNTRIES)
def test_phone_normalization_is_idempotent(value: str, country: str | None) -> None:
    _assert_idempotent("ph", value, country)
    once = normalize("ph", value, country=country)
    if once is not None:
        assert once.isdigit() and not once.startswith("0") and 7 <= len(once) <= 15


@given(value=date_text, order=st.sampled_from(["mdy", "dmy", "ymd"]))
def test_dates_of_birth_come_out_as_valid_yyyymmdd(value: str, order: str) -> None:
    ctx = NormalizeContext(dob_order=order, current_year=2026)  # type: ignore[arg-type]
    warnings: list[Issue] = []
    wire = user_data_value("db", value, ctx, warnings)
    assert (wire is None) == bool(warnings)
    once = normalize("db", value, year=2026)  # a clock pinned in 2026
    if once is not None:
        assert re.fullmatch(
            r"(19\d\d|20[0-1]\d|202[0-6])(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])", once
        )
        assert normalize("db", once, year=2026) == once


@given(digest=st.from_regex(r"\A[0-9a-fA-F]{64}\Z"), key=st.sampled_from(sorted(HASHED_KEYS)))
def test_a_sha256_hash_is_returned_lowercased_never_rehashed(digest: str, key: str) -> None:
    assert hash_value(key, digest) == digest.lower()
    assert user_data_value(key, [digest, digest.upper()], NormalizeContext(), []) == digest.lower()


@given(values=st.lists(st.emails(), max_size=6))
def test_lists_are_deduplicated_in_order(values: list[str]) -> None:
    result = user_data_value("em", values, NormalizeContext(), [])
    hashes = [hash_value("em", v) for v in values]
    expected = list(dict.fromkeys(h for h in hashes if h is not None))
    assert result == (expected[0] if len(expected) == 1 else expected or None)


# The address rule as one regex (how it was written first): the string searches of
# keyrules.is_email_address must accept exactly what it accepts.
_EMAIL_CHAR = r"[^\s\x00-\x1f\x7f@<>(),;:\"\[\]\\]"
EMAIL_REGEX = re.compile(rf"{_EMAIL_CHAR}+@{_EMAIL_CHAR}+\.[^\s\x00-\x1f\x7f@<>(),;:\"\[\]\\.]+")
LOOKALIKES_EMAIL = (
    "ab1.@-_ \t\u00a0\u2013\u2212\u200b\u3002\u0661\u00e9\x00\x7f!#$%&'*+/=?^`{|}~<>()[]\\,;:\""
)
email_like = st.text(alphabet='ab.@ \t\u00a0\x1c\x00\x7f<>(),;:"[]\\é', max_size=12)


@given(text=st.one_of(email_like, st.text(max_size=20), st.emails()))
@example(text="a@b.c")
@example(text="a@.c")
@example(text="a@b.")
@example(text="@b.c")
@example(text="a@b@c.d")
@example(text="a.b@c")
@example(text="a@..c")
@example(text="a@b.c\u00a0")
@example(text="a\x00@b.c")
@example(text="a@b.c\x7f")
def test_is_email_address_accepts_what_the_address_regex_accepts(text: str) -> None:
    assert keyrules.is_email_address(text) == (EMAIL_REGEX.fullmatch(text) is not None)


def test_a_lone_surrogate_is_dropped_with_a_warning_not_hashed() -> None:
    warnings: list[Issue] = []
    ctx = NormalizeContext(country="us")
    assert user_data_value("external_id", "user-\ud800", ctx, warnings) is None
    assert [w.code for w in warnings] == ["text_malformed"]
    assert hash_value("external_id", "user-\ud800") is None
    # the column path hashes plain cells inline (emails, phones): same drop, same warning
    warned: dict[int, list[Issue]] = {}
    column = normalize_module.user_data_column(
        "em", ["ann\udfff@example.com", "ann@example.com"], [ctx, ctx], warned
    )
    assert column == [None, hash_value("em", "ann@example.com")]
    assert [w.code for w in warned[0]] == ["text_malformed"] and 1 not in warned


def test_a_set_of_values_goes_out_in_one_order_whatever_the_hash_seed() -> None:
    ctx = NormalizeContext()
    emails = {"b@example.com", "a@example.com", "c@example.com"}
    wire = user_data_value("em", emails, ctx, [])
    assert wire == [hash_value("em", e) for e in sorted(emails)]


# -- Unicode look-alikes (spec section 3) --------------------------------------------------

_ALL_CHARS = [chr(c) for c in range(sys.maxunicode + 1)]
DASHES = [c for c in _ALL_CHARS if unicodedata.category(c) == "Pd"] + list(MINUS_SIGNS)
SPACES = [c for c in _ALL_CHARS if unicodedata.category(c) == "Zs"]
INVISIBLE = ["\u200b", "\ufeff", "\u00ad", "\u2060"]
LOOKALIKE_KEYS = ["ph", "zp", "db", "em", "st", "country", "ge", "fn", "ln", "ct"]
ascii_values = st.one_of(
    messy_text, phone_text, date_text, st.emails(), st.sampled_from(["CA", "US-NY", "Female"])
)


@st.composite
def disguised(draw: st.DrawFn, text: str) -> str:
    """``text`` as a form or a phone may give it: full-width characters, any Unicode dash
    for "-", any Unicode space for " ", invisible characters between."""
    out = []
    for char in text:
        choices = [char]
        if "!" <= char <= "~":
            choices.append(chr(ord(char) + 0xFEE0))  # U+FF01..U+FF5E
        if char == "-":
            choices += DASHES
        if char == " ":
            choices += SPACES
        out.append(draw(st.sampled_from(choices)))
        if draw(st.integers(0, 9)) == 0:
            out.append(draw(st.sampled_from(INVISIBLE)))
    return "".join(out)


@given(
    key=st.sampled_from(LOOKALIKE_KEYS),
    pair=ascii_values.flatmap(lambda text: st.tuples(st.just(text), disguised(text))),
    country=COUNTRIES,
)
@example(key="ph", pair=("650-555-1212", "650\u2013555\u20131212"), country="us")
@example(key="zp", pair=("12345", "\uff11\uff12\uff13\uff14\uff15"), country="us")
def test_lookalikes_normalize_as_the_ascii_they_show(
    key: str, pair: tuple[str, str], country: str | None
) -> None:
    text, lookalike = pair
    if text.strip().lower() in ("nan", "null", "none", "n/a", "#n/a", "undefined"):
        return  # placeholders are recognized in ASCII only
    ctx = NormalizeContext(country=country)
    assert normalize(key, lookalike, country=country) == normalize(key, text, country=country)
    assert user_data_value(key, lookalike, ctx, []) == user_data_value(key, text, ctx, [])


def test_the_one_scan_of_a_non_ascii_address_finds_all_the_address_rule_finds() -> None:
    # keyrules._email scans a non-ASCII address once: where that scan finds nothing, the
    # address rule's own scan must find nothing either. Both are one-character classes, so
    # every code point settles it for every text.
    for char in _ALL_CHARS:
        if keyrules._NOT_IN_EMAIL_OR_FOLDABLE.search(char) is None:
            assert keyrules._NOT_IN_EMAIL.search(char) is None, hex(ord(char))
