"""Differential test against Meta's official Python SDK (facebook-business).

A generated corpus of messy values runs through `Normalize.normalize_field_skip_hashing` (the
SDK's normalizer) and through ours. Where both agree, fine. Where they differ, one of the
documented differences in DIFFERENCES must explain it: each names the Meta rule we follow,
holds an example whose SDK and our outputs are asserted exactly, and has a predicate that
recognizes its kind of difference in the corpus. docs/sdk-differences.md lists the same rules.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
import pytest
from facebook_business.adobjects.serverside.normalize import Normalize
from facebook_business.adobjects.serverside.user_data import UserData
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from capisync.capi.normalize import NormalizeContext, hash_value, normalize, user_data_value

SDK_RAISES = "<raises>"
DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk-differences.md"
PLACEHOLDERS = {"null", "none", "n/a", "#n/a", "undefined", "nan"}


def sdk_normalize(key: str, value: str) -> str | None:
    try:
        return Normalize.normalize_field_skip_hashing(key, value)
    except (TypeError, ValueError):
        return SDK_RAISES


@dataclass(frozen=True)
class Case:
    key: str
    value: str
    country: str | None = None


def letters_only(text: str) -> str:
    """Letters (any script) and their marks, NFC: Meta's "lowercase, no punctuation"."""
    kept = "".join(
        c for c in unicodedata.normalize("NFC", text) if unicodedata.category(c)[0] in "LM"
    )
    return unicodedata.normalize("NFC", kept)


def e164_digits(value: str, country: str | None) -> str | None:
    """libphonenumber's reading of a number: the country-code form Meta asks for."""
    try:
        number = phonenumbers.parse(value, country.upper() if country else None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]


def is_md5(text: object) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[0-9a-f]{32}", text) is not None


Explains = Callable[[Case, str | None, str | None], bool]


@dataclass(frozen=True)
class Difference:
    rule: str  # id, also named in docs/sdk-differences.md
    keys: tuple[str, ...]  # the example runs with the first; "*" means every key
    example: str
    country: str | None
    sdk: str | None  # the SDK's output for the example (SDK_RAISES when it raises)
    ours: str | None  # our normalize() output for the example
    documented_rule: str  # the rule from Meta's docs (or the spec) that we follow
    explains: Explains


def _placeholder(case: Case, sdk: str | None, ours: str | None) -> bool:
    return ours is None and case.value.strip().lower() in PLACEHOLDERS


def _phone_country_code(case: Case, sdk: str | None, ours: str | None) -> bool:
    return (
        case.country is not None
        and sdk != SDK_RAISES
        and ours is not None
        and ours == e164_digits(case.value, case.country)
    )


def _trunk_zero_after_code(case: Case, sdk: str | None, ours: str | None) -> bool:
    return (
        sdk not in (None, SDK_RAISES)
        and ours is not None
        and any(sdk == ours[:k] + "0" + ours[k:] for k in (1, 2, 3))
    )


def _international_prefix(case: Case, sdk: str | None, ours: str | None) -> bool:
    region = phonenumbers.PhoneMetadata.metadata_for_region((case.country or "").upper())
    digits = re.sub(r"\D", "", case.value)
    return (
        region is not None
        and ours is not None
        and re.match(region.international_prefix, digits) is not None
        and digits.endswith(ours)
    )


def _sdk_raises_we_keep(case: Case, sdk: str | None, ours: str | None) -> bool:
    return sdk == SDK_RAISES and ours is not None


def _sdk_raises_we_drop(case: Case, sdk: str | None, ours: str | None) -> bool:
    return sdk == SDK_RAISES and ours is None


def _sdk_keeps_we_drop(case: Case, sdk: str | None, ours: str | None) -> bool:
    return sdk not in (None, SDK_RAISES) and ours is None


def _md5_passthrough(case: Case, sdk: str | None, ours: str | None) -> bool:
    return is_md5(sdk) and ours != sdk


