"""Meta's Dataset Quality figures in the ledger: one row per fetch, so the dashboard shows
the latest figures beside capisync's estimate, and their history (an EMQ trend, drops).

A row holds Meta's figures only (scores, shares, counts and Meta's diagnostic texts), never
a token or a customer value. The table lives in the ledger's ``metadata`` and is created on
first use, so a ledger made by an earlier capisync gains it without a migration step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from capisync.meta.quality import EventQuality
from capisync.state.ledger import Ledger, create_on_first_use, ledger_failure
from capisync.state.schema import metadata

QUALITY = sa.Table(
    "capisync_quality",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sync", sa.String(200), nullable=False),
    sa.Column("fetched_at", sa.Float, nullable=False),  # UNIX seconds, when Meta answered
    sa.Column("stored_at", sa.Float, nullable=False),
    sa.Column("dataset_id", sa.String(100), nullable=False),
    sa.Column("api_version", sa.String(20), nullable=False),
    sa.Column("agent_name", sa.String(200)),  # the partner_agent filter of agent_events
    sa.Column("figures", sa.Text, nullable=False),  # JSON: {"events": [...], "agent_events": [...]}
)
sa.Index("capisync_quality_sync", QUALITY.c.sync, QUALITY.c.fetched_at)


@dataclass(frozen=True, slots=True)
class QualitySnapshot:
    """One fetch of Meta's Dataset Quality figures for a sync's dataset: ``events`` counts
    every event the dataset received, ``agent_events`` only those sent with capisync's
    ``partner_agent`` (Meta's ``agent_name`` filter, ``agent_name`` here)."""

    sync: str
    dataset_id: str
    fetched_at: float  # UNIX seconds
    api_version: str
    agent_name: str | None
    events: tuple[EventQuality, ...]
    agent_events: tuple[EventQuality, ...] = ()

    def event(self, name: str, *, agent: bool = False) -> EventQuality | None:
        """The figures for one event name, or None when Meta gave none."""
        rows = self.agent_events if agent else self.events
        return next((e for e in rows if e.event_name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sync": self.sync,
            "dataset_id": self.dataset_id,
            "fetched_at": self.fetched_at,
            "api_version": self.api_version,
            "agent_name": self.agent_name,
            "events": [e.as_dict() for e in self.events],
            "agent_events": [e.as_dict() for e in self.agent_events],
        }


def _engine(ledger_or_engine: Ledger | sa.Engine) -> sa.Engine:
    return ledger_or_engine.engine if isinstance(ledger_or_engine, Ledger) else ledger_or_engine


def store_quality(
    ledger_or_engine: Ledger | sa.Engine, sync: str, snapshot: QualitySnapshot, now: float
) -> None:
    """Record one fetch of ``sync``'s figures (``now``: UNIX seconds). Raises LedgerError
    (LedgerUnavailableError when the ledger is busy or its server down)."""
    engine = _engine(ledger_or_engine)
    figures = {
        "events": [e.as_dict() for e in snapshot.events],
        "agent_events": [e.as_dict() for e in snapshot.agent_events],
    }
    row = {
        "sync": sync,
        "fetched_at": snapshot.fetched_at,
        "stored_at": now,
        "dataset_id": snapshot.dataset_id,
        "api_version": snapshot.api_version,
        "agent_name": snapshot.agent_name,
        "figures": orjson.dumps(figures).decode(),
    }
    try:
        create_on_first_use(engine, QUALITY)
        with engine.begin() as conn:
            conn.execute(QUALITY.insert(), [row])
    except SQLAlchemyError as exc:
        raise ledger_failure(exc, f"cannot record Meta's quality figures for '{sync}'") from exc


def quality_history(
    ledger_or_engine: Ledger | sa.Engine, sync: str, limit: int = 30
) -> list[QualitySnapshot]:
    """``sync``'s last ``limit`` fetches, newest first; [] before the first. Raises
    LedgerError when the ledger cannot be read."""
    engine = _engine(ledger_or_engine)
    query = (
        sa.select(QUALITY)
        .where(QUALITY.c.sync == sync)
        .order_by(QUALITY.c.fetched_at.desc(), QUALITY.c.id.desc())
        .limit(limit)
    )
    try:
        if not sa.inspect(engine).has_table(QUALITY.name):
            return []
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
    except SQLAlchemyError as exc:
        raise ledger_failure(exc, f"cannot read Meta's quality figures for '{sync}'") from exc
    return [_snapshot(dict(row)) for row in rows]


def _snapshot(row: Mapping[str, Any]) -> QualitySnapshot:
    figures = orjson.loads(row["figures"])
    return QualitySnapshot(
        sync=row["sync"],
        dataset_id=row["dataset_id"],
        fetched_at=row["fetched_at"],
        api_version=row["api_version"],
        agent_name=row["agent_name"],
        events=tuple(EventQuality.from_dict(e) for e in figures.get("events", ())),
        agent_events=tuple(EventQuality.from_dict(e) for e in figures.get("agent_events", ())),
    )
