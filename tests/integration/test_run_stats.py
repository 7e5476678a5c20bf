"""The per-run statistics a real run stores in its details (runstats.py, sync._finish): a real
DuckDB file synced over HTTP to the sandbox; the expected numbers are read from what the
sandbox received, not from capisync's own counters."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from capisync.capi import emq
from capisync.config import Project, load_project
from capisync.demo import DEMO_EXPECTED, write_demo_project
from capisync.runstats import freshness_bucket
from capisync.sandbox import SandboxServer
from capisync.state import Ledger
from capisync.sync import run_sync

NOW = float(int(time.time()))  # the run's clock is this instant (or just after), passed in


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.store.reset()
    return server


def stats_of(project: Project, sync: str) -> dict[str, Any]:
    ledger = Ledger(project.state_location())
    try:
        details = ledger.runs(sync, limit=1)[0].details
    finally:
        ledger.close()
    stats: dict[str, Any] = details["stats"]
    return stats


def test_demo_run_stores_key_coverage_freshness_and_dedup_of_what_meta_received(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    demo = write_demo_project(tmp_path, now=datetime.fromtimestamp(NOW, UTC))
    project = load_project(demo.config, env={**os.environ, "CAPISYNC_BASE_URL": sandbox.url})
    sent_at = NOW + 90  # the run's clock: every send happens at this instant
    report = run_sync(project, "purchases", clock=lambda: sent_at)
    assert report.counts["sent"] == DEMO_EXPECTED["sent"]

    received = [r.event for r in sandbox.store.events()]
    stats = stats_of(project, "purchases")
    keys: Counter[str] = Counter()
    for e in received:
        keys.update(emq.identifiers(e["user_data"].keys()))
    assert stats["events"] == {"Purchase": {"sent": len(received), "keys": dict(keys)}}
    assert 0 < keys["client_ip_address"] < keys["em"] < len(received)  # the data is mixed

    ages = Counter(freshness_bucket(sent_at - e["event_time"]) for e in received)
    assert stats["freshness"] == {label: ages[label] for label in stats["freshness"]}
    assert sum(stats["freshness"].values()) == len(received)

    assert stats["dedup"] == {
        "events": len(received),
        "with_event_id": len(received),
        "checked": len(received),
        "repeated": 0,
        "source": "template",
        "pattern": "{event_name}:{order_id}",
    }


def small_sync(
    tmp_path: Path, sandbox: SandboxServer, extra: str, rows: list[tuple[Any, ...]]
) -> Project:
    """Sync `s` over table t(order_id, event_name, event_time, email, ref) of a DuckDB file."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(
            "CREATE TABLE t (order_id TEXT, event_name TEXT, event_time TIMESTAMPTZ, "
            "email TEXT, ref TEXT, action_source TEXT)"
        )
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, 'physical_store')", rows)
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: select * from t
    identifier: order_id
    destination: {{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}
{extra}""")
    return load_project(config)


def test_repeated_event_ids_across_rows_and_the_fallback_to_the_identifier_are_counted(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    at = datetime.fromtimestamp(NOW, UTC)
    rows = [
        ("o-1", "Lead", at - timedelta(minutes=1), "a@example.com", "r-1"),
        ("o-2", "Lead", at - timedelta(minutes=30), "b@example.com", "r-1"),  # same ref
        ("o-3", "Lead", at - timedelta(hours=3), "c@example.com", "r-1"),  # same ref
        ("o-4", "Contact", at - timedelta(days=2), "d@example.com", None),  # no ref: fallback
    ]
    project = small_sync(tmp_path, sandbox, "    mapping: {event_id: ref}", rows)
    report = run_sync(project, "s", clock=lambda: NOW)
    assert report.counts["sent"] == 4

    stats = stats_of(project, "s")
    assert stats["dedup"] == {
        "events": 4,
        "with_event_id": 3,  # o-4 fell back to its identifier
        "checked": 3,
        "repeated": 2,
        "source": "column",
        "pattern": "ref",
    }
    assert stats["freshness"] == {"<5m": 1, "<1h": 1, "<6h": 1, "<24h": 0, "<7d": 1, "older": 0}
    assert stats["events"] == {
        "Lead": {"sent": 3, "keys": {"em": 3}},
        "Contact": {"sent": 1, "keys": {"em": 1}},
    }


def test_a_second_run_that_sends_nothing_stores_empty_stats(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    at = datetime.fromtimestamp(NOW, UTC)
    rows = [("o-1", "Lead", at - timedelta(minutes=1), "a@example.com", None)]
    project = small_sync(tmp_path, sandbox, "", rows)
    run_sync(project, "s", clock=lambda: NOW)
    run_sync(project, "s", clock=lambda: NOW + 60)
    stats = stats_of(project, "s")
    assert stats["events"] == {}
    assert stats["dedup"]["events"] == 0 and stats["dedup"]["source"] == "identifier"
    assert sum(stats["freshness"].values()) == 0
