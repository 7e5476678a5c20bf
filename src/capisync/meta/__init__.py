"""Delivery to Meta's Conversions API: classification, retries, bisection, concurrency."""

from __future__ import annotations

from capisync.meta.classify import Accepted, Verdict, classify, throttle_wait
from capisync.meta.client import BatchResult, ClientStats, MetaClient, unencodable_among
from capisync.meta.retry import RetryBudget, RetryPolicy
from capisync.meta.settings import ClientSettings

__all__ = [
    "Accepted",
    "BatchResult",
    "ClientSettings",
    "ClientStats",
    "MetaClient",
    "RetryBudget",
    "RetryPolicy",
    "Verdict",
    "classify",
    "throttle_wait",
    "unencodable_among",
]