def _punctuation_removed(case: Case, sdk: str | None, ours: str | None) -> bool:
    return sdk not in (None, SDK_RAISES) and ours == letters_only(sdk) and ours != ""


def _nothing_left(case: Case, sdk: str | None, ours: str | None) -> bool:
    return sdk not in (None, SDK_RAISES) and ours is None and letters_only(sdk) == ""


def _state_code(case: Case, sdk: str | None, ours: str | None) -> bool:
    return (
        case.country in (None, "us", "ca")
        and ours is not None
        and re.fullmatch(r"[a-z]{2}", ours) is not None
        and sdk != ours
    )


def _us_zip_five(case: Case, sdk: str | None, ours: str | None) -> bool:
    digits = re.sub(r"\D", "", sdk or "")
    return (
        case.country in ("us", None)
        and ours is not None
        and ours == digits.zfill(9 if len(digits) > 5 else 5)[:5]
    )


def _zip_no_dash(case: Case, sdk: str | None, ours: str | None) -> bool:
    alnum = re.sub(r"[\W_]", "", case.value.lower())
    return case.country != "us" and ours == alnum and sdk != ours


def _date_reformatted(case: Case, sdk: str | None, ours: str | None) -> bool:
    return ours is not None and re.fullmatch(r"\d{8}", ours) is not None and sdk != ours


def _gender_initial(case: Case, sdk: str | None, ours: str | None) -> bool:
    return ours in ("f", "m") and sdk != ours


def _case_kept(case: Case, sdk: str | None, ours: str | None) -> bool:
    return ours is not None and sdk == ours.lower() and ours == case.value.strip()


def _nfc(case: Case, sdk: str | None, ours: str | None) -> bool:
    return sdk not in (None, SDK_RAISES) and ours == unicodedata.normalize("NFC", sdk)


# Unicode look-alikes of ASCII (spec section 3), written out here independently of
# capisync.capi.textforms: every dash of category Pd, the minus signs and the katakana
# prolonged sound mark (a "-" typed in kana mode); digits of any script.
DASHLIKE = "\u2212\u02d7\u2796\u30fc\uff70"


def _dashes_as_hyphens(text: str) -> str:
    return "".join("-" if unicodedata.category(c) == "Pd" or c in DASHLIKE else c for c in text)


def _compatibility_twin(text: str) -> str:
    """The ASCII a value shows: NFKC, digits of any script as ASCII, format characters out."""
    folded = unicodedata.normalize("NFKC", _dashes_as_hyphens(text))
    return "".join(
        str(unicodedata.decimal(c)) if unicodedata.category(c) == "Nd" else c
        for c in folded
        if unicodedata.category(c) != "Cf"
    )


def _compatibility_form(case: Case, sdk: str | None, ours: str | None) -> bool:
    twin = _compatibility_twin(case.value)
    return (
        ours is not None
        and sdk != ours
        and twin != case.value
        and ours == normalize(case.key, twin, country=case.country)
    )


def _dash_lookalike(case: Case, sdk: str | None, ours: str | None) -> bool:
    twin = _dashes_as_hyphens(case.value)
    return (
        ours is not None
        and sdk != ours
        and twin != case.value
        and ours == normalize(case.key, twin, country=case.country)
    )


def _width_folded(case: Case, sdk: str | None, ours: str | None) -> bool:
    return (
        sdk not in (None, SDK_RAISES)
        and ours != sdk
        and ours == letters_only(unicodedata.normalize("NFKC", sdk))
    )


