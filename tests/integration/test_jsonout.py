"""The JSON shapes of a run (as it ends, and from the history) agree with each other and add
up, over a real run of the demo project against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

import capisync
from capisync.demo import DEMO_EXPECTED, write_demo_project
from capisync.jsonout import iso_utc, rejections_dict, run_record_dict, run_report_dict
from capisync.sandbox import SandboxServer
from capisync.state import Ledger
from capisync.state.schema import END_STATES

SHARED = (
    "sync",
    "run_id",
    "status",
    "ok",
    "test_run",
    "started_at",
    "started_at_epoch",
    "finished_at",
    "counts",
    "reasons",
    "warnings",
    "coverage",
    "retries",
    "throttle_waits",
    "read_all",
    "error",
)


def _project(root: Path, sandbox: SandboxServer) -> capisync.Project:
    data = yaml.safe_load(write_demo_project(root).config.read_text())
    data["syncs"]["purchases"]["destination"]["base_url"] = sandbox.url
    return capisync.Project.from_dict(data, root=root)


def test_report_and_record_shapes_agree_and_add_up(tmp_path: Path, sandbox: SandboxServer) -> None:
    project = _project(tmp_path, sandbox)
    report = capisync.run_sync(project, "purchases")
    live = run_report_dict(report)
    ledger = Ledger(project.state_location())
    try:
        (record,) = ledger.runs("purchases")
        stored = run_record_dict(record)
        summary = rejections_dict("purchases", ledger.rejection_summary("purchases", examples=3))
    finally:
        ledger.close()
    json.dumps([live, stored, summary])  # every value is plain JSON
    for key in SHARED:
        assert live[key] == stored[key], key
    counts = live["counts"]
    assert sum(counts[k] for k in END_STATES) == counts["read"] == DEMO_EXPECTED["read"]
    assert {k: counts[k] for k in DEMO_EXPECTED} == DEMO_EXPECTED
    assert sum(live["reasons"].values()) >= counts["rejected"] + counts["expired"]
    assert live["exit_code"] == 0 and live["finished_at_epoch"] >= live["started_at_epoch"]
    assert live["started_at"].endswith("Z")
    assert len(live["rejections"]) == DEMO_EXPECTED["rejected"]
    assert all(r["reasons"] and r["reasons"][0]["code"] for r in live["rejections"])
    assert summary["total"] == DEMO_EXPECTED["rejected"]
    assert sum(g["rows"] for g in summary["reasons"]) >= summary["total"]
    assert all(len(g["examples"]) <= 3 for g in summary["reasons"])
    keys = live["coverage"]["keys"]
    assert live["coverage"]["events"] == counts["sent"] and 0 < keys["em"]["share"] <= 1


def test_a_running_record_counts_rows_in_flight_as_pending(tmp_path: Path) -> None:
    ledger = Ledger(str(tmp_path / "state.db"))
    try:
        run_id = ledger.start_run("s", dry_run=False, now=1_700_000_000.5)
        (record,) = ledger.runs("s")
    finally:
        ledger.close()
    record.counts.update(read=10, sent=4, rejected=1)
    shown = run_record_dict(record)
    assert shown["run_id"] == run_id and shown["status"] == "running"
    assert shown["counts"]["pending"] == 5 and shown["counts"]["in_flight"] == 5
    assert shown["finished_at"] is None and shown["seconds"] is None
    assert shown["started_at"] == "2023-11-14T22:13:20.500Z" == iso_utc(1_700_000_000.5)


def test_a_run_meta_stops_says_why_with_its_exit_code(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    sandbox.config.token_expired = True
    report = capisync.run_sync(_project(tmp_path, sandbox), "purchases")
    shown = run_report_dict(report)
    assert shown["status"] == "failed" and shown["ok"] is False
    assert shown["failure"]["exit_code"] == shown["exit_code"] == 5
    assert shown["failure"]["retryable"] is False and "190" in shown["error"]
    assert shown["counts"]["sent"] == 0
    assert sum(shown["counts"][k] for k in END_STATES) == shown["counts"]["read"]
