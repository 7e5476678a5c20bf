"""Customer-data normalization: Meta's documented examples, messy warehouse values, drops."""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from capisync.capi import normalize as normalize_module
from capisync.capi.issues import Issue
from capisync.capi.normalize import (
    NormalizeContext,
    ValueDropped,
    dropped,
    hash_value,
    normalize,
    normalize_country,
    user_data_value,
)
from capisync.capi.params import USER_DATA_KEYS
from capisync.capi.textforms import MINUS_SIGNS, NUMERIC_DASHES


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# Meta's "Customer information parameters" page and spec section 3, verbatim.
DOCUMENTED_HASHES = [
    (
        "em",
        "John_Smith@gmail.com",
        None,
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
    ),
    (
        "ph",
        "(650)555-1212",
        "us",
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
    ),
    ("fn", "Mary", None, "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
    ("fn", "정", None, "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"),
    ("fn", "Valéry", None, "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
    ("db", "2/16/1997", None, "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c"),
    (
        "country",
        "United States",
        None,
        "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
    ),
    ("country", "us", None, "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"),
    (
        "em",
        " John_Smith@gmail.com ",
        None,
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
    ),
]

DOCUMENTED_NORMALIZED = [
    ("em", "John_Smith@gmail.com", None, "john_smith@gmail.com"),
    ("ph", "(650)555-1212", "us", "16505551212"),
    ("ph", "+1 (650) 555-1212", None, "16505551212"),
    ("ph", "0044 20 7946 0958", None, "442079460958"),
    ("ph", "06 12 34 56 78", "fr", "33612345678"),
    ("ph", "+44 844 412 4653", None, "448444124653"),
    ("fn", "Mary", None, "mary"),
    ("fn", " Mary-Ann ", None, "maryann"),
    ("fn", "Valéry", None, "valéry"),
    ("fn", "정", None, "정"),
    ("ln", "O'Brien", None, "obrien"),
    ("ge", "Female", None, "f"),
    ("ge", "F", None, "f"),
    ("ge", "woman", None, "f"),
    ("ge", "m", None, "m"),
    ("db", "2/16/1997", None, "19970216"),
    ("db", "1997-02-16", None, "19970216"),
    ("ct", "St. Louis", None, "stlouis"),
    ("ct", "New York", None, "newyork"),
    ("ct", "Paris", None, "paris"),
    ("ct", "London", None, "london"),
    ("st", "California", None, "ca"),
    ("st", " CA ", None, "ca"),
    ("st", "AZ", "us", "az"),
    ("zp", "94035-1234", "us", "94035"),
    ("zp", "940351234", "us", "94035"),
    ("zp", "94035", "us", "94035"),
    ("zp", "1987", "au", "1987"),
    ("zp", "75018", "fr", "75018"),
    ("zp", "M1 1AE", "gb", "m11ae"),
    ("country", "United States", None, "us"),
    ("country", "USA", None, "us"),
    ("country", "U.S.", None, "us"),
    ("country", "UK", None, "gb"),
    ("country", "Great Britain", None, "gb"),
    ("client_ip_address", "168.212.226.204", None, "168.212.226.204"),
    (
        "client_ip_address",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        None,
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    ),
    (
        "fbc",
        "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890",
        None,
        "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890",
    ),
    ("fbp", "fb.1.1596403881668.1116446470", None, "fb.1.1596403881668.1116446470"),
]


@pytest.mark.parametrize(("key", "value", "country", "expected"), DOCUMENTED_HASHES)
def test_documented_hashes(key: str, value: str, country: str | None, expected: str) -> None:
    assert hash_value(key, value, country=country) == expected


@pytest.mark.parametrize(("key", "value", "country", "expected"), DOCUMENTED_NORMALIZED)
def test_documented_normalization(key: str, value: str, country: str | None, expected: str) -> None:
    assert normalize(key, value, country=country) == expected


MESSY = [
    # email: trim and lowercase only
    ("em", "  MARY.ann+tag@Example.CO.uk\t", None, "mary.ann+tag@example.co.uk"),
    ("em", "ÉLODIE@exemple.fr", None, "élodie@exemple.fr"),
    # phones: separators, extensions, trunk zeros, international prefixes, digits of any script
    ("ph", "650.555.1212", "us", "16505551212"),
    ("ph", "1-650-555-1212", "us", "16505551212"),
    ("ph", "650-555-1212 ext. 42", "us", "16505551212"),
    ("ph", "+16505551212", "fr", "16505551212"),
    ("ph", "16505551212", "us", "16505551212"),
    ("ph", 16505551212, "us", "16505551212"),
    ("ph", Decimal("6505551212"), "us", "16505551212"),
    ("ph", 6505551212.0, "us", "16505551212"),
    ("ph", "011 44 20 7946 0958", "us", "442079460958"),
    ("ph", "+44 (0)20 7946 0958", None, "442079460958"),
    ("ph", "(+44) 020 7946 0958", None, "442079460958"),
    ("ph", "07700 900123", "gb", "447700900123"),
    ("ph", "33612345678", "fr", "33612345678"),
    ("ph", "tel: +33 6 12 34 56 78", None, "33612345678"),
    ("ph", "０６ １２ ３４ ５６ ７８", "fr", "33612345678"),
    ("ph", "+39 06 1234 5678", None, "390612345678"),  # Italy keeps its 0
    ("ph", "06 1234 5678", "it", "390612345678"),
    ("ph", "8 (916) 123-45-67", "ru", "79161234567"),
    ("ph", "8 800 555 35 35", "ru", "78005553535"),
    ("ph", "(11) 98765-4321", "br", "5511987654321"),
    ("ph", "011 15 2345-6789", "ar", "5491123456789"),  # mobile: 9 after 54, no 15
    ("ph", "090-1234-5678", "jp", "819012345678"),
    ("ph", "030 123456", "de", "4930123456"),
    ("ph", "+800 1234 5678", None, "80012345678"),
    ("ph", "16505551212", None, "16505551212"),  # a valid international number: no warning
    # names and cities: letters of any script, nothing else
    ("fn", "JOHN", None, "john"),
    ("fn", "Jean-Luc", None, "jeanluc"),
    ("fn", "Zoë", None, "zoë"),
    ("fn", "Zoe\u0308", None, "zoë"),  # decomposed input comes out NFC
    ("fn", "Mary Ann 2", None, "maryann"),
    ("ln", "Smith Jr.", None, "smithjr"),
    ("ln", "Müller-Lüdenscheidt", None, "müllerlüdenscheidt"),
    ("ln", "Дмитриев", None, "дмитриев"),
    ("ln", "देवनागरी", None, "देवनागरी"),  # vowel signs are marks and stay
    ("ct", "Winston-Salem", None, "winstonsalem"),
    ("ct", "Coeur d'Alene", None, "coeurdalene"),
    ("ct", "São Paulo", None, "sãopaulo"),
    ("ct", "東京", None, "東京"),
    # states
    ("st", "new york", None, "ny"),
    ("st", "N.Y.", "us", "ny"),
    ("st", "US-TX", None, "tx"),
    ("st", "Washington, D.C.", "us", "dc"),
    ("st", "Québec", "ca", "qc"),
    ("st", "ontario", None, "on"),
    ("st", "Puerto Rico", "us", "pr"),
    ("st", "Île-de-France", "fr", "îledefrance"),
    ("st", "Bavaria", None, "bavaria"),
    ("st", "Nuevo León", "mx", "nuevoleón"),
    # zip codes
    ("zp", "2134", "us", "02134"),  # a numeric column lost the leading zero
    ("zp", Decimal("2134"), "us", "02134"),
    ("zp", 94035, "us", "94035"),
    ("zp", "94035-1234", None, "94035"),
    ("zp", "1000-001", "pt", "1000001"),
    ("zp", "K1A 0B1", "ca", "k1a0b1"),
    ("zp", "SW1A 1AA", None, "sw1a1aa"),
    # countries
    ("country", "Deutschland", None, "de"),
    ("country", "DEU", None, "de"),
    ("country", "Türkiye", None, "tr"),
    ("country", "Turkey", None, "tr"),
    ("country", "Côte d'Ivoire", None, "ci"),
    ("country", "South Korea", None, "kr"),
    ("country", "Korea, Republic of", None, "kr"),
    ("country", "Trinidad & Tobago", None, "tt"),
    ("country", "St. Lucia", None, "lc"),
    ("country", "Russia", None, "ru"),
    ("country", "840", None, "us"),
    ("country", " FR ", None, "fr"),
    # gender
    ("ge", " male ", None, "m"),
    ("ge", "F.", None, "f"),
    ("ge", "Männlich", None, "m"),
    ("ge", "femme", None, "f"),
    # dates of birth
    ("db", date(1997, 2, 16), None, "19970216"),
    ("db", datetime(1997, 2, 16, 13, 5, tzinfo=UTC), None, "19970216"),
    ("db", "1997-02-16T00:00:00Z", None, "19970216"),
    ("db", "1997-02-16 00:00:00", None, "19970216"),
    ("db", "19970216", None, "19970216"),
    ("db", 19970216, None, "19970216"),
    ("db", "02161997", None, "19970216"),
    ("db", "1997/2/16", None, "19970216"),
    ("db", "16.02.1997", None, "19970216"),  # month 16 is impossible: read day-first
    ("db", "Feb 16, 1997", None, "19970216"),
    ("db", "16 February 1997", None, "19970216"),
    ("db", "Sunday, February 16th, 1997", None, "19970216"),
    ("db", "2/16/97", None, "19970216"),
    ("db", "1/2/05", None, "20050102"),
    ("db", "2000-02-29", None, "20000229"),
    # external_id: trimmed, case kept; numbers read as integers
    ("external_id", "  User-42 ", None, "User-42"),
    ("external_id", 12345, None, "12345"),
    ("external_id", 12345.0, None, "12345"),
    ("external_id", Decimal("12345"), None, "12345"),
    # never-hashed keys: trimmed, otherwise as is
    (
        "client_user_agent",
        " Mozilla/5.0 (X11; Linux x86_64) ",
        None,
        "Mozilla/5.0 (X11; Linux x86_64)",
    ),
    ("client_ip_address", " ::ffff:10.0.0.1 ", None, "::ffff:10.0.0.1"),
    (
        "fbc",
        "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMs.Ag",
        None,
        "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMs.Ag",
    ),
    ("fbp", "fb.2.1596403881668.1116446470.AQ", None, "fb.2.1596403881668.1116446470.AQ"),
    ("lead_id", 1234567890123456, None, "1234567890123456"),
    (
        "madid",
        " 38400000-8cf0-11bd-b23e-10b96e40000d ",
        None,
        "38400000-8cf0-11bd-b23e-10b96e40000d",
    ),
]


@pytest.mark.parametrize(("key", "value", "country", "expected"), MESSY)
def test_messy_values(key: str, value: object, country: str | None, expected: str) -> None:
    assert normalize(key, value, country=country) == expected


@pytest.mark.parametrize(
    ("order", "value", "expected"),
    [
        ("mdy", "02/03/1990", "19900203"),
        ("dmy", "02/03/1990", "19900302"),
        ("ymd", "90/03/02", "19900302"),
        ("ymd", "02/03/1990", "19900203"),  # a 4-digit year at the end is no ymd date
        ("dmy", "02031990", "19900302"),
        ("dmy", "1990-03-02", "19900302"),  # ISO is ISO whatever the setting
        ("dmy", "12/31/1990", "19901231"),  # day 31 cannot be a month
    ],
)
def test_date_order_setting(order: str, value: str, expected: str) -> None:
    ctx = NormalizeContext(dob_order=order)  # type: ignore[arg-type]
    assert user_data_value("db", value, ctx, []) == sha(expected)


def test_current_year_bounds_the_year_of_birth() -> None:
    warnings: list[Issue] = []
    ctx_2026 = NormalizeContext(current_year=2026)
    assert user_data_value("db", "2030-01-01", ctx_2026, warnings) is None
    assert user_data_value("db", "2030-01-01", NormalizeContext(current_year=2031), []) == sha(
        "20300101"
    )
    assert [w.code for w in warnings] == ["dob_out_of_range"]


DROPS = [
    ("em", "john smith@gmail.com", None, "email_malformed"),
    ("em", "john@", None, "email_malformed"),
    ("em", "@gmail.com", None, "email_malformed"),
    ("em", "john@gmail", None, "email_malformed"),
    ("em", "a@b@c.com", None, "email_malformed"),
    ("em", "d41d8cd98f00b204e9800998ecf8427e", None, "email_malformed"),  # MD5 is not an email
    ("ph", "abc", "us", "phone_malformed"),
    ("ph", "555-1212", "us", "phone_malformed"),  # no area code: cannot match
    ("ph", "+1 650 555 121", None, "phone_malformed"),
    ("ph", "+999 1234 5678", None, "phone_malformed"),  # no such calling code
    ("ph", "12345", None, "phone_malformed"),
    ("ph", "650-555-1212 / 650-555-1313", "us", "phone_malformed"),
    ("fn", "--", None, "name_malformed"),
    ("fn", "1234", None, "name_malformed"),
    ("ln", "\u0301", None, "name_malformed"),  # a lone combining mark is no name
    ("ct", "12345", None, "city_malformed"),
    ("st", "Calif", "us", "state_unknown"),
    ("st", "Bavaria", "ca", "state_unknown"),
    ("st", "...", "fr", "state_unknown"),
    ("zp", "ABCDE", "us", "zip_malformed"),
    ("zp", "12", "us", "zip_malformed"),
    ("zp", "--", "gb", "zip_malformed"),
    ("country", "Atlantis", None, "country_unknown"),
    ("country", "ZZ", None, "country_unknown"),
    ("ge", "unknown", None, "gender_unknown"),
    ("ge", "x", None, "gender_unknown"),
    ("ge", "1", None, "gender_unknown"),
    ("db", "someday soon", None, "dob_malformed"),
    ("db", "02/30/1990", None, "dob_malformed"),
    ("db", "1999-02-29", None, "dob_malformed"),
    ("db", "13/13/1990", None, "dob_malformed"),
    ("db", "1997", None, "dob_malformed"),
    ("db", "1850-01-01", None, "dob_out_of_range"),
    ("db", date(1899, 12, 31), None, "dob_out_of_range"),
    ("client_ip_address", "256.1.1.1", None, "ip_malformed"),
    ("client_ip_address", "01.2.3.4", None, "ip_malformed"),
    ("client_ip_address", "localhost", None, "ip_malformed"),
    ("fbc", "AbCdEf123", None, "fbc_malformed"),  # a bare fbclid is not an fbc
    ("fbc", "fb.1.AbCdEf.123", None, "fbc_malformed"),
    ("fbp", "fb.1.1596403881668", None, "fbp_malformed"),
    ("fbp", "GA1.1.1596403881.1596403881", None, "fbp_malformed"),
]


@pytest.mark.parametrize(("key", "value", "country", "code"), DROPS)
def test_dropped_values_warn_without_the_value(
    key: str, value: object, country: str | None, code: str
) -> None:
    warnings: list[Issue] = []
    assert user_data_value(key, value, NormalizeContext(country=country), warnings) is None
    assert [(w.code, w.key) for w in warnings] == [(code, key)]
    assert str(value).strip() not in warnings[0].message
    assert normalize(key, value, country=country) is None
    assert hash_value(key, value, country=country) is None


def test_repeated_dropped_values_warn_every_time_despite_the_cache() -> None:
    warnings: list[Issue] = []
    for _ in range(3):
        assert user_data_value("ge", "Unknown", NormalizeContext(), warnings) is None
    assert [w.code for w in warnings] == ["gender_unknown"] * 3


def test_national_phone_without_country_is_kept_as_digits_with_a_warning() -> None:
    warnings: list[Issue] = []
    assert user_data_value("ph", "(650)555-1212", NormalizeContext(), warnings) == sha("6505551212")
    assert [w.code for w in warnings] == ["phone_without_country_code"]
    assert normalize("ph", "06 12 34 56 78") == "612345678"  # leading zero removed too


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "NULL",
        "null",
        "None",
        "N/A",
        "#N/A",
        "nan",
        "NaN",
        "undefined",
        float("nan"),
        Decimal("NaN"),
        [],
        "[]",
    ],
)
def test_missing_values_are_silently_absent(value: object) -> None:
    warnings: list[Issue] = []
    for key in ("em", "fn", "country", "external_id", "client_ip_address"):
        assert user_data_value(key, value, NormalizeContext(), warnings) is None
    assert warnings == []


