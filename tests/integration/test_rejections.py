"""`capisync rejections` on a ledger of 14,140 rejected rows (SQLite and PostgreSQL): every row
counted in SQL, by reason code, and a listing that says it is limited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.state import Ledger, Rejected

EMAIL = {"code": "invalid_email", "key": "em", "message": "not an e-mail address"}
PHONE = {"code": "invalid_phone", "key": "ph", "message": "not a phone number"}
TIME = {"code": "missing_event_time", "key": "event_time", "message": "no event_time"}
META = {
    "code": "meta_rejected",
    "key": None,
    "message": "Invalid parameter",
    "meta_code": 100,
    "meta_subcode": 2804019,
}


def reasons_of(i: int) -> list[dict[str, Any]]:
    """6,060 bad e-mails (500 of them with a bad phone too), 5,000 without a time, 3,080
    refused by Meta: 14,140 rows."""
    if i < 6060:
        return [EMAIL, PHONE] if i < 500 else [EMAIL]
    return [TIME] if i < 11060 else [META]


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / ".capisync" / "state.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def filled(location: str) -> str:
    ledger = Ledger(location)
    run = ledger.start_run("s", dry_run=False, now=1.0)
    rows = [Rejected(f"id-{i:05d}", reasons_of(i)) for i in range(14140)]
    ledger.mark_rejected("s", run, rows, now=2.0)
    ledger.mark_rejected("other", run, [Rejected("x", [EMAIL])], now=2.0)  # not counted
    ledger.mark_sent("s", run, [("sent-1", "e-1")], None, 3.0)  # not rejected
    ledger.close()
    return location


def test_every_rejected_row_is_counted_by_reason(filled: str) -> None:
    ledger = Ledger(filled)
    try:
        summary = ledger.rejection_summary("s", examples=20)
    finally:
        ledger.close()
    assert summary.total == 14140
    assert [(g.code, g.rows) for g in summary.groups] == [
        ("invalid_email", 6060),
        ("missing_event_time", 5000),
        ("meta_rejected", 3080),
        ("invalid_phone", 500),
    ]
    email = summary.groups[0]
    assert email.examples == [f"id-{i:05d}" for i in range(20)]
    assert summary.groups[2].reason["meta_subcode"] == 2804019


def test_the_command_says_how_many_and_that_the_list_is_limited(
    filled: str, tmp_path: Path
) -> None:
    state = f'{{url: "{filled}"}}' if "://" in filled else f"{{path: {filled}}}"
    config = tmp_path / "capisync.yml"
    config.write_text(f"""state: {state}
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: select 1
    identifier: order_id
    destination: {{dataset_id: "5", access_token: t}}
""")
    result = CliRunner().invoke(app, ["rejections", "s", "--config", str(config)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "14,140 rows currently rejected" in text
    assert (
        "invalid_email 6,060 rows:" in text and "(showing 20 of 6,060; --limit shows more)" in text
    )
    assert "missing_event_time 5,000 rows:" in text and "invalid_phone 500 rows:" in text
    assert "(Meta code 100, subcode 2804019)" in text
    more = CliRunner().invoke(app, ["rejections", "s", "--limit", "600", "--config", str(config)])
    text = " ".join(more.output.split())
    assert "(showing 600 of 6,060" in text and "id-00599" in text
    assert "invalid_phone 500 rows:" in text and "showing 500 of 500" not in text
