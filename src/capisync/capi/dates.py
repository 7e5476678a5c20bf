"""Dates of birth as people type them: ISO, 8 digits, 2/16/1997, "Feb 16, 1997".

Pure parsing, no clock: the caller passes the current year (two-digit years pivot on it)
and the order in which ambiguous all-number dates are read.
"""

from __future__ import annotations

import re
from typing import Literal

DateOrder = Literal["mdy", "dmy", "ymd"]


class DateError(ValueError):
    """The text is no date; `code` is the warning code (never the text itself)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t\s].*)?")
# From the start of a run of t/spaces only (the lookbehind): tried at every position of a
# long run, it took quadratic time.
_TIME_OF_DAY = re.compile(r"(?<![t\s])[t\s]+\d{1,2}:\d{2}.*$")
_DATE_TOKENS = re.compile(r"\d+|[^\W\d_]+")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_FILLER_WORDS = frozenset(
    {"st", "nd", "rd", "th", "of", "the", *_WEEKDAYS, *(day[:3] for day in _WEEKDAYS)}
)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def date_parts(text: str, order: DateOrder, current_year: int) -> tuple[int, int, int]:
    iso = _ISO_DATE.fullmatch(text)
    if iso:
        return int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
    if len(text) == 8 and text.isascii() and text.isdigit():
        return _eight_digits(text, order, current_year)
    tokens = _DATE_TOKENS.findall(_TIME_OF_DAY.sub("", text))
    # isdecimal, not isdigit: superscripts such as '¹' are "digits" that int() refuses
    words = [t for t in tokens if not t.isdecimal() and t not in _FILLER_WORDS]
    numbers = [t for t in tokens if t.isdecimal()]
    if len(numbers) == 3 and not words:
        return _three_numbers(numbers, order, current_year)
    if len(numbers) == 2 and len(words) == 1:
        return _month_name_date(words[0], numbers, current_year)
    raise DateError("dob_malformed")


def _eight_digits(text: str, order: DateOrder, current_year: int) -> tuple[int, int, int]:
    """19970216, or 02161997 / 16021997 when the first four digits are no year."""
    ymd = int(text[:4]), int(text[4:6]), int(text[6:])
    if (1900 <= ymd[0] <= current_year and is_calendar_date(*ymd)) or order == "ymd":
        return ymd
    return _three_numbers([text[:2], text[2:4], text[4:]], order, current_year)


def _three_numbers(numbers: list[str], order: DateOrder, current_year: int) -> tuple[int, int, int]:
    first, second, third = numbers
    if len(first) == 4 or (order == "ymd" and len(third) != 4):
        year_text, month, day = first, int(second), int(third)
    elif order == "dmy":
        year_text, month, day = third, int(second), int(first)
    else:  # mdy, also for a year-last date under the ymd setting
        year_text, month, day = third, int(first), int(second)
    if month > 12 >= day:  # 16/2/1997 read month-first can only be day-first
        month, day = day, month
    return _full_year(year_text, current_year), month, day


def _month_name_date(word: str, numbers: list[str], current_year: int) -> tuple[int, int, int]:
    month = next(
        (
            i
            for i, name in enumerate(_MONTHS, 1)
            if len(word) >= 3 and name.startswith(word.rstrip("."))
        ),
        0,
    )
    year_first = len(numbers[0]) == 4 or int(numbers[0]) > 31
    year_text, day_text = (numbers[0], numbers[1]) if year_first else (numbers[1], numbers[0])
    if month == 0:
        raise DateError("dob_malformed")
    return _full_year(year_text, current_year), month, int(day_text)


def _full_year(text: str, current_year: int) -> int:
    """Two-digit years pivot on the current year: 97 -> 1997, 05 -> 2005."""
    if len(text) == 4:
        return int(text)
    if len(text) <= 2:
        short = int(text)
        return 2000 + short if short <= current_year % 100 else 1900 + short
    raise DateError("dob_malformed")


def is_calendar_date(year: int, month: int, day: int) -> bool:
    if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]):
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return not (month == 2 and day == 29 and not leap)
