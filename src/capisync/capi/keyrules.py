"""The rule of each user_data key: trimmed text in, Meta's normalized form out (no hashing).

Meta's "Customer information parameters" page, key by key (see docs/sdk-differences.md for
where Meta's own SDK does less). Every normalizer takes trimmed text and either returns the
normalized string or raises ValueDropped carrying an Issue (never the raw value).
``normalize`` dispatches to them, caches and hashes.

Unicode (spec section 3): keys whose canonical form is ASCII (email, phone, zip, date of
birth, state code, IP address; country and gender through ``geo.lookup_key``) read
compatibility forms and dash look-alikes first (``textforms.ascii_form``/``numeric_form``):
``650–555–1212`` is a US phone, ``１２３４５`` a US zip. Names and cities keep letters of any
script in NFC and only fold width and Arabic positional forms (``textforms``' docstring says
why).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from capisync.capi import geo, phone, rules, values
from capisync.capi.dates import DateError, date_parts, is_calendar_date
from capisync.capi.issues import Issue
from capisync.capi.params import PARAMS
from capisync.capi.personal import screen
from capisync.capi.textforms import (
    ascii_form,
    fold_presentation_forms,
    is_utf8,
    numeric_form,
)

# Longer values of a normalized key are dropped unread (value_too_long): more than any real
# one (an address has at most 254 characters, RFC 5321; a phone 15 digits plus its
# formatting; the longest place names about 170), and it bounds their per-character work.
MAX_VALUE_CHARS = 1000


@dataclass(frozen=True, slots=True)
class NormalizeContext:
    country: str | None = None  # ISO alpha-2 lowercase of the row (already normalized) or default
    dob_order: Literal["mdy", "dmy", "ymd"] = "mdy"  # how to read 2/16/1997-style dates
    hash_external_id: bool = True  # Meta recommends hashing external_id; a setting can turn it off
    # The year of the clock passed in (the core reads none): the latest year of birth, and the
    # pivot of two-digit years. None (no clock given, e.g. normalize()/hash_value()): no upper
    # bound, and two-digit years read as strptime's %y does (69-99 -> 19xx, 00-68 -> 20xx).
    current_year: int | None = None


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
    "text_malformed": "holds a character that is not valid Unicode (a lone surrogate), so it "
    "has no UTF-8 form to send or hash",
    "value_too_long": f"longer than {MAX_VALUE_CHARS:,} characters, which no real value of "
    "this key is",
    "value_unreadable": "no text could be read from this cell (bytes that are not UTF-8, a "
    f"number of more than {values.MAX_NUMBER_DIGITS:,} digits, or a type with no text form): "
    "cast the column to text in the model",
    "value_hashed": "Meta wants this parameter as is, and this value looks like a SHA-256 hash",
    "ctwa_clid_malformed": "not a click-to-WhatsApp click ID (letters, digits, - and _ only)",
    "lead_id_malformed": "not a lead ID (an integer of 15 or 16 digits)",
    "fb_login_id_malformed": "not a Facebook Login ID (an integer)",
}
_KEPT_CODES = frozenset({"phone_without_country_code", "multiple_values"})


def dropped(key: str, code: str) -> ValueDropped:
    """The exception for a dropped value (also builds the two warnings that keep a value)."""
    tail = "" if code in _KEPT_CODES else "; the value was dropped"
    return ValueDropped(Issue(code, f"{key}: {_MESSAGES[code]}{tail}", key))


# ---- per-key normalizers: (trimmed text, context, warnings) -> normalized text ----

Warnings = list[Issue]
# An address: name@domain.tld, where no part holds whitespace, a control character or
# <>(),;:"[]\ and only one @ (RFC 5322 allows no control character in an address).
_NOT_IN_EMAIL = re.compile(r"[\s\x00-\x1f\x7f<>(),;:\"\[\]\\]")
# What _NOT_IN_EMAIL finds, and any other non-ASCII character that is no letter or digit
# (one a look-alike fold may change): everything but word characters and the ASCII
# punctuation an address may hold. Text it finds nothing in passes _NOT_IN_EMAIL too.
_NOT_IN_EMAIL_OR_FOLDABLE = re.compile(r"[^\w!#$%&'*+\-./=?^`{|}~@]")
_ASCII_NON_LETTERS = re.compile(r"[^a-z]+")
_FBC = rules.FBC_SHAPE  # the shapes Meta checks, read by the sandbox too
_FBP = rules.FBP_SHAPE
_CTWA_CLID = rules.CTWA_CLID_SHAPE
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _email(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    """Trim, lowercase; non-ASCII: compatibility forms folded (full-width ``ｊｏｈｎ＠ｘ．ｃｏｍ``
    typed by an input method is ``john@x.com``; addresses never hold compatibility
    characters on purpose, and IDNA folds them in domains the same way), dashes, spaces and
    invisible characters as ``textforms.ascii_form`` reads them, ideographic full stops as
    dots (IDNA's label separators, UTS #46), NFC. Digits of other scripts stay: in an
    internationalized address they are characters of its own."""
    if text.isascii():
        email = text.lower()
        valid = is_email_address(email)
    else:
        email = _nfc(unicodedata.normalize("NFKC", text).lower())
        if _NOT_IN_EMAIL_OR_FOLDABLE.search(email) is None:  # one scan, as for ASCII
            valid = _has_address_shape(email)
        else:  # a dash, space or invisible look-alike ("–", "\u200b", "。"), or no address
            email = _nfc(ascii_form(email).replace("\u3002", "."))
            valid = is_email_address(email)
    if not valid:
        raise dropped("em", "email_malformed")
    return email


def is_email_address(text: str) -> bool:
    """``local@domain.tld``: one @, a name before it, a dot after it that is neither the first
    nor the last character of the domain, and no character of ``_NOT_IN_EMAIL`` anywhere.

    String searches instead of one regex: the regex backtracked through the domain to find
    its last dot, and took 0.7 µs an address, the most costly step of an email's path.
    """
    return _has_address_shape(text) and _NOT_IN_EMAIL.search(text) is None


def _has_address_shape(text: str) -> bool:
    at = text.find("@")
    dot = text.rfind(".")
    return at > 0 and at + 1 < dot < len(text) - 1 and text.find("@", at + 1) < 0


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
    """Lowercase letters of any script (with their combining marks), NFC; nothing else.

    Full-width and half-width forms read as the letters they show (``ＪＯＨＮ`` is ``john``,
    ``ﾔﾏﾀﾞ`` is ``ヤマダ``); other compatibility characters are kept as written (see
    ``textforms.fold_presentation_forms``)."""
    if text.isascii():
        return _ASCII_NON_LETTERS.sub("", text.lower())
    text = fold_presentation_forms(text)
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
    text = ascii_form(text)  # "US–CA", "ＣＡ": the code is ASCII (and so is "no special
    if geo.has_state_codes(ctx.country):  # characters" for regions elsewhere)
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


_FEMALE = (
    "f",
    "fem",
    "female",
    "woman",
    "w",
    "girl",
    "mrs",
    "ms",
    "miss",
    "femme",
    "feminin",
    "femenino",
    "feminino",
    "femminile",
    "weiblich",
    "frau",
    "mujer",
    "mulher",
    "donna",
    "vrouw",
)
_MALE = (
    "m",
    "male",
    "man",
    "boy",
    "mr",
    "homme",
    "masculin",
    "masculino",
    "maschile",
    "mannlich",
    "maennlich",
    "mann",
    "hombre",
    "homem",
    "uomo",
)
_GENDERS: dict[str, str] = {**dict.fromkeys(_FEMALE, "f"), **dict.fromkeys(_MALE, "m")}


def _gender(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    gender = _GENDERS.get(geo.lookup_key(text))
    if gender is None:
        raise dropped("ge", "gender_unknown")
    return gender


_STRPTIME_PIVOT = 2068  # no clock: two-digit years as time.strptime's %y reads them


def _dob(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    """YYYYMMDD from ISO dates, 8 digits, 2/16/1997 (ctx.dob_order) or "Feb 16, 1997"."""
    try:
        pivot = _STRPTIME_PIVOT if ctx.current_year is None else ctx.current_year
        year, month, day = date_parts(numeric_form(text).lower(), ctx.dob_order, pivot)
    except DateError as exc:
        raise dropped("db", exc.code) from None
    if year < 1900 or (ctx.current_year is not None and year > ctx.current_year):
        raise dropped("db", "dob_out_of_range")
    if not is_calendar_date(year, month, day):
        raise dropped("db", "dob_malformed")
    return f"{year:04d}{month:02d}{day:02d}"


def _ip(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    if not text.isascii():
        text = numeric_form(text)  # "１９２．０．２．１" typed full-width
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
        # ASCII only: cookies are, and a "\d" of the pattern would take other digits
        if not text.isascii() or pattern.fullmatch(text) is None:
            raise dropped(key, f"{key}_malformed")
        return text  # case kept: an fbclid is case-sensitive

    return normalize_cookie


def _as_is(key: str) -> Callable[[str, NormalizeContext, Warnings], str]:
    """Keys sent (or hashed) as they are: trimmed text, if it has a UTF-8 form at all."""

    def pass_through(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
        if not is_utf8(text):  # a lone surrogate: no JSON body or hash can carry it
            raise dropped(key, "text_malformed")
        return text

    return pass_through


def _raw_of(key: str) -> Callable[[str, NormalizeContext, Warnings], str]:
    """A key Meta wants as is (client_user_agent, page_id...): a SHA-256-looking value is
    dropped, since Meta refuses a hash there ("must not be hashed"); so is one holding
    customer data Meta would receive unhashed (``personal.screen``: ``<key>_personal_data``)."""
    check = screen(key, PARAMS[key].screen)

    def normalize_raw(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
        if not is_utf8(text):  # a lone surrogate: no JSON body can carry it
            raise dropped(key, "text_malformed")
        if len(text) == 64 and _HEX64.fullmatch(text):
            raise dropped(key, "value_hashed")
        issue = None if check is None else check(text)
        if issue is not None:
            raise ValueDropped(issue)
        return text

    return normalize_raw


def _integer_of(key: str) -> Callable[[str, NormalizeContext, Warnings], str]:
    """lead_id, fb_login_id: the digits of the integer ID (``values.to_lead_id`` or
    ``values.to_integer_id``); the normalizer's caller sends them as an integer."""
    coerce = values.to_lead_id if PARAMS[key].kind == "lead_id" else values.to_integer_id

    def normalize_integer(text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
        number = coerce(text)
        if not isinstance(number, int):
            raise dropped(key, f"{key}_malformed")
        return str(number)

    return normalize_integer