DIFFERENCES: list[Difference] = [
    Difference(
        "placeholder",
        ("*",),
        "N/A",
        None,
        "n/a",
        None,
        "A missing value is not data: NULL, None, N/A, #N/A, NaN, undefined are left "
        "out instead of hashed (the SDK hashes 'n/a' as a name and reads it as Namibia "
        "for country).",
        _placeholder,
    ),
    Difference(
        "em-invalid",
        ("em",),
        "not-an-email",
        None,
        SDK_RAISES,
        None,
        "em must be an address; a bad one is dropped with the warning email_malformed "
        "instead of raising and losing the whole event.",
        _sdk_raises_we_drop,
    ),
    Difference(
        "em-stricter",
        ("em",),
        "john smith@gmail.com",
        None,
        "john smith@gmail.com",
        None,
        "Trim and lowercase: an address with inner spaces, two @ or brackets cannot "
        "match; the SDK's check (.+@.+\\..+) lets it through.",
        _sdk_keeps_we_drop,
    ),
    Difference(
        "em-md5",
        ("em",),
        "D41D8CD98F00B204E9800998ECF8427E",
        None,
        "d41d8cd98f00b204e9800998ecf8427e",
        None,
        "Only SHA-256 hashes are accepted pre-hashed; the SDK also passes any 32-hex "
        "string through as if it were MD5.",
        _md5_passthrough,
    ),
    Difference(
        "em-nfc",
        ("em",),
        "E\u0301lodie@exemple.fr",
        None,
        "e\u0301lodie@exemple.fr",
        "élodie@exemple.fr",
        "Special characters must be UTF-8: we also compose them (NFC) so the same "
        "address always hashes the same.",
        _nfc,
    ),
    Difference(
        "ph-country-code",
        ("ph",),
        "(650)555-1212",
        "us",
        "6505551212",
        "16505551212",
        "Phone numbers must include a country code; a national number gets the row's "
        "(or the sync's default) country code and loses its trunk prefix, read with "
        "phonenumbers' metadata. The SDK never adds a country code.",
        _phone_country_code,
    ),
    Difference(
        "ph-trunk-zero",
        ("ph",),
        "+44 (0)20 7946 0958",
        None,
        "4402079460958",
        "442079460958",
        "Remove leading zeros: the (0) written after a country code is the trunk prefix, "
        "not part of the number.",
        _trunk_zero_after_code,
    ),
    Difference(
        "ph-international-prefix",
        ("ph",),
        "011 44 20 7946 0958",
        "us",
        "11442079460958",
        "442079460958",
        "Digits with the country code: 011 (the US exit code, 00 in most countries) announces one.",
        _international_prefix,
    ),
    Difference(
        "ph-symbols",
        ("ph",),
        "650.555.1212 ext. 42",
        "us",
        SDK_RAISES,
        "16505551212",
        "Remove symbols and letters: dots, slashes and an extension are dropped; the "
        "SDK raises on anything but spaces, dashes and parentheses.",
        _sdk_raises_we_keep,
    ),
    Difference(
        "ph-unusable",
        ("ph",),
        "abc",
        None,
        SDK_RAISES,
        None,
        "A value with no phone number in it is dropped with phone_malformed instead of raising.",
        _sdk_raises_we_drop,
    ),
    Difference(
        "ph-impossible",
        ("ph",),
        "+1 650 555 1212 123456789",
        None,
        "16505551212123456789",
        None,
        "A number Meta can match has a possible length for its country (E.164: at most "
        "15 digits); others are dropped with phone_malformed.",
        _sdk_keeps_we_drop,
    ),
    Difference(
        "name-punctuation",
        ("fn", "ln"),
        " Mary-Ann ",
        None,
        "mary-ann",
        "maryann",
        "fn/ln: lowercase only with no punctuation (spec: no whitespace); letters of "
        "any script kept, UTF-8 NFC. The SDK only lowercases and trims.",
        _punctuation_removed,
    ),
    Difference(
        "name-empty",
        ("ln", "fn"),
        "--",
        None,
        "--",
        None,
        "A name with no letters is dropped (name_malformed) rather than hashed.",
        _nothing_left,
    ),
    Difference(
        "name-md5",
        ("fn", "ln"),
        "d41d8cd98f00b204e9800998ecf8427e",
        None,
        "d41d8cd98f00b204e9800998ecf8427e",
        "ddcdfbeecfe",
        "Only 64-hex values count as hashed; a 32-hex string is data.",
        _md5_passthrough,
    ),
    Difference(
        "city-punctuation",
        ("ct",),
        "Coeur d'Alene",
        None,
        "coeurd'alene",
        "coeurdalene",
        "ct: lowercase with no punctuation, no special characters and no spaces; the "
        "SDK removes only digits, spaces, dots, dashes and parentheses.",
        _punctuation_removed,
    ),
    Difference(
        "city-empty",
        ("ct",),
        "#",
        None,
        "#",
        None,
        "A city with no letters is dropped (city_malformed).",
        _nothing_left,
    ),
    Difference(
        "state-code",
        ("st",),
        "California",
        None,
        "california",
        "ca",
        "st: the 2-character ANSI abbreviation code in lowercase for US states (and "
        "Canadian provinces); the SDK sends the full name.",
        _state_code,
    ),
    Difference(
        "state-unknown",
        ("st",),
        "Calif",
        "us",
        "calif",
        None,
        "A US/Canadian state we cannot place is dropped (state_unknown): a non-code cannot match.",
        _sdk_keeps_we_drop,
    ),
    Difference(
        "state-punctuation",
        ("st",),
        "Nuevo León/NL",
        "mx",
        "nuevoleón/nl",
        "nuevoleónnl",
        "Outside the US: lowercase with no punctuation, special characters or spaces.",
        _punctuation_removed,
    ),
    Difference(
        "zip-us-five",
        ("zp",),
        "940351234",
        "us",
        "940351234",
        "94035",
        "zp: only the first 5 digits for US zip codes (a numeric column's lost leading "
        "zero comes back: 2134 -> 02134).",
        _us_zip_five,
    ),
    Difference(
        "zip-no-dash",
        ("zp",),
        "1000-001",
        "pt",
        "1000",
        "1000001",
        "zp: lowercase with no spaces and no dash; only a US ZIP+4 is cut. The SDK cuts "
        "every postal code at its first dash.",
        _zip_no_dash,
    ),
    Difference(
        "zip-malformed",
        ("zp",),
        "ABCDE",
        "us",
        "abcde",
        None,
        "A US zip code has digits; anything else is dropped (zip_malformed).",
        _sdk_keeps_we_drop,
    ),
    Difference(
        "country-name",
        ("country",),
        "United States",
        None,
        SDK_RAISES,
        "us",
        "country: ISO 3166-1 alpha-2 lowercase; names, alpha-3 codes and common aliases "
        "(USA, UK, Great Britain) are mapped. The SDK raises on anything but a code.",
        _sdk_raises_we_keep,
    ),
    Difference(
        "country-unknown",
        ("country",),
        "Atlantis",
        None,
        SDK_RAISES,
        None,
        "An unknown country is dropped with country_unknown instead of raising.",
        _sdk_raises_we_drop,
    ),
    Difference(
        "dob-format",
        ("db",),
        "2/16/1997",
        None,
        "2/16/1997",
        "19970216",
        "db: YYYYMMDD from a range of month/day/year forms; the SDK hashes the text as given.",
        _date_reformatted,
    ),
    Difference(
        "dob-invalid",
        ("db",),
        "02/30/1990",
        None,
        "02/30/1990",
        None,
        "Year 1900 to the current year, month 01-12, day 01-31 of a real date; others "
        "are dropped (dob_malformed, dob_out_of_range).",
        _sdk_keeps_we_drop,
    ),
    Difference(
        "gender-initial",
        ("ge",),
        "Female",
        None,
        "female",
        "f",
        "ge: an initial in lowercase, f or m. (The SDK's UserData takes a Gender enum; "
        "its normalizer only lowercases.)",
        _gender_initial,
    ),
    Difference(
        "gender-unknown",
        ("ge",),
        "unknown",
        None,
        "unknown",
        None,
        "Anything that is not female or male is dropped (gender_unknown).",
        _sdk_keeps_we_drop,
    ),
    Difference(
        "unicode-dash",
        ("ph", "zp", "db", "em", "st"),
        "650\u2013555\u20131212",
        "us",
        SDK_RAISES,
        "16505551212",
        "Spec section 3 (Unicode): every dash look-alike (Unicode category Pd: en and em "
        "dash, non-breaking hyphen, full-width hyphen...; the minus signs) is a '-' where "
        "Meta's canonical form is ASCII. The SDK raises on the phone and hashes other keys "
        "with the dash.",
        _dash_lookalike,
    ),
    Difference(
        "unicode-compat",
        ("zp", "ph", "db", "em", "st", "country", "ge"),
        "\uff11\uff12\uff13\uff14\uff15",
        "us",
        "\uff11\uff12\uff13\uff14\uff15",
        "12345",
        "Spec section 3 (Unicode): compatibility forms (NFKC: full-width digits and "
        "letters, no-break and ideographic spaces), digits of any script and invisible "
        "format characters are read as the ASCII they show where Meta's canonical form is "
        "ASCII; the SDK hashes the full-width digits.",
        _compatibility_form,
    ),
    Difference(
        "unicode-width-names",
        ("fn", "ln", "ct"),
        "\uff2a\uff2f\uff28\uff2e",
        None,
        "\uff4a\uff4f\uff48\uff4e",
        "john",
        "fn/ln/ct keep letters of any script in NFC; full-width and half-width forms (and "
        "Arabic positional forms) are only another width or shape of a letter, so they are "
        "folded: JOHN typed full-width is john. Other compatibility characters (a ligature "
        "such as the fi of a PDF) are kept as written, as the SDK does.",
        _width_folded,
    ),
    Difference(
        "external-id-case",
        ("external_id",),
        " User-42 ",
        None,
        "user-42",
        "User-42",
        "external_id: same format as on the other channels (pixel, offline), so trimmed "
        "only. Normalize lowercases it; the SDK's UserData sends it raw (next table).",
        _case_kept,
    ),
]


