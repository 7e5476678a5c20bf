"""Phone numbers to Meta's form: digits only, country calling code first, no leading zeros.

Meta: "Remove symbols, letters, and any leading zeros. Phone numbers must include a country
code." A fast path does this per row without a full `phonenumbers.parse`: a leading `+`,
`00` or the region's international prefix (`011` in the US) means the number already carries
its calling code; otherwise it is national, so the region's trunk prefix (`0`, `1`, `8`) is
stripped and its calling code prepended. Calling codes, trunk prefixes, international
prefixes and possible lengths come from phonenumbers' metadata, read once per region. When
the fast path gives a length the region never uses, phonenumbers parses the number
(carrier codes, Argentine `15`, local numbers of NANP islands...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata

from capisync.capi.textforms import numeric_form

MIN_DIGITS = 7  # shorter than any full international number
MAX_DIGITS = 15  # E.164 maximum
_MAIN_PART = re.compile(r"[+(\d][\d\s().\-/+]*")  # stops at "ext", "x", "#", comments
_NON_DIGITS = re.compile(r"[^0-9]+")
_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE


class PhoneError(ValueError):
    """The value holds no usable phone number."""


@dataclass(frozen=True, slots=True)
class Region:
    code: str  # phonenumbers' region code: "US", "FR"
    calling_code: str
    trunk_prefix: str | None  # national (trunk) prefix: "0" in FR, "1" in the US
    international_prefix: re.Pattern[str] | None  # "011" in the US, "00" in FR
    literal_prefix: str | None  # the prefix when it is plain digits: startswith, no regex
    lengths: frozenset[int]  # possible lengths of a national significant number


def _metadata(region: str, calling_code: int) -> PhoneMetadata | None:
    if region == "001":  # non-geographic calling codes (800, 808, 870, 881, ...)
        return PhoneMetadata.metadata_for_nongeo_region(calling_code)
    return PhoneMetadata.metadata_for_region(region)


def _possible_lengths(metadata: PhoneMetadata) -> frozenset[int]:
    desc = metadata.general_desc
    return frozenset(desc.possible_length) if desc is not None else frozenset()


@cache
def region_for_country(country: str) -> Region | None:
    """Metadata of an ISO alpha-2 country (lowercase), None if phonenumbers does not know it."""
    metadata = PhoneMetadata.metadata_for_region(country.upper())
    if metadata is None:
        return None
    idd = metadata.international_prefix
    return Region(
        code=country.upper(),
        calling_code=str(metadata.country_code),
        trunk_prefix=metadata.national_prefix,
        international_prefix=re.compile(idd) if idd else None,
        literal_prefix=idd if idd and idd.isdigit() else None,
        lengths=_possible_lengths(metadata),
    )


CallingCode = tuple[str | None, frozenset[int]]  # (trunk prefix if it starts with 0, lengths)
_CALLING_CODES: dict[str, CallingCode | None] = {}  # filled as codes are met


def _calling_code(code: str) -> CallingCode | None:
    """A calling code's trunk prefix (when it starts with 0) and possible national lengths.

    Both come from the code's main region (US for 1, GB for 44), whose lengths cover the
    others' (Canada alone adds 7-digit service numbers, no one's phone). None when no
    country has this code. Read per code as met: loading every region's metadata up front
    took 80 ms, a run's first batch paid for it.
    """
    if code in _CALLING_CODES:
        return _CALLING_CODES[code]
    entry: CallingCode | None = None
    known = code.isdigit() and code[0] != "0"
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code)) if known else None
    main = _metadata(regions[0], int(code)) if regions else None
    if main is not None:
        trunk = main.national_prefix
        entry = (trunk if trunk and trunk[0] == "0" else None, _possible_lengths(main))
    _CALLING_CODES[code] = entry
    return entry


def phone_digits(value: str, region: Region | None) -> tuple[str, bool]:
    """(digits with calling code, True) or (bare national digits, False) when no region is known.

    Raises PhoneError when the value cannot be a phone number.
    """
    # Chained replaces beat a regex or str.translate on strings this short. The trunk 0 of
    # "+44 (0)20 ..." stays here and is dropped after the calling code (_international).
    text = value.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    text = text.replace(".", "")
    if text.isascii():
        if text.isdigit():
            return _from_digits(text, international=False, region=region)
        if text[:1] == "+" and text[1:].isdigit():
            return _from_digits(text[1:], international=True, region=region)
    return _from_text(value, region)


def _from_text(text: str, region: Region | None) -> tuple[str, bool]:
    # "650–555–1212" (en dashes), "０６ １２", "+33\u00a06...": every dash a "-", every
    # space a " ", digits of any script ASCII, before the main part is looked for
    text = numeric_form(text)
    main = _MAIN_PART.search(text)
    if main is None:
        raise PhoneError("no digits")
    part = main.group()
    international = part.lstrip("( ").startswith("+")
    return _from_digits(_NON_DIGITS.sub("", part), international=international, region=region)


def _from_digits(digits: str, *, international: bool, region: Region | None) -> tuple[str, bool]:
    if not digits:
        raise PhoneError("no digits")
    if international or digits.startswith("00"):
        return _international(digits.lstrip("0")), True
    if region is None:
        return _without_region(digits.lstrip("0"))
    prefix = region.literal_prefix
    if prefix is not None:
        if digits.startswith(prefix):
            return _international(digits[len(prefix) :].lstrip("0")), True
    elif region.international_prefix and (idd := region.international_prefix.match(digits)):
        return _international(digits[idd.end() :].lstrip("0")), True
    return _national(digits, region), True


def _international(digits: str) -> str:
    """digits = calling code + national number, possibly with a trunk 0 after the code."""
    for size in (1, 2, 3):
        code = digits[:size]
        entry = _calling_code(code)
        if entry is None:
            continue
        trunk, lengths = entry
        national = digits[size:]
        if trunk and national.startswith(trunk) and len(national) - len(trunk) in lengths:
            national = national[len(trunk) :]  # "+44 020 ..." -> "+44 20 ..."
        if len(national) in lengths:
            return code + national
        return _parsed("+" + digits, None)
    raise PhoneError("unknown country calling code")


def _national(digits: str, region: Region) -> str:
    code, trunk, lengths = region.calling_code, region.trunk_prefix, region.lengths
    if trunk and digits.startswith(trunk) and len(digits) - len(trunk) in lengths:
        return code + digits[len(trunk) :]
    if digits.startswith(code) and len(digits) - len(code) in lengths:
        return digits  # the calling code is already there, only the "+" was lost
    if len(digits) in lengths:
        return code + digits
    return _parsed(digits, region)


def _without_region(digits: str) -> tuple[str, bool]:
    """No country known: digits that form a valid international number count as one."""
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise PhoneError("impossible length")
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException:
        return digits, False
    return digits, phonenumbers.is_valid_number(number)


def _parsed(text: str, region: Region | None) -> str:
    """The slow path: a full parse by phonenumbers, for what the fast path cannot place."""
    try:
        number = phonenumbers.parse(text, region.code if region else None)
    except NumberParseException as exc:
        raise PhoneError("unparsable") from exc
    if phonenumbers.is_possible_number_with_reason(number) != _POSSIBLE:  # local-only is not
        raise PhoneError("impossible length")
    return _e164_digits(number)


def _e164_digits(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
