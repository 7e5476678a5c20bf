"""Coercion of warehouse values into the types Meta's wire format wants.

Every coercer takes one raw cell and returns the wire value, ``None`` when the cell is empty
(the key is then omitted), or ``INVALID`` when the cell holds something that cannot be read.
The event builder decides what INVALID means: for ``event_time``, ``value`` and ``currency``
it stays in the event so validation rejects it with a precise reason; for the rest the key
is dropped with a warning. The happy path raises no exception: parsing is tried only on
strings, and only there can a ``ValueError`` be caught.

Every coercer is total and bounded: whatever a warehouse driver hands over (huge integers and
Decimals from NUMERIC columns, NaN and signaling NaN, bytes, times, UUIDs, containers, lone
surrogates, NUL characters, megabytes of text) it answers a value, None or INVALID, in
linear time at worst; nothing it is given makes it raise (tests/unit/test_warehouse_values.py).
"""

from __future__ import annotations

import json
import math
import numbers
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any, Final

import pycountry

from capisync.capi.params import ACTION_SOURCES
from capisync.capi.rules import APP_FLAGS, CUSTOMER_SEGMENTS, DELIVERY_CATEGORIES, LEAD_ID_DIGITS
from capisync.capi.textforms import ascii_form, is_utf8, numeric_form


class _Invalid:
    """Marks a value that could not be coerced. Holds nothing of the raw value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<invalid>"


INVALID: Final = _Invalid()
Invalid = _Invalid  # the type of INVALID, for annotations elsewhere

# Epoch magnitudes: 1e11 s is the year 5138, so anything larger is finer than seconds.
_MS_THRESHOLD = 1e11
_US_THRESHOLD = 1e14
_NS_THRESHOLD = 1e17

STANDARD_EVENTS: Final = (
    "AddPaymentInfo",
    "AddToCart",
    "AddToWishlist",
    "CompleteRegistration",
    "Contact",
    "CustomizeProduct",
    "Donate",
    "FindLocation",
    "InitiateCheckout",
    "Lead",
    "PageView",
    "Purchase",
    "Schedule",
    "Search",
    "StartTrial",
    "SubmitApplication",
    "Subscribe",
    "ViewContent",
)
_STANDARD_BY_FOLDED: Final = {name.lower(): name for name in STANDARD_EVENTS}
_TRUE: Final = frozenset({"true", "t", "yes", "y", "1"})
_FALSE: Final = frozenset({"false", "f", "no", "n", "0"})
# Longer text is no time, number or code: read as INVALID before any character-wise work.
MAX_TIME_CHARS: Final = 100  # "Thursday, 01 January 2026 00:00:00.123456789 +0000 (UTC)" is 57
MAX_NUMBER_CHARS: Final = 1000
MAX_WORD_CHARS: Final = 64  # currencies, booleans, event names and action sources as words
# A number of more digits is no ID, amount or time, and Python writes its text in quadratic
# time (or refuses to, beyond sys.get_int_max_str_digits(): 4,300 by default).
MAX_NUMBER_DIGITS: Final = 1000
_MAX_NUMBER_BITS: Final = 3322  # 10**1000 < 2**3322
_INT_TEXT: Final = re.compile(r"[+-]?[0-9]{1,21}")


@cache
def iso_currencies() -> frozenset[str]:
    """ISO 4217 alphabetic codes, from pycountry's package data (read once)."""
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def parse_event_time(raw: object, tz: tzinfo = UTC) -> int | _Invalid | None:
    """Any warehouse time -> integer UNIX seconds. Naive datetimes are read in ``tz``.

    Accepts epoch seconds (int/float/Decimal), epoch milli/micro/nanoseconds (by magnitude),
    datetimes, dates (midnight in ``tz``), ISO-8601 strings with or without offset or ``Z``,
    and numeric strings.
    """
    cls = type(raw)
    if cls is int:
        return _from_epoch(raw)
    if cls is datetime:
        return _from_datetime(raw, tz)  # type: ignore[arg-type]
    if raw is None or cls is bool:
        return None if raw is None else INVALID
    if isinstance(raw, int | float | Decimal):
        return _from_epoch(raw)
    if isinstance(raw, datetime):  # pandas.Timestamp and other subclasses
        return _from_datetime(raw, tz)
    if isinstance(raw, date):
        return _from_datetime(datetime(raw.year, raw.month, raw.day), tz)
    if isinstance(raw, str):
        return _parse_time_text(raw.strip(), tz)
    if isinstance(raw, numbers.Real):  # numpy's scalars and other registered numbers
        return _from_epoch(raw)
    return INVALID


