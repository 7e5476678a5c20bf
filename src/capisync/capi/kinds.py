"""Is this a valid wire value of that key? One answer per ``params.Kind``, for every side.

``fits(param, value)`` is what the pre-send validator and the sandbox both ask of a value;
neither keeps its own idea of a number, a hash or a lead ID. Types are compared exactly:
``True`` is not the integer 1 here, as it is not to Meta ("out of range").
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from typing import Any

from capisync.capi import rules
from capisync.capi.params import Param
from capisync.capi.values import iso_currencies

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4_PATTERN = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def is_empty(value: Any) -> bool:
    """None, "" or []: a key that says nothing (Meta treats it as absent)."""
    return (
        value is None or (type(value) is str and value == "") or (type(value) is list and not value)
    )


def fits(param: Param, value: Any) -> bool:
    """True when ``value`` is a valid wire value of ``param`` (see ``params.Kind``)."""
    check = _FITS.get(param.kind)
    return True if check is None else check(param, value)


def is_hash(value: Any) -> bool:
    """64 hex digits. bytes.fromhex is C-fast; it skips spaces, so 32 bytes proves 64 digits."""
    if type(value) is not str or len(value) != 64:
        return False
    try:
        return len(bytes.fromhex(value)) == 32
    except ValueError:
        return False


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool), or a numeric string as in Meta's example "142.52"."""
    cls = type(value)
    if cls is int:
        return True
    if cls is float:
        return math.isfinite(value)
    if cls is str:
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    return False


def is_ip(value: Any) -> bool:
    if type(value) is not str:
        return False
    if IPV4_PATTERN.fullmatch(value):
        return True  # the common case, without ipaddress's slower parser
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def strings(value: Any) -> bool:
    """A string or integer, or a list of them (bools excluded)."""
    if type(value) is list:
        return all(type(v) is str or type(v) is int for v in value)
    return type(value) is str or type(value) is int


def _name(param: Param, value: Any) -> bool:
    return type(value) is str and bool(value.strip())


def _text(param: Param, value: Any) -> bool:
    return type(value) is str


def _id(param: Param, value: Any) -> bool:
    return type(value) is str or type(value) is int


def _integer(param: Param, value: Any) -> bool:
    return type(value) is int


def _bool(param: Param, value: Any) -> bool:
    return type(value) is bool


def _number(param: Param, value: Any) -> bool:
    return is_number(value)


def _currency(param: Param, value: Any) -> bool:
    return type(value) is str and value.upper() in iso_currencies()


def _enum(param: Param, value: Any) -> bool:
    return type(value) is str and value in param.allowed


def _object(param: Param, value: Any) -> bool:
    return type(value) is dict


def _strings(param: Param, value: Any) -> bool:
    return type(value) is list and strings(value)


def _list(param: Param, value: Any) -> bool:
    return type(value) is list


def _options(param: Param, value: Any) -> bool:
    return type(value) is list and all(option == rules.LDU for option in value)


def _hashes(param: Param, value: Any) -> bool:
    if type(value) is not list:
        return is_hash(value)
    for item in value:  # noqa: SIM110 - a plain loop beats all(generator) in this hot path
        if not is_hash(item):
            return False
    return True


def _external_id(param: Param, value: Any) -> bool:
    return strings(value)


def _raw(param: Param, value: Any) -> bool:
    return (type(value) is str or type(value) is int) and not is_hash(value)


def _ip(param: Param, value: Any) -> bool:
    return is_ip(value)


def _fbc(param: Param, value: Any) -> bool:
    return type(value) is str and rules.FBC_SHAPE.fullmatch(value) is not None


def _ctwa_clid(param: Param, value: Any) -> bool:
    return type(value) is str and rules.CTWA_CLID_SHAPE.fullmatch(value) is not None


def _lead_id(param: Param, value: Any) -> bool:
    return rules.is_lead_id(value)


def _flag(param: Param, value: Any) -> bool:
    return rules.is_app_flag(value)


def _extinfo(param: Param, value: Any) -> bool:
    return rules.is_extinfo(value)


_FITS: dict[str, Callable[[Param, Any], bool]] = {
    "name": _name,
    "text": _text,
    "id": _id,
    "time": _integer,
    "bool": _bool,
    "integer": _integer,
    "number": _number,
    "currency": _currency,
    "enum": _enum,
    "object": _object,
    "strings": _strings,
    "contents": _list,
    "options": _options,
    "hash": _hashes,
    "external_id": _external_id,
    "raw": _raw,
    "ip": _ip,
    "fbc": _fbc,
    "fbp": _raw,  # Meta refuses a hashed fbp; a malformed one only weakens matching
    "ctwa_clid": _ctwa_clid,
    "lead_id": _lead_id,
    "flag": _flag,
    "extinfo": _extinfo,
}
