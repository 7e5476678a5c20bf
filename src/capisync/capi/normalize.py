"""Customer data to what Meta matches on: one normalizer per user_data key, then SHA-256.

The rules of each key are in ``keyrules`` (Meta's "Customer information parameters" page);
this module dispatches to them, skips placeholders, reads arrays, caches and hashes.

Hot path: `user_data_value` runs per key per row, so low-cardinality keys (country, state,
city, gender, names, dates of birth, zip codes) keep their final wire value, hash included,
in bounded dicts; phones take a fast path in `phone.py`; hashing is hashlib directly.

Total and bounded: any Python value a warehouse driver hands over gives a wire value or None
and, when it is dropped, a warning; never an exception. Values of a normalized key longer
than ``MAX_VALUE_CHARS`` are dropped before any character-wise work (``value_too_long``), and
are not kept in the caches.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from capisync.capi import geo, values
from capisync.capi.issues import Issue
from capisync.capi.keyrules import (  # re-exported: NormalizeContext, dropped... live on here
    _CTWA_CLID,
    _FBC,
    _FBP,
    _HEX64,
    _MESSAGES,  # noqa: F401  (tests read the messages here)
    MAX_VALUE_CHARS,
    ValueDropped,
    Warnings,
    _as_is,
    _cookie,
    _country,
    _dob,
    _email,
    _gender,
    _integer_of,
    _ip,
    _letters_of,
    _phone,
    _raw_of,
    _state,
    _zip,
    dropped,
)
from capisync.capi.keyrules import (
    NormalizeContext as NormalizeContext,
)
from capisync.capi.params import PARAMS, USER_DATA_KEYS

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
    max_chars: int  # a longer value is dropped unread (value_too_long)


def _spec(key: str, normalizer: Normalizer | None = None, cache_by: int = _NO_CACHE) -> _KeySpec:
    """A key's spec; without a normalizer, the key is sent (or hashed) as it is."""
    param = PARAMS[key]
    # Keys sent as they are (and external_id, hashed as it is) do only linear C-level work:
    # no bound. The normalized ones work character by character: bounded.
    max_chars = sys.maxsize if normalizer is None else MAX_VALUE_CHARS
    return _KeySpec(
        key,
        normalizer or _as_is(key),
        param.hashed,
        param.multi,
        cache_by,
        {},
        key == "external_id",
        max_chars,
    )


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
        _spec("external_id"),
        _spec("client_ip_address", _ip),
        _spec("fbc", _cookie("fbc", _FBC)),
        _spec("fbp", _cookie("fbp", _FBP)),
        _spec("ctwa_clid", _cookie("ctwa_clid", _CTWA_CLID)),
        _spec("lead_id", _integer_of("lead_id")),
        _spec("fb_login_id", _integer_of("fb_login_id")),
    )
}
for _key in USER_DATA_KEYS.difference(_SPECS):
    _SPECS[_key] = _spec(_key, _raw_of(_key))
# Meta documents these as integers: their normalized digits go out as a JSON integer
_INTEGER_KEYS = frozenset(k for k in USER_DATA_KEYS if PARAMS[k].kind in ("lead_id", "integer"))

_PLACEHOLDERS = frozenset({"null", "none", "n/a", "#n/a", "undefined", "nan"})


Text = str | values.Invalid | None  # trimmed text, None (missing), INVALID (unreadable)


def _text(value: object) -> Text:
    """A warehouse value as trimmed text; None for missing values (NULL, NaN, '', 'N/A');
    ``values.INVALID`` for a value with no text we can read: bytes that are not UTF-8, an
    integer or Decimal of more than ``values.MAX_NUMBER_DIGITS`` digits, a failing str()."""
    if isinstance(value, str):
        text = value.strip()
    elif value is None:
        return None
    elif value is True or value is False:
        return "true" if value else "false"  # most keys then drop it as malformed
    elif isinstance(value, int):
        # int(): compiled, str() of a value typed int writes a bool as 1 and an IntEnum bare
        return values.int_text(int(value))
    elif isinstance(value, float | Decimal):
        return _number_text(value)
    elif isinstance(value, date):
        return value.isoformat()
    else:
        readable = values.str_of(value)  # bytes as UTF-8, bounded, never raising
        if not isinstance(readable, str):
            return readable
        text = readable.strip()
    return _unless_placeholder(text)


