"""Customer data to what Meta matches on: one normalizer per user_data key, then SHA-256.

The rules are Meta's "Customer information parameters" page (see docs/sdk-differences.md for
where Meta's own SDK does less). Every normalizer takes trimmed text and either returns the
normalized string or raises ValueDropped carrying an Issue (never the raw value).

Hot path: `user_data_value` runs per key per row, so low-cardinality keys (country, state,
city, gender, names, dates of birth, zip codes) keep their final wire value, hash included,
in bounded dicts; phones take a fast path in `phone.py`; hashing is hashlib directly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
import socket
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from capisync.capi import geo, phone
from capisync.capi.dates import DateError, date_parts, is_calendar_date
from capisync.capi.issues import Issue
from capisync.capi.params import PARAMS, USER_DATA_KEYS


@dataclass(frozen=True, slots=True)
class NormalizeContext:
    country: str | None = None  # ISO alpha-2 lowercase of the row (already normalized) or default
    dob_order: Literal["mdy", "dmy", "ymd"] = "mdy"  # how to read 2/16/1997-style dates
    hash_external_id: bool = True  # Meta recommends hashing external_id; a setting can turn it off
    current_year: int = 2026  # upper bound for years of birth (the core reads no clock)


class ValueDropped(Exception):
    """A value that cannot be sent; `issue` says why without repeating the value."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


_NO_LETTERS = "no letters left after removing punctuation, digits and spaces"
_MESSAGES: dict[str, str] = {  # fixed sentences: an Issue never quotes the value
    "email_malformed": "not an email address (expected name@domain.tld)",
    "phone_malformed": "not a phone number Meta can match (no digits, impossible length or "
    "unknown country calling code)",
    "phone_without_country_code": "national number and no country known for the row: sent "
    "without a country code, which rarely matches; map a country column or set the sync's "
    "default country",
    "name_malformed": _NO_LETTERS,
    "city_malformed": _NO_LETTERS,
    "state_unknown": "not a US state or Canadian province (name or 2-letter code), or no letters",
    "zip_malformed": "not a postal code (a US ZIP needs 5 digits)",
    "country_unknown": "not an ISO 3166-1 country code or a country name we know",
    "gender_unknown": "gender must read as female or male (sent as f or m)",
    "dob_malformed": "not a date of birth (use a date column, YYYYMMDD, YYYY-MM-DD, MM/DD/YYYY)",
    "dob_out_of_range": "year of birth outside 1900 to the current year",
    "ip_malformed": "not a valid IPv4 or IPv6 address",
    "fbc_malformed": "not an fbc click ID (fb.{subdomain_index}.{creation_time}.{fbclid})",
    "fbp_malformed": "not an fbp browser ID (fb.{subdomain_index}.{creation_time}.{random})",
    "multiple_values": "Meta takes one value for this key: the first valid one was sent",
}
_KEPT_CODES = frozenset({"phone_without_country_code", "multiple_values"})


def dropped(key: str, code: str) -> ValueDropped:
    """The exception for a dropped value (also builds the two warnings that keep a value)."""
    tail = "" if code in _KEPT_CODES else "; the value was dropped"
    return ValueDropped(Issue(code, f"{key}: {_MESSAGES[code]}{tail}", key))


# ---- per-key normalizers: (trimmed text, context, warnings) -> normalized text ----

