"""PLACEHOLDER for helper AL's module (branch `alerts`), with the signatures of the shared
design (SERVE-DESIGN.md), so serve runs and type-checks before AL's work is merged. The
merge takes AL's file whole; nothing here is meant to stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from capisync.sync import RunReport


class Metrics:
    def __init__(
        self, registry: CollectorRegistry | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock
        self.registry = registry if registry is not None else CollectorRegistry()

    def observe_run(self, report: RunReport) -> None:
        pass

    def set_next_run(self, sync: str, ts: float | None) -> None:
        pass

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