def _unless_placeholder(text: str) -> str | None:
    if len(text) <= 9 and (not text or text.lower() in _PLACEHOLDERS) and text != "Nan":
        return None  # "Nan" is a first name; "nan", "NaN" are a dataframe's missing value
    return text


def _number_text(value: float | Decimal) -> Text:
    """94035.0 and Decimal("94035") are the zip 94035; NaN and infinities are missing."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if not value.is_finite():  # NaN, sNaN, Infinity: no comparison may touch an sNaN
        return None
    if value.adjusted() >= values.MAX_NUMBER_DIGITS:  # Decimal("1E+999999"): its int() alone
        return values.INVALID  # took 95 s of CPU
    whole = value.to_integral_value()
    return values.int_text(int(whole)) if whole == value else str(value)


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
        return _normalized(spec, text, ctx, warnings)
    if len(text) == 64 and _HEX64.fullmatch(text):
        return text.lower()  # already SHA-256: never hash twice
    return _sha256_hex(spec.key, _normalized(spec, text, ctx, warnings))


def _normalized(spec: _KeySpec, text: str, ctx: NormalizeContext, warnings: Warnings) -> str:
    if len(text) > spec.max_chars:
        raise dropped(spec.key, "value_too_long")
    return spec.normalize(text, ctx, warnings)


def _unreadable(key: str, warnings: Warnings) -> None:
    warnings.append(dropped(key, "value_unreadable").issue)


def _sha256_hex(key: str, normalized: str) -> str:
    try:
        data = normalized.encode()
    except UnicodeEncodeError:  # a lone surrogate (from Python-made rows; drivers give none)
        raise dropped(key, "text_malformed") from None
    return hashlib.sha256(data).hexdigest()


def _wire_text(spec: _KeySpec, text: str, ctx: NormalizeContext, warnings: Warnings) -> str | None:
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


def _from_cache(
    spec: _KeySpec,
    raw: str,
    cache_key: object,
    ctx: NormalizeContext,
    warnings: Warnings,
    *,
    arrays: bool,
) -> str | list[str] | None:
    """Cached keys remember the outcome of a raw string: wire value, "" (missing) or Issue."""
    result = spec.cache.get(cache_key)
    if result is None:
        text = _unless_placeholder(raw.strip())
        if text and text[0] == "[":  # never cached: an array at the top, text inside one
            if arrays and (items := _json_array(text)) is not None:
                return _wire_many(spec, items, ctx, warnings)
            result = _wire_uncached(spec, text, ctx)
        else:
            result = "" if text is None else _wire_uncached(spec, text, ctx)
            if len(raw) <= spec.max_chars:  # a megabyte cell is not worth its memory
                if len(spec.cache) >= CACHE_LIMIT:
                    spec.cache.clear()
                spec.cache[cache_key] = result
    if isinstance(result, Issue):
        warnings.append(result)
        return None
    return result or None


def _wire_uncached(spec: _KeySpec, text: str, ctx: NormalizeContext) -> str | Issue:
    """A cached key's wire value. Many raw values share a normalized one (ZIP+4 codes, names
    in any case), so its hash is remembered too: one SHA-256 per normalized value."""
    try:
        if (
            not spec.hashed
            or (spec.hash_optional and not ctx.hash_external_id)
            or (len(text) == 64 and _HEX64.fullmatch(text))
        ):
            return _wire(spec, text, ctx, [])  # cached keys never warn while keeping a value
        return _memo_sha256(spec.key, _normalized(spec, text, ctx, []))
    except ValueDropped as drop:
        return drop.issue


_HASHES: dict[str, str] = {}  # normalized value of a cached key -> its SHA-256 hex
_HASHES_LIMIT = 16_384


def _memo_sha256(key: str, normalized: str) -> str:
    digest = _HASHES.get(normalized)
    if digest is None:
        if len(_HASHES) >= _HASHES_LIMIT:
            _HASHES.clear()
        digest = _HASHES[normalized] = _sha256_hex(key, normalized)
    return digest


def _wire_many(
    spec: _KeySpec, items: list[object], ctx: NormalizeContext, warnings: Warnings
) -> str | list[str] | None:
    sent: list[str] = []
    for value in items:
        text = _text(value)
        if not isinstance(text, str):
            if text is not None:
                _unreadable(spec.key, warnings)
            continue
        wire = _wire_text(spec, text, ctx, warnings)
        if wire is not None and wire not in sent:
            sent.append(wire)
    if len(sent) > 1 and not spec.multi:
        warnings.append(dropped(spec.key, "multiple_values").issue)
        return sent[0]
    return sent[0] if len(sent) == 1 else (sent or None)


def _json_array(text: str) -> list[object] | None:
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        return None
    return parsed if isinstance(parsed, list) else None


def user_data_value(
    key: str, raw: object, ctx: NormalizeContext, warnings: list[Issue]
) -> str | int | list[str] | None:
    """The wire value of one user_data key of one row: a str, a list of several, or None;
    an int for the keys Meta documents as integers (lead_id, fb_login_id).

    Accepts a scalar, a list/tuple or a string holding a JSON array; normalizes each element,
    hashes where the key is hashed, de-duplicates in order, and appends an Issue to
    `warnings` for every value it drops (and for phones sent without a country code).
    """
    if key in _INTEGER_KEYS:
        return _integer_value(key, raw, ctx, warnings)
    spec = _SPECS.get(key) or _get_spec(key)
    if type(raw) is not str:
        if isinstance(raw, list | tuple):
            return _wire_many(spec, list(raw), ctx, warnings)
        if isinstance(raw, set | frozenset):  # no order of its own: sorted, so runs agree
            return _wire_many(spec, sorted(raw, key=values.sort_key), ctx, warnings)
        text = _text(raw)
        if isinstance(text, str):
            return _wire_text(spec, text, ctx, warnings)
        if text is not None:
            _unreadable(key, warnings)
        return None
    if spec.cache_by != _NO_CACHE:  # a repeated value costs one dict lookup, not even a strip
        return _from_cache(spec, raw, _cache_key(spec, raw, ctx), ctx, warnings, arrays=True)
    text = raw.strip()
    if len(text) <= 9 and (not text or text.lower() in _PLACEHOLDERS) and text != "Nan":
        return None
    if text[0] == "[" and (items := _json_array(text)) is not None:
        return _wire_many(spec, items, ctx, warnings)
    try:
        return _wire(spec, text, ctx, warnings)
    except ValueDropped as drop:
        warnings.append(drop.issue)
        return None


def _integer_value(
    key: str, raw: object, ctx: NormalizeContext, warnings: list[Issue]
) -> int | None:
    """lead_id, fb_login_id: the ID as an integer (digit strings read), else dropped.
    Numbers go to ``values`` as they are: a 5,000-digit int has no str() to normalize."""
    if isinstance(raw, list | tuple) and len(raw) == 1:
        raw = raw[0]  # one ID in an array is that ID
    if isinstance(raw, str):
        text = _unless_placeholder(raw.strip())
        if text is None:
            return None
        raw = text
    number = _INTEGER_COERCERS[PARAMS[key].kind](raw)
    if isinstance(number, int):
        return number
    if number is not None:
        warnings.append(dropped(key, f"{key}_malformed").issue)
    return None


_INTEGER_COERCERS = {"lead_id": values.to_lead_id, "integer": values.to_integer_id}


def normalize(
    key: str, value: object, *, country: str | None = None, year: int | None = None
) -> str | None:
    """The normalized value before hashing; None when the value is missing or dropped.

    A value that is already a SHA-256 hash (64 hex characters) comes back lowercased.
    ``year``: today's year, from the caller's clock; a date of birth after it is dropped
    (without it, only years before 1900 are; see NormalizeContext.current_year).
    """
    spec = _get_spec(key)
    text = _text(value)
    if not isinstance(text, str):
        return None
    if spec.hashed and _is_hash(text):
        return text.lower()
    try:
        return _normalized(spec, text, NormalizeContext(country=country, current_year=year), [])
    except ValueDropped:
        return None


def hash_value(
    key: str, value: object, *, country: str | None = None, year: int | None = None
) -> str | None:
    """What goes on the wire: SHA-256 hex for hashed keys, the cleaned value for the others.
    ``year`` as for ``normalize``."""
    spec = _get_spec(key)
    text = _text(value)
    if not isinstance(text, str):
        return None
    try:
        return _wire(spec, text, NormalizeContext(country=country, current_year=year), [])
    except ValueDropped:
        return None


def normalize_country(value: object) -> str | None:
    """ISO alpha-2 lowercase of a country code or name (the row's country); None if unknown."""
    text = _text(value)
    if not isinstance(text, str) or len(text) > MAX_VALUE_CHARS:
        return None
    return geo.country_code(text)


WIRE_MEMO_LIMIT = 16_384  # entries per user_data memo of the event builder, cleared when full


def memoize_wire(
    memo: dict[object, tuple[object, tuple[Issue, ...]]],
    memo_key: object,
    key: str,
    raw: str,
    ctx: NormalizeContext,
) -> tuple[Any, tuple[Issue, ...]]:
    """Compute, remember and return (wire value, warnings) of a text cell of a memoized key.

    The memo is the cache here: a cached key's value skips its own cache, which values seen
    once (a ZIP+4 code) would only fill and clear.
    """
    spec = _SPECS[key]
    text = _unless_placeholder(raw.strip())
    if spec.cache_by == _NO_CACHE or (text is not None and text[0] == "["):
        warnings: list[Issue] = []
        hit = (user_data_value(key, raw, ctx, warnings), tuple(warnings))
    elif text is None:
        hit = (None, ())
    else:
        wire = _wire_uncached(spec, text, ctx)
        hit = (None, (wire,)) if isinstance(wire, Issue) else (wire or None, ())
    if len(raw) <= spec.max_chars:  # a megabyte cell is not worth its memory
        if len(memo) >= WIRE_MEMO_LIMIT:
            memo.clear()
        memo[memo_key] = hit
    return hit


def user_data_column(
    key: str,
    cells: list[object],
    contexts: list[NormalizeContext],
    warned: dict[int, list[Issue]],
) -> list[str | int | list[str] | None]:
    """``user_data_value`` over a column (one context per row); warnings go to ``warned``.

    For keys normalized value by value (em, ph, IPs, cookies...), a plain text cell skips
    the dispatch: the normalizer is resolved once, called directly and hashed inline. Cells
    that could be a placeholder, a JSON array or a hash take ``user_data_value`` itself.
    """
    spec = _get_spec(key)
    if spec.cache_by != _NO_CACHE or spec.hash_optional or key in _INTEGER_KEYS:
        return [_value_at(key, raw, contexts[i], i, warned) for i, raw in enumerate(cells)]
    normalize, hashed, sha256, max_chars = (
        spec.normalize,
        spec.hashed,
        hashlib.sha256,
        spec.max_chars,
    )
    out: list[str | int | list[str] | None] = []
    scratch: list[Issue] = []
    for i, raw in enumerate(cells):
        if type(raw) is not str:
            out.append(None if raw is None else _value_at(key, raw, contexts[i], i, warned))
            continue
        text = raw.strip()  # longer than any placeholder, no array, no hash: the common cell
        if (
            len(text) <= 9
            or text[0] == "["
            or (hashed and len(text) == 64)
            or len(text) > max_chars
        ):
            out.append(_value_at(key, raw, contexts[i], i, warned))
            continue
        try:
            wire = normalize(text, contexts[i], scratch)
            out.append(sha256(wire.encode()).hexdigest() if hashed else wire)
        except ValueDropped as drop:
            scratch.append(drop.issue)
            out.append(None)
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 form (see _sha256_hex)
            scratch.append(dropped(key, "text_malformed").issue)
            out.append(None)
        if scratch:
            warned.setdefault(i, []).extend(scratch)
            scratch.clear()
    return out


def _value_at(
    key: str, raw: object, ctx: NormalizeContext, row: int, warned: dict[int, list[Issue]]
) -> str | int | list[str] | None:
    warnings: list[Issue] = []
    wire = user_data_value(key, raw, ctx, warnings)
    if warnings:
        warned.setdefault(row, []).extend(warnings)
    return wire
