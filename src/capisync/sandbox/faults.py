"""Faults the sandbox injects into events POSTs: throttling, 5xx answers and hangs.

Decisions are deterministic for a given `seed` and request order: each POST that reaches the
fault stage draws two numbers from one seeded RNG, whatever the rates are. Throttling counts
the POSTs let through in a sliding window of real (monotonic) time, so `Retry-After` says when
the next slot frees up.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from capisync.sandbox.config import SandboxConfig


@dataclass(frozen=True, slots=True)
class FaultDecision:
    kind: str | None  # None, "throttle", "error" or "hang"
    retry_after_s: float = 0.0


class FaultInjector:
    def __init__(
        self, config: SandboxConfig, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._rng: random.Random | None = None
        self._seed: int | None = None
        self._admitted: deque[float] = deque()

    def reset(self) -> None:
        with self._lock:
            self._rng = None
            self._admitted.clear()

    def decide(self) -> FaultDecision:
        """What happens to this POST; also counts it for throttling when it is let through."""
        with self._lock:
            retry_after = self._throttle_wait()
            if retry_after is not None:
                return FaultDecision("throttle", retry_after)
            rng = self._seeded()
            error_roll, hang_roll = rng.random(), rng.random()
        if error_roll < self._config.error_rate:
            return FaultDecision("error")
        if hang_roll < self._config.timeout_rate:
            return FaultDecision("hang")
        return FaultDecision(None)

    def _throttle_wait(self) -> float | None:
        limit, window = self._config.throttle_after, self._config.throttle_window_s
        now = self._monotonic()
        while self._admitted and self._admitted[0] <= now - window:
            self._admitted.popleft()
        if limit is not None and len(self._admitted) >= limit:
            oldest = self._admitted[0] if self._admitted else now  # limit 0: wait a window
            return max(0.0, oldest + window - now)
        self._admitted.append(now)
        return None

    def _seeded(self) -> random.Random:
        if self._rng is None or self._seed != self._config.seed:
            self._seed = self._config.seed
            self._rng = random.Random(self._seed)
        return self._rng

    def usage_header(self, dataset_id: str, retry_after_s: float = 0.0) -> str | None:
        """X-Business-Use-Case-Usage as Meta sends it, when a throttle limit is configured."""
        limit = self._config.throttle_after
        if limit is None:
            return None
        with self._lock:
            used = len(self._admitted)
        percent = 100 if limit == 0 else min(100, round(100 * used / limit))
        usage = {
            dataset_id: [
                {
                    "type": "ads_management",
                    "call_count": percent,
                    "total_cputime": min(100, percent // 4),
                    "total_time": min(100, percent // 3),
                    # whole minutes, as Meta reports it; Retry-After carries the exact seconds
                    "estimated_time_to_regain_access": int(retry_after_s // 60),
                }
            ]
        }
        return orjson.dumps(usage).decode()