def _corpus_rng() -> random.Random:
    return random.Random(20260712)


def _messy_case(rng: random.Random, text: str) -> str:
    style = rng.choice([str.lower, str.upper, str.title, str, str.swapcase])
    pad = rng.choice(["", " ", "  ", "\t", " \n"])
    return pad + style(text) + rng.choice(["", " ", "  "])


def _email_corpus(rng: random.Random) -> list[Case]:
    users = ["john_smith", "Mary.Ann", "o'neil", "élodie", "a+tag", "x", "user123"]
    domains = ["gmail.com", "Example.CO.uk", "mail.example.org", "exemple.fr"]
    cases = [
        Case("em", _messy_case(rng, f"{rng.choice(users)}@{rng.choice(domains)}"))
        for _ in range(200)
    ]
    broken = [
        "john smith@gmail.com",
        "john@",
        "@gmail.com",
        "john@gmail",
        "a@b@c.com",
        "<john@x.com>",
        "john@x.com.",
        "null",
        "N/A",
        "not-an-email",
        "E\u0301lodie@x.fr",
    ]
    cases += [Case("em", v) for v in broken]
    cases += [Case("em", hashlib.md5(str(i).encode()).hexdigest().upper()) for i in range(5)]
    return cases


PHONE_REGIONS = [
    "US",
    "GB",
    "FR",
    "DE",
    "IT",
    "ES",
    "NL",
    "BR",
    "MX",
    "IN",
    "JP",
    "AU",
    "CA",
    "RU",
    "AR",
    "ZA",
    "NG",
    "PH",
    "KR",
    "SE",
    "PL",
    "TR",
]


