"""`capisync quality` against a real sandbox: Meta's figures for what capisync sent, the
partner_agent view, the ledger history, EMQ drops, --json, and the exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.config import load_project
from capisync.quality import emq_dropped, latest_quality, quality_history_for
from capisync.sandbox import SandboxServer
from capisync.sandbox.examples import valid_batch
from tests.integration.conftest import DATASET_ID, TOKEN, VERSION, events_url

runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def project(tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo project, synced once to a fresh sandbox; retries kept short."""
    sandbox.reset()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAPISYNC_BASE_URL", sandbox.url)
    assert runner.invoke(app, ["init", "."]).exit_code == 0
    file = tmp_path / "capisync.yml"
    file.write_text(
        file.read_text().replace(
            "    destination:\n", "    delivery:\n      max_attempts: 1\n    destination:\n", 1
        )
    )
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    return tmp_path


def other_senders_events(sandbox: SandboxServer, count: int) -> None:
    """Purchases another platform sends to the same dataset, with weaker keys."""
    events = valid_batch(count, start=10_000)
    for event in events:
        ud = event["user_data"]
        event["user_data"] = {k: ud[k] for k in ("em", "client_ip_address", "client_user_agent")}
    response = httpx.post(
        f"{sandbox.url}{events_url()}",
        json={"access_token": TOKEN, "data": events, "partner_agent": "otherplatform_2_1"},
    )
    assert response.status_code == 200, response.text


def test_quality_shows_meta_s_figures_and_records_them(project: Path) -> None:
    result = runner.invoke(app, ["quality", "purchases"])
    assert result.exit_code == 0, result.output
    assert f"dataset {DATASET_ID}" in result.output and VERSION in result.output
    snapshot = latest_quality(load_project(project / "capisync.yml"), "purchases")
    assert snapshot is not None
    [purchase] = snapshot.events
    assert purchase.event_name == "Purchase" and purchase.composite_score is not None
    assert f"Purchase   {purchase.composite_score:.1f}" in result.output
    identifiers = {m.identifier for m in purchase.match_keys}
    assert {"email", "phone", "ip_address", "user_agent"} <= identifiers
    # everything the demo sent carries capisync's partner_agent: the same figures
    assert snapshot.agent_name == "capisync"
    assert snapshot.event("Purchase", agent=True) == purchase
    assert "Update your IPv4 IP addresses" in result.output


def test_agent_view_leaves_out_other_senders(project: Path, sandbox: SandboxServer) -> None:
    other_senders_events(sandbox, 50)
    result = runner.invoke(app, ["quality", "--json"])
    assert result.exit_code == 0, result.output
    [body] = json.loads(result.output)
    dataset = {e["event_name"]: e for e in body["events"]}["Purchase"]
    ours = {e["event_name"]: e for e in body["agent_events"]}["Purchase"]
    assert dataset["composite_score"] < ours["composite_score"]
    assert body["agent_name"] == "capisync" and body["sync"] == "purchases"
    assert isinstance(ours["capisync_estimate"], float)
    keys = {d["dedupe_key"] for d in ours["dedup_keys"]}
    assert keys == {"event_id", "external_id", "fbp"}


def test_history_and_emq_drop_between_fetches(project: Path, sandbox: SandboxServer) -> None:
    assert runner.invoke(app, ["quality"]).exit_code == 0
    other_senders_events(sandbox, 400)
    assert runner.invoke(app, ["quality"]).exit_code == 0
    history = quality_history_for(load_project(project / "capisync.yml"), "purchases")
    assert len(history) == 2 and history[0].fetched_at >= history[1].fetched_at
    [(name, before, after)] = emq_dropped(history, 1.0)
    assert name == "Purchase" and before - after >= 1.0
    assert emq_dropped(history, 10.0) == []


def test_no_token_or_customer_value_in_output_or_ledger(project: Path) -> None:
    result = runner.invoke(app, ["quality", "--json"])
    assert result.exit_code == 0
    ledger = (project / ".capisync" / "state.db").read_bytes()
    for text in (result.output, ledger.decode("latin-1")):
        assert TOKEN not in text
    assert "@" not in result.output  # no email address, raw or otherwise


def test_a_refused_token_exits_5(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("META_ACCESS_TOKEN", "not-the-token")
    result = runner.invoke(app, ["quality"])
    assert result.exit_code == 5, result.output
    assert "sync 'purchases'" in result.output and "not-the-token" not in result.output
    assert latest_quality(load_project(project / "capisync.yml"), "purchases") is None


def test_meta_unreachable_exits_75(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("CAPISYNC_BASE_URL", f"http://127.0.0.1:{closed}")
    result = runner.invoke(app, ["quality", "purchases"])
    assert result.exit_code == 75, result.output


def test_an_unknown_sync_exits_2(project: Path) -> None:
    result = runner.invoke(app, ["quality", "nope"])
    assert result.exit_code == 2 and "no sync named 'nope'" in result.output


def test_help_has_an_example() -> None:
    result = runner.invoke(app, ["quality", "--help"])
    assert result.exit_code == 0 and "Example: capisync quality" in result.output


def test_fetch_quality_works_when_called_inside_a_running_event_loop(project: Path) -> None:
    import asyncio

    from capisync.quality import fetch_quality

    loaded = load_project(project / "capisync.yml")

    async def notebook_cell() -> float | None:
        # asyncio.run would refuse here: fetch_quality runs in a worker thread instead
        [purchase] = fetch_quality(loaded, "purchases").events
        return purchase.composite_score

    score = asyncio.run(notebook_cell())
    stored = latest_quality(loaded, "purchases")
    assert score is not None and stored is not None
    assert stored.events[0].composite_score == score