def test_nan_the_first_name_is_not_a_missing_value() -> None:
    assert normalize("fn", "Nan") == "nan"


def test_lists_json_arrays_and_tuples_are_normalized_deduplicated_in_order() -> None:
    ctx = NormalizeContext(country="us")
    expected = [sha("b@x.com"), sha("a@x.com")]
    for raw in (
        ["B@x.com", "a@x.com", " b@x.com "],
        ("B@x.com", "a@x.com"),
        '["B@x.com", "a@x.com", "b@X.com"]',
        ' ["B@x.com","a@x.com"] ',
    ):
        assert user_data_value("em", raw, ctx, []) == expected


def test_a_list_with_one_valid_value_gives_a_string_and_warns_for_the_rest() -> None:
    warnings: list[Issue] = []
    value = user_data_value(
        "ph",
        ["(650)555-1212", "garbage", None, "+1 650 555 1212"],
        NormalizeContext(country="us"),
        warnings,
    )
    assert value == sha("16505551212")
    assert [w.code for w in warnings] == ["phone_malformed"]


def test_json_arrays_of_cached_keys_warn_on_every_row() -> None:
    for _ in range(2):  # the second call must not come from a cache that lost the warning
        warnings: list[Issue] = []
        value = user_data_value("ge", '["Female", "alien", "F"]', NormalizeContext(), warnings)
        assert value == sha("f")
        assert [w.code for w in warnings] == ["gender_unknown"]
    assert user_data_value("fn", ' ["Mary", "Ann"] ', NormalizeContext(), []) == [
        sha("mary"),
        sha("ann"),
    ]
    assert user_data_value("fn", '["[Mary]"]', NormalizeContext(), []) == sha("mary")  # no nesting


