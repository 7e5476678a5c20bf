"""capisync: send conversion events from your warehouse to Meta's Conversions API.

Library API (the CLI is a thin layer over it):

    from capisync import normalize, hash_value
    normalize("ph", "(650)555-1212", country="us")   # "16505551212"
    hash_value("em", " John_Smith@gmail.com ")       # the SHA-256 hex Meta expects
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "hash_value", "normalize"]


def __getattr__(name: str) -> Any:
    # imported on first use, so `capisync --help` does not load phonenumbers and pycountry
    if name in ("normalize", "hash_value"):
        from capisync.capi import normalize as module

        return getattr(module, name)
    raise AttributeError(f"module 'capisync' has no attribute {name!r}")
