"""Alerts from real runs: a real DuckDB demo project, the sandbox as Meta, and a real webhook
receiver on 127.0.0.1 getting each kind of alert (failed run, rejected share, match-key
coverage drop, stale model, EMQ drop), once while the condition holds, then "resolved"; no
customer value and no token in any body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from tests.integration.webhook_receiver import WebhookReceiver

from capisync.config import Project
from capisync.demo import DEMO_EXPECTED, insert_rows, new_demo_row, write_demo_project
from capisync.errors import SourceUnavailableError, SyncLockedError
from capisync.meta.quality import EventQuality
from capisync.quality import QualitySnapshot, quality_history_for
from capisync.sandbox import SandboxServer
from capisync.serve.alerts import Alerter, alerts_after_run, could_not_start
from capisync.serve.metrics import Metrics
from capisync.state import Ledger
from capisync.state.quality import store_quality
from capisync.sync import RunReport, run_sync

TOKEN = "sandbox-token"


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def demo(root: Path, sandbox: SandboxServer, hook_url: str, **alerts: Any) -> Project:
    """The demo project (300 orders in DuckDB) pointed at the sandbox, with `alerts:`."""
    data = yaml.safe_load(write_demo_project(root).config.read_text())
    data["syncs"]["purchases"]["destination"]["base_url"] = sandbox.url
    data["alerts"] = {"webhook": "${HOOK}", **alerts}
    return Project.from_dict(data, root=root, env={"HOOK": hook_url})


def customer_values(root: Path) -> set[str]:
    """Every customer value in the demo warehouse (emails, phones, names, IPs)."""
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        rows = con.execute(
            "SELECT email, phone, first_name, last_name, ip_address FROM orders"
        ).fetchall()
    return {str(v).strip().lower() for row in rows for v in row if v and len(str(v).strip()) > 4}


def assert_nothing_leaked(hook: WebhookReceiver, root: Path) -> None:
    assert hook.raw, "no alert was received"
    texts = [raw.decode().lower() for raw in hook.raw]
    for value in customer_values(root) | {TOKEN, hook.url.lower()}:
        assert not any(value in text for text in texts), "a raw value reached a webhook body"
    assert not any("ord-1" in text for text in texts)  # nor a row's identifier


def no_sleep(seconds: float) -> Any:
    return asyncio.sleep(0)


def test_a_failed_run_alerts_once_then_resolves(
    tmp_path: Path, sandbox: SandboxServer, hook: WebhookReceiver
) -> None:
    project = demo(tmp_path, sandbox, hook.url)
    sandbox.config.token_expired = True
    try:
        first = run_sync(project, "purchases")
        assert first.status == "failed"
        [alert] = alerts_after_run(project, first)
        again = run_sync(project, "purchases")
        assert alerts_after_run(project, again) == []  # still failing: not posted again
    finally:
        sandbox.config.token_expired = False
    assert hook.kinds() == [("failed_run", "firing")]
    body = hook.bodies[0]
    assert body["capisync"]["exit_code"] == 5 and body["capisync"]["retryable"] is False
    assert body["capisync"]["run_id"] == first.run_id and body["capisync"]["sync"] == "purchases"
    assert first.error is not None and first.error in body["text"]  # as the CLI prints it
    assert "exit 5: Meta refused the token" in body["text"]
    assert body["blocks"][0]["text"]["text"] == body["text"]  # Slack shows the same
    fixed = run_sync(project, "purchases")
    assert fixed.status == "completed"
    [resolved] = alerts_after_run(project, fixed)
    assert resolved.resolved and hook.kinds()[-1] == ("failed_run", "resolved")
    assert f"run {fixed.run_id}" in hook.bodies[-1]["text"]
    assert_nothing_leaked(hook, tmp_path)


def test_a_run_that_could_not_start_alerts_with_the_exit_codes_meaning(
    tmp_path: Path, sandbox: SandboxServer, hook: WebhookReceiver
) -> None:
    project = demo(tmp_path, sandbox, hook.url)
    down = SourceUnavailableError("the warehouse at db.example:5432 is unreachable")

    async def notebook_cell() -> list[Any]:  # inside a running loop, as run_sync allows
        return alerts_after_run(project, could_not_start("purchases", down))

    [alert] = asyncio.run(notebook_cell())
    fields = hook.bodies[0]["capisync"]
    assert (fields["kind"], fields["run_id"], fields["exit_code"]) == ("failed_run", None, 75)
    assert fields["retryable"] is True and "could not start" in alert.text
    # another run holding the lock is no failure: nothing is posted, nothing resolved
    locked = could_not_start("purchases", SyncLockedError("held by host:1"))
    assert alerts_after_run(project, locked) == [] and len(hook.raw) == 1


def test_a_rejected_share_above_the_threshold_alerts_with_its_top_reasons(
    tmp_path: Path, sandbox: SandboxServer, hook: WebhookReceiver
) -> None:
    project = demo(tmp_path, sandbox, hook.url, rejected_share=0.01)
    report = run_sync(project, "purchases")
    assert report.counts["rejected"] == DEMO_EXPECTED["rejected"]
    [alert] = alerts_after_run(project, report)
    fields = hook.bodies[0]["capisync"]
    assert fields["kind"] == "rejected_share" and fields["rejected"] == 9
    assert fields["share"] == round(9 / (9 + DEMO_EXPECTED["sent"]), 4)
    assert sum(fields["reasons"].values()) == 9  # every rejected row under one reason
    top, n = next(iter(fields["reasons"].items()))
    assert f"{top} x{n}" in hook.bodies[0]["text"]
    assert_nothing_leaked(hook, tmp_path)


def test_a_default_threshold_lets_the_demos_rejections_pass(
    tmp_path: Path, sandbox: SandboxServer, hook: WebhookReceiver
) -> None:
    project = demo(tmp_path, sandbox, hook.url)  # rejected_share 0.05 by default: 3.1% passes
    assert alerts_after_run(project, run_sync(project, "purchases")) == []
    assert hook.raw == []


def test_rows_rejected_before_and_judged_again_are_no_new_rejected_share(
    tmp_path: Path, sandbox: SandboxServer, hook: WebhookReceiver
) -> None:
    project = demo(tmp_path, sandbox, hook.url)  # 0.05: the first run's 3.1 % passes
    assert alerts_after_run(project, run_sync(project, "purchases")) == []
    # no new rows: the 9 rows rejected before are judged again and rejected again; that
    # backlog was "9 of 9, 100 %" before rejected_again, an alert on every quiet run
    again = run_sync(project, "purchases")
    assert again.counts["rejected"] == 9 and again.rejected_again == 9 and again.counts["new"] == 0
    assert alerts_after_run(project, again) == [] and hook.raw == []
    add_orders(tmp_path, 1000, 10, email=True)  # 10 good new rows beside the 9 old ones
    assert alerts_after_run(project, run_sync(project, "purchases")) == []
    add_orders(tmp_path, 2000, 3, email=True)  # 3 new rows in a currency that does not exist
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute(
            "UPDATE orders SET currency = 'zzz' "
            "WHERE order_id IN ('ord-12001', 'ord-12002', 'ord-12003')"
        )
    bad = run_sync(project, "purchases")
    assert bad.counts["rejected"] == 12 and bad.rejected_again == 9
    [alert] = alerts_after_run(project, bad)
    assert alert.fields["rejected"] == 3 and alert.fields["rejected_again"] == 9
    assert alert.fields["share"] == 1.0  # 3 new rows, all rejected


def add_orders(root: Path, start: int, n: int, *, email: bool) -> None:
    rows = [new_demo_row(i, datetime.now(UTC)) for i in range(start, start + n)]
    for row in rows:
        row["email"] = row["email"] if email else None
    insert_rows(root / "warehouse.duckdb", rows)


def test_a_match_key_coverage_drop_alerts_then_resolves(
    tmp_path: Path, sandbox: SandboxServer, hook: WebhookReceiver
) -> None:
    # rejected_share off: the 9 rows rejected before are judged (and rejected) again in each
    # run, a share of 9 in 39 here
    project = demo(tmp_path, sandbox, hook.url, rejected_share=None)
    assert alerts_after_run(project, run_sync(project, "purchases")) == []  # no history yet
    add_orders(tmp_path, 1000, 30, email=False)  # the model lost its emails
    dropped = run_sync(project, "purchases")
    alerts = alerts_after_run(project, dropped)
    by_key = {a.subject: a for a in alerts}
    assert "em" in by_key and all(a.kind == "coverage_drop" for a in alerts)
    fields = by_key["em"].fields
    assert fields["share"] == 0 and fields["previous_mean"] > 0.9
    assert fields["previous_runs"] == 1
    assert alerts_after_run(project, dropped) == []  # judged again: already open
    add_orders(tmp_path, 2000, 30, email=True)  # fixed
    fixed = run_sync(project, "purchases")
    resolved = alerts_after_run(project, fixed)
    assert ("coverage_drop", "em") in {(a.kind, a.subject) for a in resolved if a.resolved}
    assert ("coverage_drop", "resolved") in hook.kinds()
    assert_nothing_leaked(hook, tmp_path)


def test_a_sync_without_new_rows_for_stale_after_alerts_once_then_resolves(
    tmp_path: Path, sandbox: SandboxServer, hook: WebhookReceiver
) -> None:
    project = demo(tmp_path, sandbox, hook.url, stale_after="6h")
    assert project.config.alerts is not None
    alerter = Alerter(project.config.alerts, project)
    now = time.time()
    assert asyncio.run(alerter.check_stale(now)) == []  # never ran: not judged
    run_sync(project, "purchases")
    run_sync(project, "purchases")  # a run without new rows does not count as fresh
    later = now + 7 * 3600
    [stale] = asyncio.run(alerter.check_stale(later))
    assert stale.kind == "stale_model" and stale.fields["stale_seconds"] > 6 * 3600
    assert asyncio.run(alerter.check_stale(later + 3600)) == []  # still stale: once
    [resolved] = asyncio.run(alerter.check_stale(now + 60))
    assert resolved.resolved and hook.kinds() == [
        ("stale_model", "firing"),
        ("stale_model", "resolved"),
    ]
    assert_nothing_leaked(hook, tmp_path)


def snapshot(fetched_at: float, **scores: float) -> QualitySnapshot:
    """A fetch of Meta's figures as capisync.quality stores it: EMQ per event name."""
    events = tuple(EventQuality(name, score) for name, score in scores.items())
    return QualitySnapshot("purchases", "1234567890", fetched_at, "v24.0", None, events)