def test_a_string_that_only_looks_like_json_is_one_value() -> None:
    assert user_data_value("fn", "[Mary]", NormalizeContext(), []) == sha("mary")


def test_unhashed_single_value_keys_send_the_first_of_several_with_a_warning() -> None:
    warnings: list[Issue] = []
    value = user_data_value(
        "client_ip_address", ["1.2.3.4", "5.6.7.8"], NormalizeContext(), warnings
    )
    assert value == "1.2.3.4"
    assert [w.code for w in warnings] == ["multiple_values"]


def test_sha256_values_pass_through_lowercased_and_are_never_hashed_twice() -> None:
    digest = sha("john_smith@gmail.com")
    for key in ("em", "ph", "fn", "db", "country", "external_id"):
        assert hash_value(key, digest.upper()) == digest
        assert normalize(key, f"  {digest.upper()} ") == digest
        assert user_data_value(key, digest.upper(), NormalizeContext(), []) == digest


def test_a_32_hex_external_id_is_data_and_gets_hashed() -> None:
    md5_like = "d41d8cd98f00b204e9800998ecf8427e"
    assert hash_value("external_id", md5_like) == sha(md5_like)


def test_external_id_hashing_can_be_turned_off() -> None:
    raw = NormalizeContext(hash_external_id=False)
    assert user_data_value("external_id", " User-42 ", raw, []) == "User-42"
    assert user_data_value("external_id", " User-42 ", NormalizeContext(), []) == sha("User-42")
    assert user_data_value("em", "a@b.co", raw, []) == sha("a@b.co")  # only external_id


