"""Customer information where it must never be: in a row's identifier or its event_id.

The identifier is the ledger's key, stored as it is, and the default event_id; event_id goes
to Meta as it is (Meta hashes nothing itself: "Customer information parameters" must be
hashed by the sender, event_id is not one of them). So neither may hold an email address, a
phone number, a name, a birth date or an address.

Two guards, one per moment:

- configuration: ``personal_reason(column, mapping)`` says why a column holds customer
  information: it feeds a key Meta requires hashed (em, ph, fn, ln, db, ge, ct, st, zp,
  country), whatever the model calls it, or its name says so (``email``, ``customer_phone``,
  ``date_of_birth`` ...). ``external_id`` is no such key here: it is the advertiser's own ID
  for a person (a user or loyalty ID), which Meta accepts unhashed and which is a usual row
  identifier for leads; an external_id that holds an email is caught at run time.
- run time: ``looks_personal(text)`` is True when the text holds an email address anywhere
  (``lead-someone@example.com``) or a phone number in international form (``+`` then 8 to 15
  digits, with the usual separators) or with a bracketed area code (``(650) 555-1212``),
  full-width and other compatibility forms included (NFKC).
  Plain digit strings are not judged: order and lead IDs are digit strings too (a lead_id
  has 15-16 digits), and the configuration guard already refuses phone columns.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from capisync.capi.issues import Issue
from capisync.capi.params import ALIASES, HASHED_KEYS, Screen

# The keys Meta requires hashed, but external_id: an advertiser's ID, not contact data.
CUSTOMER_INFO_KEYS: frozenset[str] = HASHED_KEYS - {"external_id"}

# Words (or adjacent words run together) in a column name that mean customer information.
_PERSONAL_WORDS = frozenset(
    {
        "email",
        "emails",
        "emailaddress",
        "phone",
        "phones",
        "phonenumber",
        "telephone",
        "tel",
        "mobile",
        "cellphone",
        "msisdn",
        "whatsapp",
        "firstname",
        "lastname",
        "fullname",
        "givenname",
        "familyname",
        "middlename",
        "surname",
        "dob",
        "birthday",
        "birthdate",
        "dateofbirth",
        "street",
        "streetaddress",
        "postcode",
        "postalcode",
        "zipcode",
    }
)
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")

# name@domain.tld anywhere in the text; the top-level domain has letters (or is punycode), so
# "release@2026.11" is no address.
_EMAIL = re.compile(r"[^\s@]@[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_]{2,}|xn--[\w-]+)")
_DASHES = "\u2010-\u2015\u2212"  # hyphen, non-breaking hyphen ... em dash, minus sign
# +<8-15 digits> with spaces, dots, dashes or brackets between them, not glued to a word.
_INTERNATIONAL_PHONE = re.compile(rf"(?<![\w+])\+[\s(]*\d(?:[\s().{_DASHES}-]*\d){{7,14}}(?!\d)")
# (650) 555-1212, (0)20 7946 0958: a bracketed area code and at least 6 more digits.
_AREA_CODE_PHONE = re.compile(
    rf"\(\d{{1,4}}\)[\s.{_DASHES}-]*\d(?:[\s.{_DASHES}-]*\d){{5,12}}(?!\d)"
)


def looks_personal(text: str) -> bool:
    """True when ``text`` holds an email address or a phone number (see the module doc).
    Compatibility forms count as what they stand for: a full-width ＠ or ＋ is an @ or a +."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if "@" in text and _EMAIL.search(text) is not None:
        return True
    if "+" in text and _INTERNATIONAL_PHONE.search(text) is not None:
        return True
    return "(" in text and _AREA_CODE_PHONE.search(text) is not None


def is_contact(text: str) -> bool:
    """True when the whole of ``text`` (trimmed) is one email address or one phone number in
    international or bracketed form: what a User-Agent never is, though it may name a
    contact address inside (bots do: "... +http://example.com/bot; bot@example.com")."""
    text = text.strip()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).strip()
    return (
        _EMAIL_WHOLE.fullmatch(text) is not None
        or _INTERNATIONAL_PHONE.fullmatch(text) is not None
        or _AREA_CODE_PHONE.fullmatch(text) is not None
    )