def _from_epoch(number: object) -> int | _Invalid:
    seconds = finite_float(number)
    if seconds is None or seconds < 0:
        return INVALID
    if seconds >= _NS_THRESHOLD:
        seconds /= 1e9
    elif seconds >= _US_THRESHOLD:
        seconds /= 1e6
    elif seconds >= _MS_THRESHOLD:
        seconds /= 1e3
    return int(seconds)


_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _from_datetime(moment: datetime, tz: tzinfo) -> int:
    # timedelta arithmetic is ~8x faster than .timestamp(); days * 86400 + seconds floors
    # like it (a timedelta keeps 0 <= seconds < 86400 and 0 <= microseconds), without the
    # microsecond arithmetic of `delta // timedelta(seconds=1)`
    if moment.tzinfo is None:
        if tz is UTC:
            delta = moment - _EPOCH_NAIVE
            return delta.days * 86400 + delta.seconds
        moment = moment.replace(tzinfo=tz)
    delta = moment - _EPOCH_UTC
    return delta.days * 86400 + delta.seconds


def _parse_time_text(text: str, tz: tzinfo) -> int | _Invalid | None:
    if not text:
        return None
    if len(text) > MAX_TIME_CHARS:
        return INVALID
    if not text.isascii():
        text = numeric_form(text)  # "２０２６‐０１‐０１" (full-width digits, U+2010 hyphens)
    if _looks_numeric(text):
        return _from_epoch(float(text))
    try:
        return _from_datetime(datetime.fromisoformat(_utc_suffix(text)), tz)
    except ValueError:
        pass
    try:  # RFC 2822 / HTTP dates, as logs and some CRMs export them
        return _from_datetime(parsedate_to_datetime(text), tz)
    except (TypeError, ValueError, IndexError, OverflowError):  # Overflow: year 9999999999
        return INVALID


def _utc_suffix(text: str) -> str:
    """'2026-11-26 13:37:33 UTC' (a common warehouse rendering) -> an ISO offset."""
    for suffix in (" UTC", " GMT", " Z"):
        if text.endswith(suffix):
            return text[: -len(suffix)] + "+00:00"
    return text


def _looks_numeric(text: str) -> bool:
    # isdecimal, not isdigit: '¹' is a digit to Python but not a number float() reads
    return text.replace(".", "", 1).isdecimal()


def to_number(raw: object) -> float | _Invalid | None:
    """value / predicted_ltv / net_revenue -> float. Decimals and numeric strings are fine;
    NaN, infinities and numbers beyond a float (an int above 1.8e308, Decimal("1E+5000"),
    Decimal("sNaN")) are INVALID."""
    cls = type(raw)
    if isinstance(raw, float):
        plain = float(raw)  # a subclass (numpy's float64) as a plain float
        return plain if math.isfinite(plain) else INVALID
    if cls is int or cls is Decimal:
        number = finite_float(raw)
        return INVALID if number is None else number
    if raw is None:
        return None
    if isinstance(raw, str):
        return _number_from_text(raw.strip())
    if cls is bool or not isinstance(raw, numbers.Real | Decimal):  # numbers.Real: numpy's too
        return INVALID
    number = finite_float(raw)
    return INVALID if number is None else number


def finite_float(number: object) -> float | None:
    """A number as a finite float; None for NaN, infinities and numbers beyond a float."""
    try:
        as_float = float(number)  # type: ignore[arg-type]
    except (OverflowError, ValueError, TypeError):  # 10**400; Decimal("sNaN") is ValueError
        return None
    return as_float if math.isfinite(as_float) else None


def _number_from_text(text: str) -> float | _Invalid | None:
    if not text:
        return None
    if len(text) > MAX_NUMBER_CHARS:
        return INVALID
    try:
        number = float(text if text.isascii() else numeric_form(text))  # "１４２．５２", "−5"
    except ValueError:
        return INVALID
    return number if math.isfinite(number) else INVALID