def _phone_text(rng: random.Random, region: str) -> str:
    kind = rng.choice([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE])
    number = phonenumbers.example_number_for_type(region, kind)
    number.national_number = int(str(number.national_number)[:-3] + f"{rng.randrange(1000):03d}")
    style = rng.choice(
        [PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164]
    )
    text = phonenumbers.format_number(number, style)
    twist = rng.random()
    if twist < 0.15:
        text = text.replace("+", "00")
    elif twist < 0.3:
        text = text.replace(" ", "").replace("-", "")
    elif twist < 0.4:
        text = text.replace(" ", ".").replace("-", ".")
    elif twist < 0.5:
        text += rng.choice([" ext. 12", " x7", " (mobile)"])
    return text


def _phone_corpus(rng: random.Random) -> list[Case]:
    cases = []
    for _ in range(300):
        region = rng.choice(PHONE_REGIONS)
        country = rng.choice([region.lower(), region.lower(), None])
        cases.append(Case("ph", _phone_text(rng, region), country))
    odd = [
        ("+44 (0)20 7946 0958", None),
        ("011 44 20 7946 0958", "us"),
        ("555-1212", "us"),
        ("+1 650 555 1212 123456789", None),
        ("abc", None),
        ("null", "us"),
        ("1-650-555-1212", "us"),
        ("+39 (0)6 1234 5678", None),
    ]
    return cases + [Case("ph", v, c) for v, c in odd]