_EMAIL_WHOLE = re.compile(r"[^\s@]+@[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_]{2,}|xn--[\w-]+)")
# an http(s) URL: the scheme, "://" and a host (Meta: "the browser URL where the event
# happened"); anything may follow the host
_HTTP_URL = re.compile(r"https?://[^\s/?#@]*[^\s/?#]", re.IGNORECASE)

Screener = Callable[[Any], Issue | None]


def screen(key: str, policy: Screen) -> Screener | None:
    """The check of ``key``'s unhashed values for customer data (``params.Param.screen``):
    a function of a coerced wire value that gives the Issue to drop it for (code
    ``<key>_personal_data`` or ``<key>_not_a_url``; the message names the key, never the
    value), or None when it may go. None for a key that is not screened."""
    if policy == "none":
        return None
    personal = Issue(
        f"{key}_personal_data",
        f"{key} holds an email address or a phone number, which Meta would receive unhashed, "
        f"so it was left out of this event: map a column that holds no customer "
        f"information to '{key}' (customer data goes to em, ph... where it is hashed)",
        key,
    )
    if policy == "url":
        not_url = Issue(
            f"{key}_not_a_url",
            f"{key} is not an http(s) URL (Meta wants the browser URL where the event "
            f"happened, e.g. https://shop.example/checkout), so it was left out of this "
            f"event: map the column holding the page URL",
            key,
        )

        def url(value: Any) -> Issue | None:
            if type(value) is not str or _HTTP_URL.match(value) is None:
                return not_url
            return personal if _url_looks_personal(value) else None

        return url
    judge = is_contact if policy == "whole" else looks_personal

    def text(value: Any) -> Issue | None:
        if type(value) is str:
            return personal if judge(value) else None
        return personal if _holds_personal(value, judge) else None

    return text


def _url_looks_personal(url: str) -> bool:
    """An email address or phone number in the URL, percent-escapes decoded (``?email=a%40b``
    is a leak Meta warns about)."""
    if looks_personal(url):
        return True
    return "%" in url and looks_personal(unquote(url))


def _holds_personal(value: object, judge: Callable[[str], bool], depth: int = 0) -> bool:
    """Whether a string inside a list or JSON object (a custom property) is personal."""
    if type(value) is str:
        return judge(value)
    if depth > 32:
        return False  # values.to_json_value bounds nesting well below this
    if isinstance(value, list | tuple):
        return any(_holds_personal(v, judge, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(
            _holds_personal(k, judge, depth + 1) or _holds_personal(v, judge, depth + 1)
            for k, v in value.items()
        )
    return False


def column_may_look_personal(cells: list[object]) -> bool:
    """False only when no cell can look personal (``looks_personal``) as identifier text: every
    cell is None, an int, or ASCII text without "@", "+" or "(". Lets the batch builder skip the
    check for a whole column of ordinary identifiers with three scans of their joined text."""
    texts: list[str] = []
    for cell in cells:
        if type(cell) is str:
            texts.append(cell)
        elif cell is not None and type(cell) is not int:
            return True  # its text (bytes, Decimal, objects...) is checked row by row
    joined = "\x1f".join(texts)
    return not joined.isascii() or "@" in joined or "+" in joined or "(" in joined


def personal_reason(column: str, fed_keys: Iterable[str]) -> str | None:
    """Why ``column`` holds customer information, or None.

    ``fed_keys``: the Meta keys the mapping feeds from this column. The reason is a short
    phrase for an error message ("it feeds em", "its name says email"), never a value.
    """
    fed = sorted(k for k in fed_keys if k in CUSTOMER_INFO_KEYS)
    if fed:
        return f"it feeds {', '.join(fed)}, which Meta requires hashed"
    key = ALIASES.get(column.strip().lower())
    if key in CUSTOMER_INFO_KEYS:
        return f"its name is that of {key}, which Meta requires hashed"
    word = _personal_word(column)
    if word is not None:
        return f"its name says {word}"
    return None


def _personal_word(column: str) -> str | None:
    words = [w.lower() for w in _WORDS.findall(column)]
    for size in (1, 2, 3):
        for i in range(len(words) - size + 1):
            joined = "".join(words[i : i + size])
            if joined in _PERSONAL_WORDS:
                return joined
    return None
