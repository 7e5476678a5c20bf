"""Countries and states: free text in, Meta's lowercase codes out.

Countries resolve to ISO 3166-1 alpha-2 through pycountry (codes, names, official and common
names) plus a small alias table for what people actually type ("USA", "UK", "Holland").
US states (with DC and the territories) and Canadian provinces resolve to their 2-letter
postal codes by name or code; any other region is lowercased letters.
Lookups compare "keys": accents folded, "&" read as "and", everything but letters and
digits removed, so "U.S.", "u s" and "US" are one key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache, lru_cache

import pycountry

from capisync.capi.textforms import numeric_form

# What people write that pycountry does not know (keys as produced by lookup_key).
_COUNTRY_ALIASES: dict[str, str] = {
    "usa": "us",
    "america": "us",
    "unitedstatesamerica": "us",
    "unitedstatesofamerica": "us",
    "uk": "gb",
    "greatbritain": "gb",
    "britain": "gb",
    "england": "gb",
    "scotland": "gb",
    "wales": "gb",
    "northernireland": "gb",
    "unitedkingdomofgreatbritain": "gb",
    "russia": "ru",
    "turkey": "tr",
    "holland": "nl",
    "thenetherlands": "nl",
    "netherlands": "nl",
    "ivorycoast": "ci",
    "macedonia": "mk",
    "swaziland": "sz",
    "burma": "mm",
    "capeverde": "cv",
    "palestine": "ps",
    "vatican": "va",
    "vaticancity": "va",
    "micronesia": "fm",
    "brunei": "bn",
    "kosovo": "xk",
    "xk": "xk",
    "korea": "kr",
    "drc": "cd",
    "drcongo": "cd",
    "democraticrepublicofcongo": "cd",
    "democraticrepublicofthecongo": "cd",
    "republicofcongo": "cg",
    "congobrazzaville": "cg",
    "uae": "ae",
    "emirates": "ae",
    "macau": "mo",
    "czechrepublic": "cz",
    "eswatini": "sz",
    "unitedstatesvirginislands": "vi",
    "usvirginislands": "vi",
    "britishvirginislands": "vg",
    # common native names
    "deutschland": "de",
    "espana": "es",
    "brasil": "br",
    "italia": "it",
    "schweiz": "ch",
    "suisse": "ch",
    "svizzera": "ch",
    "osterreich": "at",
    "nederland": "nl",
    "sverige": "se",
    "norge": "no",
    "danmark": "dk",
    "polska": "pl",
    "belgique": "be",
    "belgie": "be",
    "suomi": "fi",
    "eire": "ie",
    "magyarorszag": "hu",
    "cesko": "cz",
    "nippon": "jp",
    "nihon": "jp",
    "mexique": "mx",
    "allemagne": "de",
    "espagne": "es",
    "italie": "it",
    "etatsunis": "us",
    "royaumeuni": "gb",
    "angleterre": "gb",
}

# Names and codes of US states/territories and Canadian provinces not in pycountry's form.
_STATE_ALIASES: dict[str, str] = {
    "washingtondc": "dc",
    "dc": "dc",
    "usvirginislands": "vi",
    "virginislands": "vi",
    "newfoundland": "nl",
    "labrador": "nl",
    "pei": "pe",
    "yukonterritory": "yt",
    "northwestterritory": "nt",
}

_NON_KEY_CHARS = re.compile(r"[^0-9a-z]+")
_NON_LETTERS = re.compile(r"[^a-z]+")
_REGION_PREFIX = re.compile(r"^(?:us|ca)[-_ .]([a-z]{2})$")
_STATE_COUNTRIES = ("us", "ca")
_ASCII_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_US_ZIP = re.compile(r"(\d{3,5})(?:[-\s]*\d{4})?")  # ZIP or ZIP+4, leading zeros maybe lost
_US_ZIP_PLUS4 = re.compile(r"\d{5}-\d{4}")


def lookup_key(text: str) -> str:
    """Fold a name to a comparison key: 'Côte d'Ivoire' -> 'cotedivoire', 'U.S.' -> 'us'.

    Folding (NFKD) first reads full-width letters and signs as ASCII: 'ＵＳ', 'Ｔ＆Ｔ'."""
    return _NON_KEY_CHARS.sub("", _fold(text).replace("&", " and "))


def _state_key(text: str) -> str:
    """Letters only: what is left of a state after normalization must find the same state."""
    return _NON_LETTERS.sub("", _fold(text))


def _fold(text: str) -> str:
    """Lowercase without accents: 'Québec' -> 'quebec'."""
    text = text.lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _name_variants(name: str) -> list[str]:
    """'Korea, Republic of' is also 'Republic of Korea'; '(Dutch part)' is often left out."""
    variants = [name, re.sub(r"\s*\(.*?\)", "", name)]
    if ", " in name:
        head, tail = name.split(", ", 1)
        variants.append(f"{tail} {head}")
    return variants


def _short_name(name: str) -> str | None:
    """'Bolivia, Plurinational State of' -> 'Bolivia' (kept where no other country shares it)."""
    return name.split(", ", 1)[0] if ", " in name else None


def _add_short_names(
    index: dict[str, str], names: list[tuple[str, str]], key: Callable[[str], str] = lookup_key
) -> None:
    owners: dict[str, set[str]] = {}
    for name, code in names:
        short = _short_name(name)
        if short:
            owners.setdefault(key(short), set()).add(code)
    for short_key, codes in owners.items():
        if len(codes) == 1:  # "Korea" and "Congo" name two countries: leave them to aliases
            index.setdefault(short_key, codes.pop())


@cache
def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    names: list[tuple[str, str]] = []
    for country in pycountry.countries:
        code = country.alpha_2.lower()
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, "")
            names += [(variant, code) for variant in _name_variants(name)] if name else []
        index[country.alpha_3.lower()] = code
        index[country.numeric] = code
        index[str(int(country.numeric))] = code
    for name, code in names:
        index.setdefault(lookup_key(name), code)
    for alias, code in _COUNTRY_ALIASES.items():
        index.setdefault(alias, code)
    _add_short_names(index, names)
    for country in pycountry.countries:
        index[country.alpha_2.lower()] = country.alpha_2.lower()  # a code beats any name
    return index


@lru_cache(maxsize=4096)  # called per row for the row's country: repeated values are free
def country_code(text: str) -> str | None:
    """ISO alpha-2 lowercase for a code, an alpha-3 or numeric code, or a name; None if unknown."""
    key = lookup_key(text)
    if not key:
        return None
    index = _country_index()
    code = index.get(key)
    if code is None and key.startswith("st") and not key.startswith("saint"):
        code = index.get("saint" + key[2:])  # "St. Lucia" -> "Saint Lucia"
    return code


def load_state_names() -> None:
    """Read the state and province names now (pycountry's subdivisions, 40 ms) rather than
    at the first row that has a state."""
    _state_index()


@cache
def _state_index() -> dict[str, str]:
    index: dict[str, str] = {}
    names: list[tuple[str, str]] = []
    for country in _STATE_COUNTRIES:
        for subdivision in pycountry.subdivisions.get(  # type: ignore[no-untyped-call]
            country_code=country.upper()
        ):
            code = subdivision.code.split("-", 1)[1].lower()
            index[code] = code
            names += [(variant, code) for variant in _name_variants(subdivision.name)]
    for name, code in names:
        index.setdefault(_state_key(name), code)
    for alias, code in _STATE_ALIASES.items():
        index.setdefault(alias, code)
    _add_short_names(index, names, _state_key)
    return index


def has_state_codes(country: str | None) -> bool:
    """True where Meta wants a 2-letter state code (the US) and we know the codes (also Canada)."""
    return country is None or country in _STATE_COUNTRIES


def state_code(text: str) -> str | None:
    """2-letter code of a US state/territory or Canadian province by name or code, else None."""
    lowered = text.strip().lower()
    prefixed = _REGION_PREFIX.match(lowered)  # ISO 3166-2 style: "US-CA"
    if prefixed:
        lowered = prefixed.group(1)
    return _state_index().get(_state_key(lowered))


def postal_code(text: str, country: str | None) -> str | None:
    """Lowercase, no spaces or dashes; US (or any ZIP+4): the first 5 digits. None if empty.

    Full-width and other-script digits and every dash look-alike read as ASCII first:
    '１２３４５' (us) -> '12345', '〒１００ー０００１' (jp) -> '1000001'."""
    lowered = numeric_form(text).lower()
    if country == "us" or (country is None and _US_ZIP_PLUS4.fullmatch(lowered)):
        us_zip = _US_ZIP.fullmatch(lowered)
        return us_zip.group(1).zfill(5) if us_zip else None  # 2134 was the zip 02134
    if lowered.isascii():
        return _ASCII_NON_ALNUM.sub("", lowered) or None
    return "".join(c for c in unicodedata.normalize("NFC", lowered) if c.isalnum()) or None
