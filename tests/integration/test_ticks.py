"""Schedule ticks claimed in the ledger: of many claimants of one tick, exactly one wins, on
a SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from capisync.state import Ledger
from capisync.state.ticks import KEEP_SECONDS, claim_tick, claimed_by

TICK = 60.0 * 29_000_000  # a whole minute, epoch seconds
CLAIMANTS = 6


def race(location: str, tick: float) -> list[bool]:
    """CLAIMANTS ledgers (engines of their own, as separate processes have) claim `tick`."""
    ledgers = [Ledger(location) for _ in range(CLAIMANTS)]
    won: list[bool] = [False] * CLAIMANTS
    go = threading.Barrier(CLAIMANTS)

    def claim(i: int) -> None:
        go.wait()
        won[i] = claim_tick(ledgers[i], "purchases", tick, owner=f"serve-{i}", now=tick)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(CLAIMANTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for ledger in ledgers:
        ledger.close()
    return won


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    url: str = request.getfixturevalue("pg_url")
    return url


def test_one_claimant_of_a_tick_wins(location: str) -> None:
    won = race(location, TICK)
    assert won.count(True) == 1
    ledger = Ledger(location)
    try:
        assert claimed_by(ledger, "purchases", TICK) == f"serve-{won.index(True)}"
        # the next tick, and the same tick of another sync, are claims of their own
        assert claim_tick(ledger, "purchases", TICK + 60, owner="b", now=TICK + 60)
        assert claim_tick(ledger, "refunds", TICK, owner="b", now=TICK)
        assert not claim_tick(ledger, "purchases", TICK + 60, owner="c", now=TICK + 60)
    finally:
        ledger.close()


def test_claims_older_than_a_week_are_deleted(tmp_path: Path) -> None:
    ledger = Ledger(str(tmp_path / "state.db"))
    try:
        assert claim_tick(ledger, "purchases", TICK, owner="a", now=TICK)
        later = TICK + KEEP_SECONDS + 60
        assert claim_tick(ledger, "purchases", later, owner="a", now=later)
        assert claimed_by(ledger, "purchases", TICK) is None
        assert claimed_by(ledger, "purchases", later) == "a"
    finally:
        ledger.close()
