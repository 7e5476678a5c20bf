"""Coercion of warehouse values into the types Meta's wire format wants.

Every coercer takes one raw cell and returns the wire value, ``None`` when the cell is empty
(the key is then omitted), or ``INVALID`` when the cell holds something that cannot be read.
The event builder decides what INVALID means: for ``event_time``, ``value`` and ``currency``
it stays in the event so validation rejects it with a precise reason; for the rest the key
is dropped with a warning. The happy path raises no exception: parsing is tried only on
strings, and only there can a ``ValueError`` be caught.
"""

from __future__ import annotations

import json
import math
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


class _Invalid:
    """Marks a value that could not be coerced. Holds nothing of the raw value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<invalid>"


INVALID: Final = _Invalid()

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
        return _from_epoch(raw)  # type: ignore[arg-type]
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
    return INVALID


def _from_epoch(number: int | float | Decimal) -> int | _Invalid:
    seconds = float(number)
    if not math.isfinite(seconds) or seconds < 0:
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
    if _looks_numeric(text):
        return _from_epoch(float(text))
    try:
        return _from_datetime(datetime.fromisoformat(_utc_suffix(text)), tz)
    except ValueError:
        pass
    try:  # RFC 2822 / HTTP dates, as logs and some CRMs export them
        return _from_datetime(parsedate_to_datetime(text), tz)
    except (TypeError, ValueError, IndexError):
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
    """value / predicted_ltv / net_revenue -> float. Decimals and numeric strings are fine."""
    cls = type(raw)
    if cls is float or cls is int or cls is Decimal:
        number = float(raw)  # type: ignore[arg-type]
        return number if math.isfinite(number) else INVALID
    if raw is None:
        return None
    if cls is bool or not isinstance(raw, int | float | Decimal | str):
        return INVALID
    if isinstance(raw, str):
        return _number_from_text(raw.strip())
    number = float(raw)
    return number if math.isfinite(number) else INVALID


def _number_from_text(text: str) -> float | _Invalid | None:
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return INVALID
    return number if math.isfinite(number) else INVALID


def to_int(raw: object) -> int | _Invalid | None:
    """num_items, data_processing_options_country/state -> int (3.0 and "3" are fine)."""
    if type(raw) is int:
        return raw if JSON_INT_MIN <= raw <= JSON_INT_MAX else INVALID
    number = to_number(raw)
    if not isinstance(number, float):
        return number  # None or INVALID
    if not number.is_integer():
        return INVALID
    whole = int(number)
    return whole if JSON_INT_MIN <= whole <= JSON_INT_MAX else INVALID


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
    return code if code in iso_currencies() else INVALID


def to_text(raw: object) -> str | None:
    """A string parameter: trimmed; 123.0 from a float column reads as '123'."""
    if type(raw) is str:
        text = raw.strip()
        return text or None
    if raw is None:
        return None
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return None
        if raw.is_integer():
            return str(int(raw))
    text = str(raw).strip()
    return text or None


def to_lower_text(raw: object) -> str | None:
    """content_type, delivery_category: Meta's enums are lowercase."""
    text = to_text(raw)
    return text.lower() if text is not None else None


def to_event_name(raw: object) -> str | None:
    """Trimmed; a standard event in any case gets Meta's spelling ('purchase' -> 'Purchase')."""
    text = to_text(raw)
    if text is None:
        return None
    return _STANDARD_BY_FOLDED.get(text.lower(), text)


def to_action_source(raw: object) -> str | None:
    """'Physical Store' -> 'physical_store'. Unknown values pass through for validation."""
    text = to_text(raw)
    if text is None:
        return None
    folded = text.lower().replace(" ", "_").replace("-", "_")
    return folded if folded in ACTION_SOURCES else text


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
        return INVALID if "," in text else [text]
    if raw is None:
        return None
    items = _as_sequence(raw)
    if items is None:
        scalar = to_text(raw)
        return [scalar] if scalar is not None else None
    return _strings(items)


def _string_list_from_json(text: str) -> list[str] | _Invalid | None:
    parsed = _load_json(text)
    return _strings(parsed) if isinstance(parsed, list) else INVALID


def _strings(items: list[Any] | tuple[Any, ...]) -> list[str] | _Invalid | None:
    out: list[str] = []
    for item in items:
        if type(item) is str:
            text: str | None = item.strip() or None
            if text is not None and not _is_utf8(text):
                return INVALID  # a lone surrogate from a JSON escape
        elif isinstance(item, Mapping | list | tuple):
            return INVALID
        else:
            text = to_text(item)
        if text is not None:
            out.append(text)
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
                if content_id and not _is_utf8(content_id):
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
    return _json_text(str(raw))


def _json_text(text: str) -> str | None:
    """Trimmed text, or _NotJson for a lone surrogate: JSON's "\\ud83d" escape (a cut emoji,
    as JavaScript writes it) parses into one, and it has no UTF-8 form."""
    if not _is_utf8(text):
        raise _NotJson
    return text.strip() or None


def _json_key(key: object) -> str:
    text = str(key)
    if not _is_utf8(text):
        raise _NotJson
    return text


def _is_utf8(text: str) -> bool:
    """False for text holding a lone surrogate; ASCII text (most) is answered without a copy."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


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
    """Warehouse arrays: lists, tuples, sets, and array types exposing tolist() (numpy, Arrow)."""
    if isinstance(raw, list | tuple):
        return raw
    if isinstance(raw, set | frozenset):
        return sorted(raw, key=str)
    tolist = getattr(raw, "tolist", None) or getattr(raw, "to_pylist", None)
    if callable(tolist):
        result = tolist()
        if isinstance(result, list):
            return result
    return None


def _json_cell(text: str) -> Any:
    """A warehouse cell holding JSON: None when blank, INVALID when unreadable."""
    text = text.strip()
    return _load_json(text) if text else None


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        return INVALID


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


def to_messaging_channel(raw: object) -> str | None:
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
        if not (text.isascii() and text.isdigit()):
            return INVALID
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