def test_an_emq_drop_alerts_per_event_then_resolves(
    tmp_path: Path, sandbox: SandboxServer, hook: WebhookReceiver
) -> None:
    project = demo(tmp_path, sandbox, hook.url, emq_drop=1.5)
    assert project.config.alerts is not None
    alerter = Alerter(project.config.alerts, project)  # capisync.quality.emq_dropped
    ledger = Ledger(project.state_location())
    now = time.time()

    def fetched(**scores: float) -> list[QualitySnapshot]:
        """Store one more fetch in the ledger; the history as serve reads it back."""
        store_quality(ledger, "purchases", snapshot(now + len(fetches), **scores), now)
        fetches.append(scores)
        return quality_history_for(project, "purchases")

    fetches: list[dict[str, float]] = []
    fetched(Purchase=8.2, Lead=6.0)
    history = fetched(Purchase=6.1, Lead=5.5)  # Purchase down 2.1, Lead 0.5
    [alert] = asyncio.run(alerter.after_quality("purchases", history))
    assert alert.subject == "Purchase" and alert.fields["previous"] == 8.2
    assert "from 8.2 to 6.1" in hook.bodies[0]["text"]
    assert asyncio.run(alerter.after_quality("purchases", history)) == []  # open already
    [resolved] = asyncio.run(alerter.after_quality("purchases", fetched(Purchase=7.9, Lead=6)))
    assert resolved.resolved and resolved.subject == "Purchase"
    assert hook.kinds() == [("emq_drop", "firing"), ("emq_drop", "resolved")]
    ledger.close()


