"""One conversion row in every warehouse type capisync must read right, and the event the
sandbox must receive from it; shared by the tests/integration/test_warehouses_*.py files.

The row: an int64 order id beyond 2**53 (a float would change it), a timestamp with a time
zone, one without (read in the sync's `timezone:`), a DATE, a decimal `value`, arrays of
e-mails, phones and int64 content ids, and `contents` as JSON / VARIANT / STRUCT. The times
are taken from the clock when the test runs (events older than 7 days are refused).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from capisync.config import load_project
from capisync.sandbox import SandboxServer
from capisync.sync import run_sync

BIG = 9007199254740993  # 2**53 + 1: the first integer a float64 cannot hold
EMAILS = ("Jane.Doe@Example.com", " j.doe@example.org ")
PHONES = ("+33 6 12 34 56 78", "+1 650-555-1212")
CONTENTS: list[dict[str, Any]] = [
    {"id": "sku-1", "quantity": 2, "item_price": 9.99},
    {"id": BIG, "quantity": 1, "item_price": 0.5},
]
CONTENTS_JSON = (
    '[{"id": "sku-1", "quantity": 2, "item_price": 9.99}, '
    f'{{"id": {BIG}, "quantity": 1, "item_price": 0.5}}]'
)
NAIVE_ZONE = "Asia/Tokyo"  # the `naive` sync reads naive times here
AWARE_SYNC_ZONE = "America/New_York"  # the `aware` sync's zone: a zoned column ignores it


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Times:
    """The row's times, from the clock: an instant an hour ago written at +02:00, a naive
    wall time two hours ago in NAIVE_ZONE, and today's date (UTC)."""

    aware: datetime
    naive: datetime
    day: date

    @classmethod
    def now(cls) -> Times:
        now = datetime.now(UTC).replace(microsecond=0)
        aware = (now - timedelta(hours=1)).astimezone(ZoneInfo("Etc/GMT-2"))  # UTC+02:00
        naive = (now - timedelta(hours=2)).astimezone(ZoneInfo(NAIVE_ZONE)).replace(tzinfo=None)
        return cls(aware, naive, now.date())

    @property
    def aware_text(self) -> str:
        """'2026-11-30 14:00:00+02:00': the SQL literal of the zoned time."""
        return self.aware.isoformat(sep=" ")

    @property
    def aware_utc_text(self) -> str:
        return self.aware.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")

    @property
    def naive_text(self) -> str:
        return self.naive.isoformat(sep=" ")

    @property
    def day_text(self) -> str:
        return self.day.isoformat()


def write_project(tmp_path: Path, source: str, sandbox: SandboxServer) -> Path:
    """Two syncs over the model `select * from conversions`: `aware` takes event_time from
    the zoned column, `naive` from the naive one (read in NAIVE_ZONE)."""
    config = tmp_path / "capisync.yml"
    common = f"""    source: {source}
    model: select * from conversions
    identifier: order_id
    static: {{action_source: physical_store}}
    destination: {{dataset_id: "77", access_token: sandbox-token, base_url: "{sandbox.url}"}}"""
    config.write_text(f"""syncs:
  aware:
{common}
    timezone: {AWARE_SYNC_ZONE}
    mapping: {{event_time: ts_tz, custom_data.day: day, custom_data.naive_at: ts_naive}}
  naive:
{common}
    timezone: {NAIVE_ZONE}
    mapping: {{event_time: ts_naive}}
""")
    return config


def run_and_check(
    tmp_path: Path, source: str, sandbox: SandboxServer, times: Times
) -> list[dict[str, Any]]:
    """Run both syncs for real into the sandbox and check every value of both events."""
    project = load_project(write_project(tmp_path, source, sandbox))
    sandbox.store.reset()
    for name in ("aware", "naive"):
        report = run_sync(project, name)
        assert report.status == "completed", (name, report.counts, report.rejections)
        assert report.counts["sent"] == 1, (name, report.counts, report.rejections)
    events = [r.event for r in sandbox.store.events("77")]
    assert len(events) == 2
    aware, naive = events
    check_event(aware, int(times.aware.timestamp()))
    assert aware["custom_data"]["day"] == times.day_text
    assert aware["custom_data"]["naive_at"] == times.naive.isoformat()
    naive_instant = times.naive.replace(tzinfo=ZoneInfo(NAIVE_ZONE))
    check_event(naive, int(naive_instant.timestamp()))
    return events


def check_event(event: dict[str, Any], event_time: int) -> None:
    assert event["event_id"] == str(BIG)  # the int64 identifier, exact
    assert event["event_name"] == "Purchase"
    assert event["event_time"] == event_time
    user = event["user_data"]
    assert user["em"] == [sha("jane.doe@example.com"), sha("j.doe@example.org")]
    assert user["ph"] == [sha("33612345678"), sha("16505551212")]
    assert user["external_id"] in (sha(str(BIG)), [sha(str(BIG))])
    custom = event["custom_data"]
    assert custom["value"] == 1234.56 and custom["currency"] == "EUR"
    assert custom["content_ids"] == [str(BIG), "42"]
    assert custom["contents"] == [
        {"id": "sku-1", "quantity": 2, "item_price": 9.99},
        {"id": str(BIG), "quantity": 1, "item_price": 0.5},
    ]