NAMES = [
    "Mary",
    "Mary-Ann",
    "O'Brien",
    "Valéry",
    "정",
    "Jean Luc",
    "Smith Jr.",
    "Zoë",
    "Дмитриев",
    "d'Artagnan",
    "McDonald",
    "Nguyễn",
    "Müller",
    "José María",
    "Anne-Marie 2",
    "--",
    "null",
    "N/A",
]
CITIES = [
    "St. Louis",
    "New York",
    "Winston-Salem",
    "Coeur d'Alene",
    "São Paulo",
    "Paris",
    "London",
    "Saint-Étienne",
    "Washington, D.C.",
    "Köln",
    "東京",
    "#",
    "Fort Worth/Dallas",
]
STATES = [
    ("California", None),
    ("CA", "us"),
    ("new york", None),
    ("Texas", "us"),
    ("Québec", "ca"),
    ("ON", "ca"),
    ("Calif", "us"),
    ("Bavaria", "de"),
    ("Île-de-France", "fr"),
    ("Nuevo León/NL", "mx"),
    ("N.Y.", "us"),
    ("tx", None),
    ("Washington DC", "us"),
    ("Puerto Rico", "us"),
]
ZIPS = [
    ("94035", "us"),
    ("94035-1234", "us"),
    ("940351234", "us"),
    ("2134", "us"),
    ("M1 1AE", "gb"),
    ("SW1A 1AA", "gb"),
    ("K1A 0B1", "ca"),
    ("75018", "fr"),
    ("1987", "au"),
    ("1000-001", "pt"),
    ("100-0001", "jp"),
    ("01310-100", "br"),
    ("ABCDE", "us"),
    ("94035", None),
]
COUNTRIES = [
    "us",
    "US",
    "United States",
    "USA",
    "U.S.",
    "UK",
    "Great Britain",
    "France",
    "fr",
    "DEU",
    "Germany",
    "Deutschland",
    "Korea, Republic of",
    "Türkiye",
    "Atlantis",
    "gb",
    "N/A",
    "Côte d'Ivoire",
    "Viet Nam",
    "mx",
]
GENDERS = ["f", "m", "F", "M", "Female", "male", "Woman", "man", "unknown", "x", "FEMALE "]
EXTERNAL_IDS = ["user-42", "User-42", "  ABC123 ", "12345", "d41d8cd98f00b204e9800998ecf8427e"]


