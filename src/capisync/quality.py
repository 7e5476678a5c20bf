"""Meta's own match-quality figures for a sync's dataset: fetch, store, read back, compare.

    fetch_quality_async(project, sync)    two GETs of Meta's Dataset Quality API: the whole
      ├─ fetch_event_quality(client)       dataset, and only the events sent with capisync's
      ├─ fetch_event_quality(client, agent)  partner_agent (agent_name "capisync")
      └─ store_quality(ledger, ...)        one ledger row per fetch: the history
    latest_quality(project, sync)          the last fetch, or None
    emq_dropped(history, threshold)        event names whose EMQ fell between the last two

`capisync quality`, `serve` (a daily fetch) and its alerts call these; none keeps logic of its
own. The token goes in a header through MetaClient and never into a snapshot or the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from capisync.blocking import run_blocking
from capisync.capi.dataset_quality import agent_name_for
from capisync.config import Project
from capisync.meta.client import MetaClient
from capisync.meta.quality import fetch_event_quality
from capisync.state.dialects import sqlite_file
from capisync.state.ledger import Ledger
from capisync.state.quality import QualitySnapshot, quality_history, store_quality

__all__ = [
    "QualitySnapshot",
    "emq_dropped",
    "fetch_quality",
    "fetch_quality_async",
    "latest_quality",
    "quality_history_for",
]


async def fetch_quality_async(
    project: Project,
    sync: str,
    *,
    clock: Callable[[], float] = time.time,
    transport: Any = None,
) -> QualitySnapshot:
    """Fetch Meta's figures for ``sync``'s dataset and record them in the ledger.

    The destination (base_url, api_version by ``clock``'s date, dataset, token, retries) is
    the sync's own, as a run's; ``transport`` is an httpx transport for tests. Raises
    ConfigError (no such sync), MetaFatalError (token refused, no access: exit 5),
    MetaTransientError / MetaThrottledError (Meta unreachable or busy: exit 75), LedgerError.
    """
    from capisync.sync import SyncContext
    from capisync.wiring import client_settings

    config = project.sync(sync)
    ctx = SyncContext(name=sync, config=config, project=project, clock=clock, transport=transport)
    settings = client_settings(ctx)
    agent = agent_name_for(settings.partner_agent)
    async with MetaClient(settings, transport=transport) as client:
        events = await fetch_event_quality(client)
        agent_events = await fetch_event_quality(client, agent)
    snapshot = QualitySnapshot(
        sync=sync,
        dataset_id=settings.dataset_id.strip(),
        fetched_at=clock(),
        api_version=settings.api_version,
        agent_name=agent,
        events=events,
        agent_events=agent_events,
    )
    ledger = Ledger(project.state_location())
    try:
        store_quality(ledger, sync, snapshot, clock())
    finally:
        ledger.close()
    return snapshot


def fetch_quality(
    project: Project,
    sync: str,
    *,
    clock: Callable[[], float] = time.time,
    transport: Any = None,
) -> QualitySnapshot:
    """:func:`fetch_quality_async`, blocking until done (the CLI); called inside a running
    event loop, it fetches in a worker thread (blocking.run_blocking)."""
    fetching = fetch_quality_async(project, sync, clock=clock, transport=transport)
    return run_blocking(fetching, thread_name="capisync-quality")


def quality_history_for(project: Project, sync: str, limit: int = 30) -> list[QualitySnapshot]:
    """``sync``'s stored fetches, newest first; [] when there are none (a SQLite ledger that
    does not exist yet is not created). Raises ConfigError for an unknown sync, LedgerError."""
    project.sync(sync)
    location = project.state_location()
    file = sqlite_file(location)
    if file is not None and not file.exists():
        return []
    ledger = Ledger(location)
    try:
        return quality_history(ledger, sync, limit)
    finally:
        ledger.close()


def latest_quality(project: Project, sync: str) -> QualitySnapshot | None:
    """The last stored fetch of ``sync``'s figures, or None before the first."""
    history = quality_history_for(project, sync, limit=1)
    return history[0] if history else None


def emq_dropped(history: list[QualitySnapshot], threshold: float) -> list[tuple[str, float, float]]:
    """The event names whose EMQ (Meta's ``composite_score``, whole dataset) fell by at least
    ``threshold`` points between the two newest fetches of ``history`` (newest first, as
    ``quality_history`` returns it), as ``(event_name, previous, current)`` in the newest
    fetch's order. [] with fewer than two fetches; an event name missing from either fetch,
    or without a score, is not a drop. Raises ValueError when ``threshold`` is not above 0."""
    if not threshold > 0:
        raise ValueError(f"threshold must be above 0 EMQ points, not {threshold!r}")
    if len(history) < 2:
        return []
    current, previous = history[0], history[1]
    drops: list[tuple[str, float, float]] = []
    for event in current.events:
        before = previous.event(event.event_name)
        now, then = event.composite_score, before.composite_score if before else None
        if now is not None and then is not None and then - now >= threshold - 1e-9:
            drops.append((event.event_name, then, now))
    return drops