def to_int(raw: object) -> int | _Invalid | None:
    """num_items, data_processing_options_country/state -> int (3.0 and "3" are fine).

    Exact for integers, integral Decimals and strings of digits; INVALID beyond 64 bits."""
    cls = type(raw)
    if cls is int:
        return _json_int(raw)  # type: ignore[arg-type]
    if raw is None:
        return None
    if cls is str:
        text = raw.strip()  # type: ignore[attr-defined]
        if len(text) <= 24:
            text = numeric_form(text)  # "３", "−3"
            if _INT_TEXT.fullmatch(text):  # exact: float() would round 2**53 + 1
                return _json_int(int(text))
    elif cls is Decimal:
        return _decimal_int(raw)  # type: ignore[arg-type]
    elif cls is not bool and isinstance(raw, numbers.Integral):  # IntEnum, numpy's integers
        return _json_int(int(raw))
    number = to_number(raw)
    if not isinstance(number, float):
        return number  # None or INVALID
    if not number.is_integer():
        return INVALID
    return _json_int(int(number))


def _decimal_int(number: Decimal) -> int | _Invalid:
    if not number.is_finite() or number.adjusted() > 20:  # 2**64 has 20 digits
        return INVALID
    whole = number.to_integral_value()
    return _json_int(int(whole)) if whole == number else INVALID


def _json_int(number: int) -> int | _Invalid:
    return number if JSON_INT_MIN <= number <= JSON_INT_MAX else INVALID


def to_bool(raw: object) -> bool | _Invalid | None:
    """opt_out -> bool from booleans, 0/1 and the usual words."""
    if type(raw) is bool:
        return raw
    if raw is None:
        return None
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = raw.strip().lower()
        if not word:
            return None
        if not word.isascii() and len(word) <= MAX_WORD_CHARS:
            word = ascii_form(word).lower()  # "ｙｅｓ"
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return INVALID


def to_currency(raw: object) -> str | _Invalid | None:
    """currency -> ISO 4217 code, uppercase ('usd ' -> 'USD'); INVALID if not a known code."""
    if not isinstance(raw, str):
        return None if raw is None else INVALID
    code = raw.strip().upper()
    if not code:
        return None
    if not code.isascii() and len(code) <= MAX_WORD_CHARS:
        code = ascii_form(code).upper()  # "ＥＵＲ" from a full-width input method
    return code if code in iso_currencies() else INVALID


def to_text(raw: object) -> str | _Invalid | None:
    """A string parameter: trimmed; 123.0 from a float column reads as '123', bytes as UTF-8.

    INVALID for what the wire and the ledger cannot carry: text with a lone surrogate or a
    NUL character, bytes that are not UTF-8, an integer of more than MAX_NUMBER_DIGITS
    digits, a value whose ``str()`` fails.
    """
    if type(raw) is str:
        return wire_text(raw.strip())
    if raw is None:
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return None
        if raw.is_integer():
            return str(int(raw))
    text = str_of(raw)
    return wire_text(text.strip()) if isinstance(text, str) else text


def wire_text(text: str) -> str | _Invalid | None:
    """Trimmed text as a string parameter: None when empty, INVALID when it holds a NUL or a
    lone surrogate (PostgreSQL stores no NUL, UTF-8 has no surrogate)."""
    if not text:
        return None
    return text if is_wire_text(text) else INVALID


def is_wire_text(text: str) -> bool:
    """No NUL character and no lone surrogate: text JSON, UTF-8 and every ledger can hold."""
    return "\x00" not in text and is_utf8(text)


def str_of(raw: object) -> str | _Invalid:
    """``str(raw)``, total and bounded: bytes are read as UTF-8, an int of more than
    MAX_NUMBER_DIGITS digits (or a type whose ``str()`` fails) is INVALID."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return int_text(int(raw))
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            return bytes(raw).decode()
        except UnicodeDecodeError:
            return INVALID
    try:
        return str(raw)
    except Exception:  # a driver's type with a failing __str__, a list of huge ints...
        return INVALID


def int_text(number: int) -> str | _Invalid:
    """Decimal digits of an integer; INVALID beyond MAX_NUMBER_DIGITS digits (bounded time)."""
    if number.bit_length() > _MAX_NUMBER_BITS:
        return INVALID
    text = str(number)
    return text if len(text) - (number < 0) <= MAX_NUMBER_DIGITS else INVALID


def to_lower_text(raw: object) -> str | _Invalid | None:
    """content_type, delivery_category: Meta's enums are lowercase."""
    text = to_text(raw)
    return text.lower() if isinstance(text, str) else text