def test_unhashed_keys_are_not_hashed() -> None:
    assert hash_value("client_user_agent", " Mozilla/5.0 ") == "Mozilla/5.0"
    assert hash_value("fbc", "fb.1.1554763741205.AbC") == "fb.1.1554763741205.AbC"


def test_every_user_data_key_is_accepted_and_other_keys_are_refused() -> None:
    for key in USER_DATA_KEYS:
        user_data_value(key, "x", NormalizeContext(), [])
    for call in (
        lambda: normalize("currency", "usd"),
        lambda: hash_value("email", "a@b.co"),
        lambda: user_data_value("value", 1, NormalizeContext(), []),
    ):
        with pytest.raises(ValueError, match="not a user_data key"):
            call()


def test_normalize_country_for_the_row_context() -> None:
    assert normalize_country(" United Kingdom ") == "gb"
    assert normalize_country("usa") == "us"
    assert normalize_country("Narnia") is None
    assert normalize_country(None) is None
    assert normalize_country("") is None


def test_the_row_country_changes_phone_state_and_zip_results() -> None:
    assert user_data_value("ph", "0612345678", NormalizeContext(country="fr"), []) == sha(
        "33612345678"
    )
    assert user_data_value("ph", "0612345678", NormalizeContext(country="nl"), []) == sha(
        "31612345678"
    )
    assert user_data_value("zp", "2134", NormalizeContext(country="us"), []) == sha("02134")
    assert user_data_value("zp", "2134", NormalizeContext(country="au"), []) == sha("2134")
    warnings: list[Issue] = []
    assert user_data_value("st", "Bavaria", NormalizeContext(country="us"), warnings) is None
    assert user_data_value("st", "Bavaria", NormalizeContext(country="de"), []) == sha("bavaria")
    assert [w.code for w in warnings] == ["state_unknown"]