def test_a_failing_webhook_is_retried_logged_counted_and_never_fails_the_run(
    tmp_path: Path, sandbox: SandboxServer, hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    project = demo(tmp_path, sandbox, hook.url, rejected_share=0.01)
    assert project.config.alerts is not None
    metrics = Metrics()
    alerter = Alerter(project.config.alerts, project, metrics=metrics, sleep=no_sleep)
    report = run_sync(project, "purchases")
    hook.fail_next = 2  # two 500s, then the third attempt lands
    assert [a.kind for a in asyncio.run(alerter.after_run(report))] == ["rejected_share"]
    assert hook.attempts == 3 and len(hook.raw) == 1
    hook.fail_next, hook.raw = 100, []
    failing = RunReport("purchases", 999, "failed", error="the ledger is read-only")
    assert asyncio.run(alerter.after_run(failing)) == []  # gave up, said so, raised nothing
    assert "alert failed_run of sync purchases could not be posted" in caplog.text
    assert hook.url not in caplog.text  # the URL is a secret
    body, _ = metrics.render()
    assert b'capisync_alerts_total{kind="failed_run",outcome="failed"} 1.0' in body
    assert b'capisync_alerts_total{kind="rejected_share",outcome="sent"} 1.0' in body
    hook.fail_next = 0  # the webhook is back: the open condition is posted on the next look
    assert [a.kind for a in asyncio.run(alerter.after_run(failing))] == ["failed_run"]


def test_an_unreachable_webhook_changes_nothing_for_the_run(
    tmp_path: Path, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    with WebhookReceiver() as gone:
        url = gone.url  # closed when the block ends: connections are refused
    project = demo(tmp_path, sandbox, url, rejected_share=0.01)
    report = run_sync(project, "purchases")
    assert alerts_after_run(project, report) == []
    assert report.status == "completed" and "ConnectError" in caplog.text


def test_a_ledger_that_cannot_be_opened_does_not_silence_a_failed_run_alert(
    tmp_path: Path, hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    project = Project.from_dict(
        {
            "alerts": {"webhook": hook.url},
            "state": {"path": "/proc/capisync-no-such-dir/state.db"},  # never writable
            "syncs": {
                "purchases": {
                    "source": {"duckdb": "w.duckdb"},
                    "model": "select 1 as order_id",
                    "identifier": "order_id",
                    "destination": {"dataset_id": "1", "access_token": "${T}"},
                }
            },
        },
        root=tmp_path,
        env={"T": TOKEN},
    )
    failed = RunReport("purchases", None, "failed", error="cannot open the ledger")
    [alert] = alerts_after_run(project, failed)
    assert alert.kind == "failed_run" and hook.kinds() == [("failed_run", "firing")]
    assert "cannot record which are open" in caplog.text


def test_a_webhook_that_trickles_its_answer_is_given_up_on_after_the_timeout(
    tmp_path: Path, hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    # each byte arrives well within the timeout, so only a deadline on the whole post ends
    # it; without one, `capisync run` waited out the webhook's whole answer (here 60 s, 3x)
    hook.trickle = 300
    project = Project.from_dict(
        {
            "alerts": {"webhook": "${HOOK}", "timeout": 1},
            "syncs": {"purchases": yaml.safe_load(_MINIMAL_SYNC)},
        },
        root=tmp_path,
        env={"HOOK": hook.url},
    )
    assert project.config.alerts is not None
    alerter = Alerter(project.config.alerts, project, sleep=no_sleep)
    failing = RunReport("purchases", 7, "failed", error="the ledger is read-only")
    assert asyncio.run(alerter.after_run(failing)) == []
    assert "could not be posted to the webhook (timeout" in caplog.text
    assert hook.attempts == 3  # each attempt given up on, then tried again


_MINIMAL_SYNC = """
source: {duckdb: warehouse.duckdb}
model: select 1 as order_id
identifier: order_id
destination: {dataset_id: "1234567890", access_token: sandbox-token}
"""