def to_event_name(raw: object) -> str | _Invalid | None:
    """Trimmed; a standard event in any case gets Meta's spelling ('purchase' -> 'Purchase')."""
    text = to_text(raw)
    if not isinstance(text, str):
        return text
    return _STANDARD_BY_FOLDED.get(_word(text), text)


def to_action_source(raw: object) -> str | _Invalid | None:
    """'Physical Store' -> 'physical_store'. Unknown values pass through for validation."""
    text = to_text(raw)
    if not isinstance(text, str):
        return text
    folded = _word(text).replace(" ", "_").replace("-", "_")
    return folded if folded in ACTION_SOURCES else text


def _word(text: str) -> str:
    """Lowercase, full-width letters and Unicode dashes and spaces read as ASCII."""
    if text.isascii() or len(text) > MAX_WORD_CHARS:
        return text.lower()
    return ascii_form(text).lower()


def to_string_list(raw: object) -> list[str] | _Invalid | None:
    """content_ids: a warehouse array, a JSON-array string, or one comma-free scalar.

    A string with commas that is not a JSON array is ambiguous (one ID with a comma, or a
    delimited list?), so it is INVALID rather than guessed.
    """
    if type(raw) is list:
        return _strings(raw)  # the usual warehouse array
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return None
        if text.startswith(("[", "{")):
            return _string_list_from_json(text)
        if "," in text or not is_wire_text(text):
            return INVALID
        return [text]
    if raw is None:
        return None
    items = _as_sequence(raw)
    if items is None:
        scalar = to_text(raw)
        return [scalar] if isinstance(scalar, str) else scalar
    return _strings(items)


def _string_list_from_json(text: str) -> list[str] | _Invalid | None:
    parsed = _load_json(text)
    return _strings(parsed) if isinstance(parsed, list) else INVALID


def _strings(items: list[Any] | tuple[Any, ...]) -> list[str] | _Invalid | None:
    out: list[str] = []
    for item in items:
        if isinstance(item, Mapping | list | tuple):
            return INVALID
        text = to_text(item)  # INVALID for a lone surrogate from a JSON escape, a NUL...
        if isinstance(text, str):
            out.append(text)
        elif text is INVALID:
            return INVALID
    return out or None


def to_data_processing_options(raw: object) -> list[str] | _Invalid | None:
    """['LDU'] from a list, a JSON array or the bare word; entries uppercased."""
    options = to_string_list(raw)
    if options is None or options is INVALID:
        return options
    return [option.upper() for option in options]  # type: ignore[union-attr]


def to_contents(raw: object) -> list[dict[str, Any]] | _Invalid | None:
    """contents: a list of objects (or its JSON). ids become strings, quantity an int,
    item_price a float. Items without ``id`` are kept so that validation rejects them."""
    if isinstance(raw, str):
        raw = _json_cell(raw)
        if raw is None:
            return None
    if isinstance(raw, Mapping):
        raw = [raw]
    items = _as_sequence(raw)
    if items is None:
        return None if raw is None else INVALID
    out: list[dict[str, Any]] = []
    for item in items:
        content = _content_item(item)
        if content is INVALID:
            return INVALID
        out.append(content)  # type: ignore[arg-type]
    return out or None


def _content_item(item: object) -> dict[str, Any] | _Invalid:
    if not isinstance(item, Mapping):
        return INVALID
    content: dict[str, Any] = {}
    try:
        for key, value in item.items():
            if value is None:
                continue
            name = _json_key(key)
            if name == "id":  # text on the wire, whatever its type: a 30-digit id is fine
                content_id = to_text(value)
                if content_id is INVALID:
                    return INVALID
                if content_id is not None:
                    content[name] = content_id
            else:
                content[name] = _json_value(value, 1)
    except _NotJson:
        return INVALID
    for key, coerce in (("quantity", to_int), ("item_price", to_number)):
        if key in content:
            value = coerce(content[key])
            if value is INVALID:
                return INVALID
            if value is None:  # NaN, as a dataframe writes a missing price
                del content[key]
            else:
                content[key] = value
    return content


def to_object(raw: object) -> dict[str, Any] | _Invalid | None:
    """app_data, original_event_data: a mapping or a JSON-object string."""
    if isinstance(raw, str):
        raw = _json_cell(raw)
        if raw is None:
            return None
    if isinstance(raw, Mapping):
        return _json_object(raw)
    return None if raw is None else INVALID