def test_caches_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(normalize_module, "CACHE_LIMIT", 50)
    cache = normalize_module._SPECS["ct"].cache
    for i in range(500):
        assert user_data_value("ct", f"City {chr(0x4E00 + i)}", NormalizeContext(), []) is not None
        assert len(cache) <= 50


def test_value_dropped_carries_a_safe_issue() -> None:
    error = dropped("em", "email_malformed")
    assert isinstance(error, ValueDropped)
    assert error.issue.key == "em" and error.issue.code == "email_malformed"
    assert str(error) == error.issue.message


def test_bytes_and_odd_objects_do_not_crash() -> None:
    assert normalize("fn", b"Mary") == "mary"
    assert normalize("em", {"not": "an email"}) is None
    assert normalize("ge", True) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("¹/2/1990", "19900102"), ("1990-¹-2", "19900102"), ("Feb ², 1990", "19900202")],
)
def test_superscript_digits_in_a_birth_date_read_as_digits_never_raise(
    text: str, expected: str
) -> None:
    # int() refused them (found by hypothesis); compatibility forms (NFKC) make them digits
    warnings: list[Issue] = []
    wire = user_data_value("db", text, NormalizeContext(), warnings)
    assert (normalize("db", text), warnings) == (expected, [])
    assert wire == hash_value("db", expected)


