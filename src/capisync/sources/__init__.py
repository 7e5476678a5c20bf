"""Sources: run a SQL model in a warehouse and stream its rows in bounded batches."""

from __future__ import annotations

from capisync.sources.base import Row, Source, open_source
from capisync.sources.messages import scrub_message, wrap_model

__all__ = ["Row", "Source", "open_source", "scrub_message", "wrap_model"]