Warnings = list[Issue]
_EMAIL_CHAR = r"[^\s@<>(),;:\"\[\]\\]"
_EMAIL = re.compile(rf"{_EMAIL_CHAR}+@{_EMAIL_CHAR}+\.[^\s@<>(),;:\"\[\]\\.]+")
_ASCII_NON_LETTERS = re.compile(r"[^a-z]+")
_FBC = re.compile(r"fb\.\d\.\d{10,13}\.[^.\s]+(?:\.[^.\s]+)?")
_FBP = re.compile(r"fb\.\d\.\d{10,13}\.\d+(?:\.[^.\s]+)?")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _email(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    email = text.lower() if text.isascii() else _nfc(_nfc(text).lower())
    if _EMAIL.fullmatch(email) is None:
        raise dropped("em", "email_malformed")
    return email


def _phone(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    region = phone.region_for_country(ctx.country) if ctx.country else None
    try:
        digits, has_country_code = phone.phone_digits(text, region)
    except phone.PhoneError:
        raise dropped("ph", "phone_malformed") from None
    if not phone.MIN_DIGITS <= len(digits) <= phone.MAX_DIGITS:
        raise dropped("ph", "phone_malformed")
    if not has_country_code:
        warnings.append(dropped("ph", "phone_without_country_code").issue)
    return digits


def letters(text: str) -> str:
    """Lowercase letters of any script (with their combining marks), NFC; nothing else."""
    if text.isascii():
        return _ASCII_NON_LETTERS.sub("", text.lower())
    kept = "".join(c for c in _nfc(text).lower() if unicodedata.category(c)[0] in "LM")
    if not any(unicodedata.category(c)[0] == "L" for c in kept):
        return ""
    return _nfc(kept)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _letters_of(key: str, code: str) -> Callable[[str, NormalizeContext, Warnings], str]:
    """fn, ln, ct: "lowercase only with no punctuation" (Meta), letters of any script kept."""

    def normalize_letters(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
        kept = letters(text)
        if not kept:
            raise dropped(key, code)
        return kept

    return normalize_letters


def _state(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    if geo.has_state_codes(ctx.country):
        code = geo.state_code(text)
        if code is not None:
            return code
        if ctx.country is not None:  # a US/Canadian region we cannot place: no guessing
            raise dropped("st", "state_unknown")
    region = letters(text)
    if not region:
        raise dropped("st", "state_unknown")
    return region


def _zip(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    postal = geo.postal_code(text, ctx.country)
    if not postal:
        raise dropped("zp", "zip_malformed")
    return postal


def _country(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    code = geo.country_code(text)
    if code is None:
        raise dropped("country", "country_unknown")
    return code


_FEMALE = ("f", "fem", "female", "woman", "w", "girl", "mrs", "ms", "miss", "femme", "feminin",
           "femenino", "feminino", "femminile", "weiblich", "frau", "mujer", "mulher", "donna",
           "vrouw")
_MALE = ("m", "male", "man", "boy", "mr", "homme", "masculin", "masculino", "maschile",
         "mannlich", "maennlich", "mann", "hombre", "homem", "uomo")
_GENDERS: dict[str, str] = {**dict.fromkeys(_FEMALE, "f"), **dict.fromkeys(_MALE, "m")}


def _gender(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    gender = _GENDERS.get(geo.lookup_key(text))
    if gender is None:
        raise dropped("ge", "gender_unknown")
    return gender


def _dob(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    """YYYYMMDD from ISO dates, 8 digits, 2/16/1997 (ctx.dob_order) or "Feb 16, 1997"."""
    try:
        year, month, day = date_parts(text.lower(), ctx.dob_order, ctx.current_year)
    except DateError as exc:
        raise dropped("db", exc.code) from None
    if not 1900 <= year <= ctx.current_year:
        raise dropped("db", "dob_out_of_range")
    if not is_calendar_date(year, month, day):
        raise dropped("db", "dob_malformed")
    return f"{year:04d}{month:02d}{day:02d}"


def _ip(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        try:
            ipaddress.ip_address(text)  # the slow parser also takes scoped IPv6 ("fe80::1%eth0")
        except ValueError:
            raise dropped("client_ip_address", "ip_malformed") from None
    return text


def _cookie(key: str, pattern: re.Pattern[str]) -> Callable[[str, NormalizeContext, Warnings], str]:
    def normalize_cookie(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
        if pattern.fullmatch(text) is None:
            raise dropped(key, f"{key}_malformed")
        return text  # case kept: an fbclid is case-sensitive

    return normalize_cookie


def _as_is(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    return text


# ---- dispatch, caches and the public API ----

Normalizer = Callable[[str, NormalizeContext, Warnings], str]
CACHE_LIMIT = 65_536  # entries per key; a full cache starts over (cheap, bounded memory)
_NO_CACHE, _BY_TEXT, _BY_COUNTRY, _BY_DOB_SETTINGS = range(4)


@dataclass(frozen=True, slots=True)
class _KeySpec:
    key: str
    normalize: Normalizer
    hashed: bool
    multi: bool
    cache_by: int  # how repeated inputs are cached (their wire value, hash included)
    cache: dict[object, str | Issue]
    hash_optional: bool  # external_id: hashed unless the sync turns hashing off


def _spec(key: str, normalizer: Normalizer, cache_by: int = _NO_CACHE) -> _KeySpec:
    param = PARAMS[key]
    return _KeySpec(key, normalizer, param.hashed, param.multi, cache_by, {},
                    key == "external_id")


_SPECS: dict[str, _KeySpec] = {
    spec.key: spec
    for spec in (
        _spec("em", _email),
        _spec("ph", _phone),
        _spec("fn", _letters_of("fn", "name_malformed"), _BY_TEXT),
        _spec("ln", _letters_of("ln", "name_malformed"), _BY_TEXT),
        _spec("ge", _gender, _BY_TEXT),
        _spec("db", _dob, _BY_DOB_SETTINGS),
        _spec("ct", _letters_of("ct", "city_malformed"), _BY_TEXT),
        _spec("st", _state, _BY_COUNTRY),
        _spec("zp", _zip, _BY_COUNTRY),
        _spec("country", _country, _BY_TEXT),
        _spec("external_id", _as_is),
        _spec("client_ip_address", _ip),
        _spec("fbc", _cookie("fbc", _FBC)),
        _spec("fbp", _cookie("fbp", _FBP)),
    )
}
for _key in USER_DATA_KEYS - _SPECS.keys():
    _SPECS[_key] = _spec(_key, _as_is)

_PLACEHOLDERS = frozenset({"null", "none", "n/a", "#n/a", "undefined", "nan"})


def _text(value: object) -> str | None:
    """A warehouse value as trimmed text; None for missing values (NULL, NaN, '', 'N/A')."""
    if isinstance(value, str):
        text = value.strip()
    elif value is None:
        return None
    elif isinstance(value, int):
        return str(value).lower()  # bools read "true"/"false" and are dropped as malformed
    elif isinstance(value, float | Decimal):
        return _number_text(value)
    elif isinstance(value, date):
        return value.isoformat()
    elif isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "replace").strip()
    else:
        text = str(value).strip()
    return _unless_placeholder(text)


def _unless_placeholder(text: str) -> str | None:
    if len(text) <= 9 and (not text or text.lower() in _PLACEHOLDERS) and text != "Nan":
        return None  # "Nan" is a first name; "nan", "NaN" are a dataframe's missing value
    return text


def _number_text(value: float | Decimal) -> str | None:
    if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
        return None
    if value == int(value):
        return str(int(value))  # 94035.0 and Decimal("94035") are the zip 94035
    return str(value)


def _is_hash(text: str) -> bool:
    return len(text) == 64 and _HEX64.fullmatch(text) is not None


def _get_spec(key: str) -> _KeySpec:
    spec = _SPECS.get(key)
    if spec is None:
        raise ValueError(f"{key!r} is not a user_data key of the Conversions API")
    return spec


def _wire(spec: _KeySpec, text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    """Normalize one trimmed value and hash it where the key is hashed (raises ValueDropped)."""
    if not spec.hashed or (spec.hash_optional and not ctx.hash_external_id):
        return spec.normalize(text, ctx, warnings)
    if len(text) == 64 and _HEX64.fullmatch(text):
        return text.lower()  # already SHA-256: never hash twice
    return hashlib.sha256(spec.normalize(text, ctx, warnings).encode()).hexdigest()


def _wire_text(spec: _KeySpec, text: str, ctx: NormalizeContext,
               warnings: Warnings) -> str | None:
    """The wire value of one trimmed, non-missing value; drops become warnings."""
    if spec.cache_by == _NO_CACHE:
        try:
            return _wire(spec, text, ctx, warnings)
        except ValueDropped as drop:
            warnings.append(drop.issue)
            return None
    wire = _from_cache(spec, text, _cache_key(spec, text, ctx), ctx, warnings, arrays=False)
    return wire if isinstance(wire, str) else None


def _cache_key(spec: _KeySpec, raw: object, ctx: NormalizeContext) -> object:
    if spec.cache_by == _BY_TEXT:
        return raw
    if spec.cache_by == _BY_COUNTRY:
        return (raw, ctx.country)
    return (raw, ctx.dob_order, ctx.current_year)


def _from_cache(spec: _KeySpec, raw: str, cache_key: object, ctx: NormalizeContext,
                warnings: Warnings, *, arrays: bool) -> str | list[str] | None:
    """Cached keys remember the outcome of a raw string: wire value, "" (missing) or Issue."""
    result = spec.cache.get(cache_key)
    if result is None:
        text = _unless_placeholder(raw.strip())
        if arrays and text and text[0] == "[" and (values := _json_array(text)) is not None:
            return _wire_many(spec, values, ctx, warnings)  # arrays are not cached
        result = "" if text is None else _wire_uncached(spec, text, ctx)
        if len(spec.cache) >= CACHE_LIMIT:
            spec.cache.clear()
        spec.cache[cache_key] = result
    if isinstance(result, Issue):
        warnings.append(result)
        return None
    return result or None


def _wire_uncached(spec: _KeySpec, text: str, ctx: NormalizeContext) -> str | Issue:
    try:
        return _wire(spec, text, ctx, [])  # cached keys never warn while keeping a value
    except ValueDropped as drop:
        return drop.issue


def _wire_many(spec: _KeySpec, values: list[object], ctx: NormalizeContext,
               warnings: Warnings) -> str | list[str] | None:
    sent: list[str] = []
    for value in values:
        text = _text(value)
        wire = _wire_text(spec, text, ctx, warnings) if text is not None else None
        if wire is not None and wire not in sent:
            sent.append(wire)
    if len(sent) > 1 and not spec.multi:
        warnings.append(dropped(spec.key, "multiple_values").issue)
        return sent[0]
    return sent[0] if len(sent) == 1 else (sent or None)


def _json_array(text: str) -> list[object] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def user_data_value(key: str, raw: object, ctx: NormalizeContext,
                    warnings: list[Issue]) -> str | list[str] | None:
    """The wire value of one user_data key of one row: a str, a list of several, or None.

    Accepts a scalar, a list/tuple or a string holding a JSON array; normalizes each element,
    hashes where the key is hashed, de-duplicates in order, and appends an Issue to
    `warnings` for every value it drops (and for phones sent without a country code).
    """
    spec = _SPECS.get(key) or _get_spec(key)
    if type(raw) is not str:
        if isinstance(raw, list | tuple | set | frozenset):
            return _wire_many(spec, list(raw), ctx, warnings)
        text = _text(raw)
        return None if text is None else _wire_text(spec, text, ctx, warnings)
    if spec.cache_by != _NO_CACHE:  # a repeated value costs one dict lookup, not even a strip
        return _from_cache(spec, raw, _cache_key(spec, raw, ctx), ctx, warnings, arrays=True)
    text = raw.strip()
    if len(text) <= 9 and (not text or text.lower() in _PLACEHOLDERS) and text != "Nan":
        return None
    if text[0] == "[" and (values := _json_array(text)) is not None:
        return _wire_many(spec, values, ctx, warnings)
    try:
        return _wire(spec, text, ctx, warnings)
    except ValueDropped as drop:
        warnings.append(drop.issue)
        return None


def normalize(key: str, value: object, *, country: str | None = None) -> str | None:
    """The normalized value before hashing; None when the value is missing or dropped.

    A value that is already a SHA-256 hash (64 hex characters) comes back lowercased.
    """
    spec = _get_spec(key)
    text = _text(value)
    if text is None:
        return None
    if spec.hashed and _is_hash(text):
        return text.lower()
    try:
        return spec.normalize(text, NormalizeContext(country=country), [])
    except ValueDropped:
        return None


def hash_value(key: str, value: object, *, country: str | None = None) -> str | None:
    """What goes on the wire: SHA-256 hex for hashed keys, the cleaned value for the others."""
    spec = _get_spec(key)
    text = _text(value)
    if text is None:
        return None
    try:
        return _wire(spec, text, NormalizeContext(country=country), [])
    except ValueDropped:
        return None


def normalize_country(value: object) -> str | None:
    """ISO alpha-2 lowercase of a country code or name (the row's country); None if unknown."""
    text = _text(value)
    return None if text is None else geo.country_code(text)
