"""serve/web/views.py: what the dashboard's panels show, from run records."""

from __future__ import annotations

from typing import Any

from capisync.capi import emq
from capisync.serve.web import views
from capisync.state import RunRecord


def run(
    run_id: int,
    events: dict[str, Any] | None = None,
    *,
    test: bool = False,
    fresh: dict[str, int] | None = None,
    counts: dict[str, int] | None = None,
) -> RunRecord:
    stats = {
        "events": events or {},
        "freshness": fresh or {},
        "dedup": {
            "events": 4,
            "with_event_id": 3,
            "checked": 3,
            "repeated": 1,
            "source": "template",
            "pattern": "{event_name}:{order_id}",
        },
    }
    return RunRecord(
        id=run_id,
        sync="s",
        started_at=1000.0 * run_id,
        ended_at=1000.0 * run_id + 65,
        status="completed",
        dry_run=False,
        counts=counts or {"read": 10 * run_id, "sent": 9 * run_id},
        details={"stats": stats},
        test_event_code="TEST1" if test else None,
    )


def purchase(sent: int, **keys: int) -> dict[str, Any]:
    return {"Purchase": {"sent": sent, "keys": keys}}


def test_coverage_trend_compares_the_latest_run_with_the_mean_of_those_before() -> None:
    runs = [  # newest first, as Ledger.runs returns them
        run(4, purchase(10, em=10, ph=2)),
        run(3, purchase(10, em=6, ph=5), test=True),  # test runs are left out
        run(2, purchase(10, em=8, ph=5)),
        run(1, purchase(10, em=6, ph=5)),
    ]
    (event,) = views.coverage(runs, {"Purchase": 6.0})
    shares = {k.key: k for k in event.keys}
    assert shares["em"].share == 1.0 and shares["em"].trend == "up"
    assert round(shares["em"].change or 0, 3) == 0.3
    assert shares["ph"].trend == "down"
    assert shares["fbc"].trend == "steady"
    assert event.estimate == emq.estimate_from_coverage({"em": 1.0, "ph": 0.2})
    assert event.difference == round(event.estimate - 6.0, 1)
    assert len(event.history) == 3 and event.history[-1] == event.estimate


def test_coverage_of_a_first_run_has_no_trend_and_no_meta_score() -> None:
    (event,) = views.coverage([run(1, purchase(4, em=4))])
    assert {k.trend for k in event.keys} == {"new"}
    assert event.meta_score is None and event.difference is None


def test_coverage_reads_the_latest_run_that_sent_events() -> None:
    runs = [run(2, {}), run(1, purchase(4, em=2))]
    (event,) = views.coverage(runs)
    assert event.sent == 4 and event.keys[0].share == 0.5


def test_freshness_sums_the_last_runs_and_gives_shares() -> None:
    runs = [run(2, purchase(1), fresh={"<5m": 3, "<1h": 1}), run(1, purchase(1), fresh={"<5m": 4})]
    last = {b.label: (b.count, b.share) for b in views.freshness(runs)}
    assert last["<5m"] == (3, 0.75) and last["older"] == (0, 0.0)
    both = {b.label: b.count for b in views.freshness(runs, last=2)}
    assert both["<5m"] == 7 and both["<1h"] == 1
    assert views.freshness([run(1, {})]) == []


def test_history_rows_and_chart_leave_test_runs_out_of_the_chart_only() -> None:
    runs = [run(3, purchase(1), test=True), run(2, purchase(1)), run(1, purchase(1))]
    rows = views.run_rows(runs)
    assert [r.id for r in rows] == [3, 2, 1] and rows[0].test
    assert rows[1].counts[views.HISTORY_COLUMNS.index("sent")] == 18
    assert rows[1].duration == "1m 05s"
    chart = views.run_chart(runs)
    assert chart["t"] == [1000.0, 2000.0] and chart["sent"] == [9.0, 18.0]


def test_dedup_reads_the_latest_run_with_events() -> None:
    dedup = views.dedup([run(1, purchase(4))])
    assert dedup is not None and dedup.share == 0.75 and dedup.repeated == 1
    assert views.dedup([run(1, {})]) is None