def _dob_text(rng: random.Random) -> str:
    year, month, day = rng.randrange(1930, 2010), rng.randrange(1, 13), rng.randrange(1, 29)
    forms = [
        f"{month}/{day}/{year}",
        f"{year}-{month:02d}-{day:02d}",
        f"{year}{month:02d}{day:02d}",
        f"{month:02d}/{day:02d}/{year}",
        f"{year}-{month:02d}-{day:02d}T00:00:00Z",
        f"{year}/{month}/{day}",
        "02/30/1990",
        "1850-01-01",
        "someday",
    ]
    return rng.choice(forms)


def _word_corpus(rng: random.Random, key: str, words: list[str], n: int) -> list[Case]:
    return [Case(key, _messy_case(rng, rng.choice(words))) for _ in range(n)]


UNICODE_DASHES = ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d"]
UNICODE_SPACES = ["\u00a0", "\u2007", "\u202f", "\u3000"]


def _lookalike(rng: random.Random, text: str) -> str:
    """``text`` as a phone or an East Asian input method may type it: full-width
    characters (or not), any dash for '-', any space for ' '."""
    full_width = rng.random() < 0.5
    out = []
    for char in text:
        if char == "-":
            out.append(rng.choice(UNICODE_DASHES))
        elif char == " ":
            out.append(rng.choice(UNICODE_SPACES))
        elif full_width and "!" <= char <= "~":
            out.append(chr(ord(char) + 0xFEE0))
        else:
            out.append(char)
    return "".join(out)


def _unicode_corpus(rng: random.Random) -> list[Case]:
    cases = []
    for _ in range(60):
        region = rng.choice(PHONE_REGIONS)
        text = _phone_text(rng, region).replace(".", "-")
        cases.append(Case("ph", _lookalike(rng, text), region.lower()))
    cases += [Case("zp", _lookalike(rng, v), c) for v, c in rng.choices(ZIPS, k=40)]
    cases += [Case("db", _lookalike(rng, _dob_text(rng))) for _ in range(40)]
    for key, words in (("fn", NAMES), ("ln", NAMES), ("ct", CITIES), ("ge", GENDERS)):
        cases += [Case(key, _lookalike(rng, rng.choice(words))) for _ in range(30)]
    cases += [Case("country", _lookalike(rng, rng.choice(COUNTRIES))) for _ in range(30)]
    cases += [Case("st", _lookalike(rng, v), c) for v, c in rng.choices(STATES, k=30)]
    emails = ["john_smith@gmail.com", "mary-ann@example.com", "a+tag@mail.example.org"]
    cases += [Case("em", _lookalike(rng, rng.choice(emails))) for _ in range(30)]
    return cases


def corpus() -> list[Case]:
    rng = _corpus_rng()
    cases = _email_corpus(rng) + _phone_corpus(rng)
    cases += _word_corpus(rng, "fn", NAMES, 200) + _word_corpus(rng, "ln", NAMES, 200)
    cases += _word_corpus(rng, "ct", CITIES, 200)
    cases += [Case("st", _messy_case(rng, v), c) for v, c in rng.choices(STATES, k=200)]
    cases += [Case("zp", _messy_case(rng, v), c) for v, c in rng.choices(ZIPS, k=200)]
    cases += _word_corpus(rng, "country", COUNTRIES, 200)
    cases += [Case("db", _dob_text(rng)) for _ in range(200)]
    cases += _word_corpus(rng, "ge", GENDERS, 200)
    cases += [Case("external_id", rng.choice(EXTERNAL_IDS)) for _ in range(100)]
    cases += [Case("fn", hashlib.md5(str(i).encode()).hexdigest()) for i in range(5)]
    cases += [
        Case(k, "".join(rng.choices(string.printable, k=12)))
        for k in ("fn", "ct", "zp")
        for _ in range(20)
    ]
    return cases + _unicode_corpus(rng)