# Spec section 3, "Unicode": compatibility forms and dash look-alikes are normalized before
# the rules apply wherever Meta's canonical form is ASCII; names and cities keep their
# letters in NFC and fold only width (and Arabic positional forms).
UNICODE_FORMS = [
    ("ph", "650–555–1212", "us", "16505551212"),  # the issue's example: en dashes
    ("ph", "650—555—1212", "us", "16505551212"),  # em dash
    ("ph", "650‐555‐1212", "us", "16505551212"),  # U+2010 hyphen
    ("ph", "650\u2011555\u20111212", "us", "16505551212"),  # non-breaking hyphen
    ("ph", "650−555−1212", "us", "16505551212"),  # U+2212 minus sign
    ("ph", "650﹘555﹘1212", "us", "16505551212"),  # U+FE58 small em dash
    ("ph", "650﹣555﹣1212", "us", "16505551212"),  # U+FE63 small hyphen-minus
    ("ph", "650－555－1212", "us", "16505551212"),  # U+FF0D full-width hyphen-minus
    ("ph", "６５０－５５５－１２１２", "us", "16505551212"),  # full-width digits
    ("ph", "(６５０) ５５５‐１２１２", "us", "16505551212"),
    ("ph", "＋１ ６５０ ５５５ １２１２", None, "16505551212"),  # full-width plus
    ("ph", "+1\u00a0650\u00a0555\u00a01212", None, "16505551212"),  # no-break spaces
    ("ph", "650\u2007555\u202f1212", "us", "16505551212"),  # figure, narrow no-break space
    ("ph", "650\u3000555\u30001212", "us", "16505551212"),  # ideographic space
    ("ph", "\u200b650-555-1212\ufeff", "us", "16505551212"),  # zero-width space, BOM
    ("ph", "+44\u00a0(0)20\u00a07946\u00a00958", None, "442079460958"),
    ("ph", "０９０ー１２３４ー５６７８", "jp", "819012345678"),  # the kana-mode "-"
    ("ph", "090ｰ1234ｰ5678", "jp", "819012345678"),  # its half-width form
    ("ph", "٠٦ ١٢ ٣٤ ٥٦ ٧٨", "fr", "33612345678"),  # Arabic-Indic digits
    ("zp", "１２３４５", "us", "12345"),  # the spec's example
    ("zp", "94035–1234", "us", "94035"),
    ("zp", "９４０３５－１２３４", "us", "94035"),
    ("zp", "٩٤٠٣٥", "us", "94035"),
    ("zp", "〒１００ー０００１", "jp", "1000001"),
    ("zp", "Ｍ１\u3000１ＡＥ", "gb", "m11ae"),
    ("zp", "SW1A\u00a01AA", "gb", "sw1a1aa"),
    ("zp", "1000\u2011001", "pt", "1000001"),
    ("db", "１９９７－０２－１６", None, "19970216"),
    ("db", "1997–02–16", None, "19970216"),
    ("db", "1997−02−16", None, "19970216"),
    ("db", "２/１６/１９９７", None, "19970216"),
    ("db", "１９９７０２１６", None, "19970216"),
    ("db", "16‐02‐1997", None, "19970216"),
    ("db", "1997ー02ー16", None, "19970216"),
    ("em", "ｊｏｈｎ＿ｓｍｉｔｈ＠ｇｍａｉｌ．ｃｏｍ", None, "john_smith@gmail.com"),
    ("em", "john_smith@gmail。com", None, "john_smith@gmail.com"),  # ideographic full stop
    ("em", "\ufeffjohn_smith@gmail.com", None, "john_smith@gmail.com"),
    ("em", "john_smith\u00ad@gmail.com", None, "john_smith@gmail.com"),  # soft hyphen
    ("em", "mary–ann@example.com", None, "mary-ann@example.com"),
    ("em", "a\u00a0b@example.com", None, None),  # a space inside is still no address
    ("em", "ann\x00@example.com", None, None),  # nor a control character
    ("fn", "ＪＯＨＮ", None, "john"),
    ("fn", "ﾔﾏﾀﾞ", None, "ヤマダ"),  # half-width katakana, voiced mark composed
    ("fn", "ﻣﺤﻤﺪ", None, "محمد"),  # Arabic positional forms
    ("fn", "Mary–Ann", None, "maryann"),
    ("fn", "Mary\u00a0Ann", None, "maryann"),
    ("fn", "ﬁona", None, "ﬁona"),  # a ligature is kept as written (NFC, not NFKC)
    ("ln", "O’Brien", None, "obrien"),
    ("ct", "ＳＡＮ\u3000ＦＲＡＮＣＩＳＣＯ", None, "sanfrancisco"),
    ("ct", "Winston–Salem", None, "winstonsalem"),
    ("ct", "ﾄｳｷｮｳ", None, "トウキョウ"),
    ("st", "ＣＡ", "us", "ca"),
    ("st", "US–CA", "us", "ca"),
    ("st", "Ｃａｌｉｆｏｒｎｉａ", None, "ca"),
    ("st", "ＢＣ", "ca", "bc"),
    ("st", "Île\u2011de\u2011France", "fr", "îledefrance"),
    ("country", "ＵＳ", None, "us"),
    ("country", "Ｕ．Ｓ．Ａ．", None, "us"),
    ("country", "\u200bFR", None, "fr"),
    ("country", "Guinea–Bissau", None, "gw"),
    ("country", "Ｔｒｉｎｉｄａｄ ＆ Ｔｏｂａｇｏ", None, "tt"),
    ("ge", "Ｆ", None, "f"),
    ("ge", "ｍａｌｅ", None, "m"),
    ("ge", "\u00a0female\u3000", None, "f"),
    ("client_ip_address", "１９２．０．２．１", None, "192.0.2.1"),
    ("client_ip_address", "2001：db8：：1", None, "2001:db8::1"),
    ("external_id", "ＡＢＣ－１", None, "ＡＢＣ－１"),  # your own ID: as the pixel sends it
]