# What the request's JSON writer (orjson) carries: 64-bit integers, nesting under 255 levels.
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1
JSON_MAX_DEPTH = 64


class _NotJson(Exception):
    """A value the request body cannot carry: the whole cell is unreadable."""


def to_json_value(raw: object) -> Any:
    """A free custom property: anything JSON can carry, Decimals as floats, times as ISO.
    INVALID for what it cannot: an integer beyond 64 bits, nesting deeper than 64 levels."""
    try:
        return _json_value(raw, 0)
    except _NotJson:
        return INVALID


def _json_value(raw: object, depth: int) -> Any:
    cls = type(raw)
    if cls is str:
        return _json_text(raw)  # type: ignore[arg-type]
    if raw is None or cls is bool:
        return raw
    if isinstance(raw, int):
        number = int(raw)  # an IntEnum as its number
        if not JSON_INT_MIN <= number <= JSON_INT_MAX:
            raise _NotJson
        return number
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, Decimal):
        as_float = to_number(raw) if raw.is_finite() else None
        if as_float is INVALID:  # beyond a float (1e400)
            raise _NotJson
        return as_float
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    if depth >= JSON_MAX_DEPTH and isinstance(raw, Mapping | list | tuple | set | frozenset):
        raise _NotJson
    if isinstance(raw, Mapping):
        return {_json_key(k): _json_value(v, depth + 1) for k, v in raw.items()}
    items = _as_sequence(raw)
    if items is not None:
        return [_json_value(item, depth + 1) for item in items]
    if isinstance(raw, numbers.Real):  # numpy's scalars: a number stays a number
        return _json_number(raw)
    return _json_text(str_of(raw))


def _json_number(raw: numbers.Real) -> Any:
    if isinstance(raw, numbers.Integral):
        number = int(raw)
        if not JSON_INT_MIN <= number <= JSON_INT_MAX:
            raise _NotJson
        return number
    return finite_float(raw)


def _json_text(text: str | _Invalid) -> str | None:
    """Trimmed text, or _NotJson for a lone surrogate: JSON's "\\ud83d" escape (a cut emoji,
    as JavaScript writes it) parses into one, and it has no UTF-8 form."""
    if not isinstance(text, str) or not is_utf8(text):
        raise _NotJson
    return text.strip() or None


def _json_key(key: object) -> str:
    text = key if type(key) is str else str_of(key)
    if not isinstance(text, str) or not is_utf8(text):
        raise _NotJson
    return text


def _json_object(raw: Mapping[Any, Any]) -> dict[str, Any] | _Invalid:
    """A mapping's non-null entries as JSON values; INVALID if one cannot be carried."""
    try:
        return {_json_key(k): _json_value(v, 1) for k, v in raw.items() if v is not None}
    except _NotJson:
        return INVALID


def is_blank(raw: object) -> bool:
    """None, an empty or all-space string, NaN, or an empty list: the cell says nothing."""
    if raw is None:
        return True
    cls = type(raw)
    if cls is str:
        return not raw.strip()  # type: ignore[attr-defined]
    if cls is float:
        return raw != raw  # NaN, as pandas writes missing numbers
    if cls is list or cls is tuple:
        return not raw
    return False


def _as_sequence(raw: object) -> list[Any] | tuple[Any, ...] | None:
    """Warehouse arrays: lists, tuples, sets, and array types exposing tolist() (numpy, Arrow).

    A memoryview (bytea from some drivers) is bytes, not an array of its byte values."""
    if isinstance(raw, list | tuple):
        return raw
    if isinstance(raw, set | frozenset):
        return sorted(raw, key=sort_key)
    if isinstance(raw, str | bytes | bytearray | memoryview | numbers.Number):
        return None
    try:
        tolist = getattr(raw, "tolist", None) or getattr(raw, "to_pylist", None)
        result = tolist() if callable(tolist) else None
    except Exception:  # an array type that fails to convert: no array we can read
        return None
    return result if isinstance(result, list) else None


def sort_key(item: object) -> str:
    """The order of a set's items (sets have none): their text, '' where they have none."""
    text = item if type(item) is str else str_of(item)
    return text if isinstance(text, str) else ""