def _explanations(case: Case, sdk: str | None, ours: str | None) -> list[str]:
    return [
        d.rule
        for d in DIFFERENCES
        if (case.key in d.keys or "*" in d.keys) and d.explains(case, sdk, ours)
    ]


@pytest.mark.parametrize("difference", DIFFERENCES, ids=lambda d: d.rule)
def test_each_documented_difference_holds(difference: Difference) -> None:
    key = "fn" if difference.keys == ("*",) else difference.keys[0]
    case = Case(key, difference.example, difference.country)
    sdk = sdk_normalize(key, difference.example)
    ours = normalize(key, difference.example, country=difference.country)
    assert (sdk, ours) == (difference.sdk, difference.ours)
    assert difference.rule in _explanations(case, sdk, ours)


def test_every_difference_on_the_corpus_is_a_documented_one() -> None:
    agreed: Counter[str] = Counter()
    explained: Counter[str] = Counter()
    unexplained = []
    for case in corpus():
        sdk = sdk_normalize(case.key, case.value)
        ours = normalize(case.key, case.value, country=case.country)
        if sdk == ours:
            agreed[case.key] += 1
            continue
        rules = _explanations(case, sdk, ours)
        explained.update(rules)
        if not rules:
            unexplained.append((case, sdk, ours))
    assert unexplained == []
    assert set(explained) == {d.rule for d in DIFFERENCES}, "a rule the corpus never exercises"
    for key in ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "db", "ge", "external_id"):
        assert agreed[key] > 0, f"no agreement at all on {key}"


CLEAN = [
    ("em", "john_smith@gmail.com"),
    ("ph", "16505551212"),
    ("ph", "442079460958"),
    ("fn", "mary"),
    ("fn", "valéry"),
    ("fn", "정"),
    ("ln", "smith"),
    ("ct", "stlouis"),
    ("ct", "newyork"),
    ("st", "ca"),
    ("st", "az"),
    ("zp", "94035"),
    ("zp", "m11ae"),
    ("country", "us"),
    ("country", "gb"),
    ("db", "19970216"),
    ("ge", "f"),
    ("ge", "m"),
    ("external_id", "user42"),
]


@pytest.mark.parametrize(("key", "value"), CLEAN)
def test_already_normalized_values_agree_with_the_sdk_hash_for_hash(key: str, value: str) -> None:
    assert normalize(key, value) == sdk_normalize(key, value) == value
    assert hash_value(key, value) == Normalize.normalize_field(key, value)


def test_hash_level_differences() -> None:
    """Where the outputs on the wire differ though normalized values agree."""
    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    # a 32-hex external_id: the SDK sends it unhashed as an "MD5"; it is data, we hash it
    assert Normalize.normalize_field("external_id", md5) == md5
    assert hash_value("external_id", md5) == hashlib.sha256(md5.encode()).hexdigest()
    # UserData sends external_id raw (not trimmed, not hashed); Meta recommends hashing
    sent = UserData(external_id=" User-42 ").normalize()["external_id"]
    assert sent == [" User-42 "]
    assert hash_value("external_id", " User-42 ") == hashlib.sha256(b"User-42").hexdigest()
    # lists: the SDK de-duplicates through a set (order lost), we keep the first-seen order
    emails = ["b@x.com", "a@x.com", "B@x.com"]
    sdk_list = UserData(emails=emails).normalize()["em"]
    ours = [hash_value("em", "b@x.com"), hash_value("em", "a@x.com")]
    assert sorted(sdk_list) == sorted(ours)
    assert user_data_value("em", emails, NormalizeContext(), []) == ours
    # a SHA-256 hash passes through both, lowercased
    digest = hashlib.sha256(b"x").hexdigest()
    assert Normalize.normalize_field("em", digest.upper()) == hash_value("em", digest.upper())


def test_the_documentation_lists_every_difference() -> None:
    text = DOC.read_text(encoding="utf-8")
    for difference in DIFFERENCES:
        assert f"`{difference.rule}`" in text, difference.rule
