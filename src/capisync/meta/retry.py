"""When to try again and how long to wait: exponential backoff with full jitter, bounded.

Pure: the clock and the random source are passed in, so tests run instantly and exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from capisync.errors import MetaError, MetaThrottledError, MetaTransientError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # per request, the first try included
    base_delay: float = 0.5  # seconds; exponential backoff with full jitter
    max_delay: float = 30.0  # cap of one backoff step (a server-given wait may exceed it)
    max_total: float = 300.0  # time budget of one batch, counted from its first failure

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_total) < 0:
            raise ValueError("retry delays must not be negative")

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**n)] (n = 0 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(retry_number, 60))
        return rng.uniform(0.0, ceiling)

    def delay_for(self, error: MetaError, retry_number: int, rng: random.Random) -> float:
        """How long to wait before retry `retry_number` after `error`."""
        if isinstance(error, MetaThrottledError) and error.retry_after:
            # Honor Meta's wait; a little jitter keeps parallel requests from returning at once.
            return error.retry_after + rng.uniform(0.0, self.base_delay)
        return self.backoff(retry_number, rng)


class RetryBudget:
    """The time one batch may spend recovering, shared by all of its (bisected) requests.

    The clock starts at the batch's first failure, so time spent queued behind other batches
    for a concurrency slot is not charged to it.
    """

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        self._first_failure: float | None = None

    def elapsed(self) -> float:
        return 0.0 if self._first_failure is None else self._clock() - self._first_failure

    def allows(self, attempts_made: int, delay: float) -> bool:
        """May a request that already made `attempts_made` tries wait `delay` and try again?"""
        if self._first_failure is None:
            self._first_failure = self._clock()
        if attempts_made >= self.policy.max_attempts:
            return False
        return self.elapsed() + delay <= self.policy.max_total

    def exhausted(self, last: MetaError, attempts_made: int, delay: float) -> MetaTransientError:
        """The error that stops the run: the events stay pending and the next run resends them."""
        if attempts_made >= self.policy.max_attempts:
            why = f"gave up after {attempts_made} attempts"
        else:
            why = (
                f"gave up: waiting {delay:.0f}s more would exceed the {self.policy.max_total:.0f}s "
                f"retry budget ({self.elapsed():.0f}s spent)"
            )
        return MetaTransientError(
            f"{why}; last error: {last}; the events stay pending and the next run resends them",
            **{**last.meta_fields(), "is_transient": True},  # type: ignore[arg-type]
        )
