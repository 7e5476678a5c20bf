"""Warnings and rejection reasons: machine-readable codes plus a sentence for humans.

An Issue never carries a raw customer value: only the parameter key, a code and a message
that says what was wrong and how to fix it. That keeps them safe to log, store and show.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    code: str  # e.g. "email_malformed", "event_time_too_old"
    message: str  # what is wrong and how to fix it; never the raw value
    key: str | None = None  # the CAPI parameter concerned, when there is one

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "key": self.key, "message": self.message}
