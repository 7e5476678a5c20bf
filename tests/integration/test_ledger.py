"""The ledger on a real SQLite file and on a real PostgreSQL server: same behaviour on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from capisync.state import Ledger, Rejected


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "sqlite":
        return Ledger(str(tmp_path / ".capisync" / "state.db"))
    return Ledger(request.getfixturevalue("pg_url"))


def test_sent_rows_are_found_and_unknown_rows_are_not(ledger: Ledger) -> None:
    run = ledger.start_run("s", dry_run=False, now=100.0)
    ledger.mark_sent("s", run, [("a", "Purchase:a"), ("b", "Purchase:b")], "trace-1", 101.0)
    found = ledger.lookup("s", ["a", "b", "c"])
    assert {k: v.state for k, v in found.items()} == {"a": "sent", "b": "sent"}
    assert ledger.lookup("other-sync", ["a"]) == {}


def test_lookup_handles_more_identifiers_than_one_query_binds(ledger: Ledger) -> None:
    run = ledger.start_run("s", dry_run=False, now=1.0)
    ids = [f"id-{i}" for i in range(2500)]
    ledger.mark_sent("s", run, [(i, i) for i in ids], None, 2.0)
    assert len(ledger.lookup("s", ids + ["missing"])) == 2500


def test_a_rejected_row_later_sent_becomes_sent(ledger: Ledger) -> None:
    run = ledger.start_run("s", dry_run=False, now=1.0)
    reason = {"code": "no_customer_keys", "key": None, "message": "add an email"}
    ledger.mark_rejected("s", run, [Rejected("x", [reason], "f" * 64, by_meta=True)], 2.0)
    entry = ledger.lookup("s", ["x"])["x"]
    assert (entry.state, entry.fingerprint, entry.by_meta, entry.reasons) == (
        "rejected",
        "f" * 64,
        True,
        [reason],
    )
    assert ledger.rejections("s") == [("x", 2.0, [reason])]
    ledger.mark_sent("s", run, [("x", "e")], "t", 3.0)
    assert ledger.lookup("s", ["x"])["x"].state == "sent"
    assert ledger.rejections("s") == []


def test_runs_are_recorded_and_a_killed_run_is_marked_interrupted(ledger: Ledger) -> None:
    first = ledger.start_run("s", dry_run=False, now=10.0)  # never finished: the process died
    second = ledger.start_run("s", dry_run=False, now=20.0)
    ledger.finish_run(
        second,
        status="completed",
        counts={"read": 5, "sent": 4, "rejected": 1},
        now=21.0,
        details={"reasons": {"x": 1}},
    )
    runs = ledger.runs("s")
    assert [r.id for r in runs] == [second, first]
    assert runs[0].counts["read"] == 5 and runs[0].counts["sent"] == 4
    assert runs[0].details == {"reasons": {"x": 1}}
    assert runs[1].status == "interrupted" and runs[1].ended_at == 20.0
    assert ledger.has_history("s") and not ledger.has_history("t")


def test_nothing_but_identifiers_codes_and_hashes_is_stored(ledger: Ledger, tmp_path: Path) -> None:
    run = ledger.start_run("s", dry_run=False, now=1.0)
    ledger.mark_sent("s", run, [("order-1", "Purchase:order-1")], "trace", 2.0)
    with ledger.engine.connect() as conn:
        import sqlalchemy as sa

        columns = sa.inspect(conn).get_columns("capisync_ledger")
    assert {c["name"] for c in columns} == {
        "sync",
        "identifier",
        "state",
        "event_id",
        "run_id",
        "updated_at",
        "fbtrace_id",
        "fingerprint",
        "by_meta",
        "reasons",
    }


def test_unreachable_postgres_ledger_is_a_clear_error() -> None:
    from capisync.errors import LedgerError

    with pytest.raises(
        LedgerError,
        match=r"cannot open the ledger at postgresql\+psycopg://u:\*\*\*@127.0.0.1:5999",
    ):
        Ledger("postgresql+psycopg://u:secret@127.0.0.1:5999/x")