def _json_cell(text: str) -> Any:
    """A warehouse cell holding JSON: None when blank, INVALID when unreadable."""
    text = text.strip()
    return _load_json(text) if text else None


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        return INVALID  # ValueError: also an integer of more than 4,300 digits


# ---- coercers read from the rule table (capi/rules.py, capi/params.py) ----------------------


def to_app_flag(raw: object) -> int | _Invalid | None:
    """advertiser_tracking_enabled / application_tracking_enabled -> the integer 0 or 1.

    Meta wants 0 or 1 and answers ``true`` "out of range": booleans, 0/1 numbers and the words
    of ``to_bool`` ("true", "false", "0", "1", "yes"...) become 0 or 1; anything else INVALID.
    """
    if isinstance(raw, float | Decimal):  # 1.0 from a JSON number; never sNaN compared
        finite = math.isfinite(raw) if isinstance(raw, float) else raw.is_finite()
        return int(raw) if finite and raw in (0, 1) else INVALID
    flag = to_bool(raw)
    if flag is None or flag is INVALID:
        return flag
    return 1 if flag is True else 0


def to_app_data(raw: object) -> dict[str, Any] | _Invalid | None:
    """app_data: ``to_object``, with its tracking flags as the integers 0 or 1 (see
    ``to_app_flag``). A flag that cannot be read is kept as it was, so that validation
    rejects the row with a precise reason; extinfo is left for validation to check."""
    app_data = to_object(raw)
    if not isinstance(app_data, dict):
        return app_data
    for key in APP_FLAGS:
        if key in app_data:
            flag = to_app_flag(app_data[key])
            if flag is not None and flag is not INVALID:
                app_data[key] = flag
    return app_data


def _member_of(allowed: frozenset[str], raw: object) -> str | _Invalid | None:
    """Lowercased trimmed text that must be one of ``allowed``; INVALID when it is not."""
    text = to_lower_text(raw)
    if text is None:
        return None
    return text if text in allowed else INVALID


def to_customer_segmentation(raw: object) -> str | _Invalid | None:
    """custom_data.customer_segmentation: one of Meta's values (rules.CUSTOMER_SEGMENTS)."""
    return _member_of(CUSTOMER_SEGMENTS, raw)


def to_delivery_category(raw: object) -> str | _Invalid | None:
    """custom_data.delivery_category: in_store, curbside or home_delivery."""
    return _member_of(DELIVERY_CATEGORIES, raw)


def to_messaging_channel(raw: object) -> str | _Invalid | None:
    """messaging_channel: lowercased ('WhatsApp' -> 'whatsapp'); an unknown channel is kept
    so that validation rejects the row (a business messaging event cannot go without one)."""
    return to_lower_text(raw)


def to_integer_id(raw: object, min_digits: int = 1, max_digits: int = 19) -> int | _Invalid | None:
    """An ID Meta documents as an integer (lead_id, fb_login_id) -> int.

    Integers, integral floats/Decimals and digit strings (a warehouse often stores IDs as
    text) of ``min_digits``..``max_digits`` digits; anything else is INVALID.
    """
    if raw is None:
        return None
    cls = type(raw)
    if cls is bool:
        return INVALID
    if cls is str:
        text = raw.strip()  # type: ignore[attr-defined]
        if not text:
            return None
        if not text.isascii():  # full-width digits from a spreadsheet: NFKC makes them ASCII
            text = unicodedata.normalize("NFKC", text)
        if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > max_digits:
            return INVALID  # counted first: int() of a megabyte of digits raises
        number = int(text)
    elif isinstance(raw, int):
        number = int(raw)
    elif isinstance(raw, Decimal):
        # adjusted() first: int(Decimal("1E+999999")) would take minutes
        if not raw.is_finite() or raw.adjusted() >= max_digits or raw != raw.to_integral_value():
            return INVALID
        number = int(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer():
            return INVALID
        number = int(raw)
    else:
        return INVALID
    # compared, not counted with str(): a 5,000-digit int has no str() in Python 3.11+
    if not 10 ** (min_digits - 1) <= number < 10**max_digits:
        return INVALID
    return number


def to_lead_id(raw: object) -> int | _Invalid | None:
    """user_data.lead_id: the lead's ID, an integer of 15 or 16 digits."""
    low, high = LEAD_ID_DIGITS
    return to_integer_id(raw, low, high)
