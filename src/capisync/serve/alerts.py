"""PLACEHOLDER for helper AL's module (branch `alerts`), with the signatures of the shared
design (SERVE-DESIGN.md), so serve runs and type-checks before AL's work is merged. The
merge takes AL's file whole; nothing here is meant to stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from capisync.config import Project
from capisync.serve.metrics import Metrics
from capisync.sync import RunReport


class Alerter:
    def __init__(
        self,
        settings: Any,
        project: Project,
        *,
        clock: Callable[[], float] = time.time,
        transport: Any = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings, self.project, self.clock = settings, project, clock
        self.transport, self.metrics = transport, metrics

    async def after_run(self, report: RunReport) -> list[Any]:
        return []

    async def check_stale(self, now: float) -> list[Any]:
        return []

    async def after_quality(self, sync: str, history: Sequence[Any]) -> list[Any]:
        return []