@pytest.mark.parametrize(("key", "raw", "country", "expected"), UNICODE_FORMS)
def test_compatibility_forms_and_dash_lookalikes(
    key: str, raw: str, country: str | None, expected: str | None
) -> None:
    assert normalize(key, raw, country=country) == expected
    wire = hash_value(key, raw, country=country)
    if expected is None:
        assert wire is None
    elif key == "client_ip_address":
        assert wire == expected
    else:
        assert wire == sha(expected)
        assert normalize(key, expected, country=country) == expected  # idempotent


def _every(category: str) -> list[str]:
    return [c for c in map(chr, range(sys.maxunicode + 1)) if unicodedata.category(c) == category]


def test_every_unicode_dash_and_minus_sign_is_a_separator() -> None:
    dashes = _every("Pd") + list(MINUS_SIGNS) + list(NUMERIC_DASHES)
    assert len(dashes) > 30
    for dash in dashes:
        assert normalize("ph", f"650{dash}555{dash}1212", country="us") == "16505551212", dash
        assert normalize("zp", f"94035{dash}1234", country="us") == "94035", dash
        assert normalize("db", f"1997{dash}02{dash}16") == "19970216", dash


def test_every_unicode_space_separates_and_every_script_s_digits_read() -> None:
    for space in _every("Zs") + ["\u2028", "\u2029"]:
        assert normalize("ph", f"650{space}555{space}1212", country="us") == "16505551212"
        assert normalize("zp", f"M1{space}1AE", country="gb") == "m11ae"
    zeros = [c for c in _every("Nd") if unicodedata.decimal(c) == 0]
    assert len(zeros) > 50
    for zero in zeros:
        digits = "".join(chr(ord(zero) + int(d)) for d in "6505551212")
        assert normalize("ph", digits, country="us") == "16505551212", zero
        assert normalize("zp", digits[:5], country="us") == "65055", zero
