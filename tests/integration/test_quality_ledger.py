"""Meta's quality figures in the ledger (state/quality.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from capisync.meta.quality import DedupKeyFeedback, Diagnostic, EventQuality, MatchKeyFeedback
from capisync.state import Ledger
from capisync.state.quality import QualitySnapshot, quality_history, store_quality

PURCHASE = EventQuality(
    "Purchase",
    composite_score=7.2,
    match_keys=(MatchKeyFeedback("email", 98.5, 12.0), MatchKeyFeedback("ip_address", 100.0)),
    diagnostics=(Diagnostic("Server sending mismatched IP addresses", percentage=61.5),),
    acr=37.9,
    dedup_keys=(DedupKeyFeedback("event_id", 100.0, 100.0, 14.8),),
    upload_frequency="real_time",
)


def snapshot(sync: str, at: float, score: float) -> QualitySnapshot:
    event = EventQuality("Purchase", composite_score=score)
    return QualitySnapshot(sync, "123", at, "v25.0", "capisync", (PURCHASE, event), (event,))


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "sqlite":
        return Ledger(str(tmp_path / "state.db"))
    return Ledger(request.getfixturevalue("pg_url"))


def test_a_fetch_reads_back_whole(ledger: Ledger) -> None:
    stored = snapshot("purchases", 1_000.0, 6.0)
    store_quality(ledger, "purchases", stored, now=1_001.0)
    assert quality_history(ledger, "purchases") == [stored]
    ledger.close()


def test_history_is_newest_first_per_sync_and_limited(ledger: Ledger) -> None:
    for at in (3.0, 1.0, 2.0):
        store_quality(ledger, "purchases", snapshot("purchases", at, at), now=at)
    store_quality(ledger, "leads", snapshot("leads", 9.0, 9.0), now=9.0)
    history = quality_history(ledger, "purchases", limit=2)
    assert [s.fetched_at for s in history] == [3.0, 2.0]
    assert [s.sync for s in quality_history(ledger, "leads")] == ["leads"]
    assert quality_history(ledger, "other") == []
    ledger.close()


def test_an_engine_works_as_well_as_a_ledger(tmp_path: Path) -> None:
    ledger = Ledger(str(tmp_path / "state.db"))
    stored = snapshot("purchases", 5.0, 5.0)
    store_quality(ledger.engine, "purchases", stored, now=5.0)
    assert quality_history(ledger.engine, "purchases") == [stored]
    ledger.close()
