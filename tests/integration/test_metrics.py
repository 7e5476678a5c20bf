"""Prometheus metrics after real runs against the sandbox, rendered and read back with
prometheus_client's own text parser; the Meta client's retry and throttle counters from a
sandbox that throttles, through RunReport, the ledger's run details and `capisync runs`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from capisync.cli import app
from capisync.config import Project
from capisync.demo import DEMO_EXPECTED, write_demo_project
from capisync.sandbox import SandboxServer
from capisync.serve.metrics import Metrics
from capisync.state import Ledger
from capisync.sync import run_sync


def demo(root: Path, sandbox: SandboxServer, **delivery: int) -> Project:
    data = yaml.safe_load(write_demo_project(root).config.read_text())
    sync = data["syncs"]["purchases"]
    sync["destination"]["base_url"] = sandbox.url
    if delivery:
        sync["delivery"] = delivery
    return Project.from_dict(data, root=root)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered text, by (name, sorted labels)."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_metrics_count_real_runs_by_status_reason_and_time(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    metrics = Metrics(clock=lambda: 1_800_000_000.0)
    project = demo(tmp_path, sandbox)
    sandbox.config.token_expired = True
    try:
        failed = run_sync(project, "purchases")  # nothing sent: Meta refuses the token
    finally:
        sandbox.config.token_expired = False
    metrics.observe_run(failed)
    completed = run_sync(project, "purchases")
    metrics.observe_run(completed)
    metrics.set_next_run("purchases", 1_800_000_900.0)
    got = samples(metrics)
    sync = (("sync", "purchases"),)
    assert got[("capisync_runs_total", (("status", "completed"), *sync))] == 1
    assert got[("capisync_runs_total", (("status", "failed"), *sync))] == 1
    assert got[("capisync_events_sent_total", sync)] == DEMO_EXPECTED["sent"]
    assert (
        got[("capisync_rows_read_total", sync)] == completed.counts["read"] + failed.counts["read"]
    )
    rejected = {
        dict(labels)["reason"]: value
        for (name, labels), value in got.items()
        if name == "capisync_events_rejected_total"
    }
    # both runs rejected the 9 bad rows (checked before sending); a row once, first reason
    assert sum(rejected.values()) == failed.counts["rejected"] + completed.counts["rejected"]
    runs = (failed, completed)
    assert rejected == Counter(r.reasons[0]["code"] for run in runs for r in run.rejections)
    assert rejected == failed.rejected_by_reason + completed.rejected_by_reason
    assert got[("capisync_run_duration_seconds_count", sync)] == 2
    assert got[("capisync_run_duration_seconds_sum", sync)] == pytest.approx(
        completed.seconds + failed.seconds
    )
    assert got[("capisync_last_success_timestamp_seconds", sync)] == 1_800_000_000.0
    assert got[("capisync_next_run_timestamp_seconds", sync)] == 1_800_000_900.0
    assert got[("capisync_meta_retries_total", sync)] == 0  # the sandbox answered at once
    metrics.set_next_run("purchases", None)
    assert ("capisync_next_run_timestamp_seconds", sync) not in samples(metrics)


def test_two_metrics_keep_their_own_registries(tmp_path: Path, sandbox: SandboxServer) -> None:
    one, other = Metrics(), Metrics()
    one.observe_run(run_sync(demo(tmp_path, sandbox), "purchases"))
    assert samples(one)[("capisync_events_sent_total", (("sync", "purchases"),))] > 0
    assert not any(name == "capisync_events_sent_total" for name, _ in samples(other))


def test_a_throttling_meta_shows_in_the_report_the_ledger_runs_and_metrics(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = demo(tmp_path, sandbox, batch_size=50, concurrency=1)  # 6 requests
    sandbox.config.throttle_after, sandbox.config.throttle_window_s = 3, 0.5
    try:
        report = run_sync(project, "purchases")
    finally:
        sandbox.config.throttle_after = None
    throttled = Counter(r.fault for r in sandbox.store.requests())["throttle"]
    assert report.status == "completed" and report.counts["sent"] == DEMO_EXPECTED["sent"]
    assert throttled > 0
    # each throttled answer is waited out and retried once
    assert report.throttle_waits == throttled and report.retries == throttled
    assert report.throttle_wait_seconds >= throttled  # Retry-After: whole seconds, >= 1
    [run] = Ledger(project.state_location()).runs("purchases")
    assert run.details["retries"] == throttled and run.details["throttle_waits"] == throttled
    assert run.details["throttle_wait_seconds"] == round(report.throttle_wait_seconds, 3)
    metrics = Metrics()
    metrics.observe_run(report)
    got = samples(metrics)
    sync = (("sync", "purchases"),)
    assert got[("capisync_meta_retries_total", sync)] == throttled
    assert got[("capisync_throttle_waits_total", sync)] == throttled
    assert got[("capisync_throttle_wait_seconds_total", sync)] == pytest.approx(
        report.throttle_wait_seconds
    )
    shown = CliRunner().invoke(app, ["runs", "--config", str(write_config(project))])
    assert shown.exit_code == 0, shown.output
    assert f"Meta: {throttled} request(s) retried, {throttled} of them after Meta's rate" in (
        " ".join(shown.output.split())
    )


def write_config(project: Project) -> Path:
    """A project file beside the ledger, for `capisync runs` (it reads only `state:`)."""
    path = project.root / "runs.yml"
    path.write_text(yaml.safe_dump({"syncs": {"purchases": {}}}))
    return path


def test_rejected_rows_are_all_counted_beyond_the_reports_kept_examples(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:  # 250 rows without customer keys
        con.execute("""CREATE TABLE t AS SELECT 'o-' || i AS order_id, 'Purchase' AS event_name,
            now() - INTERVAL 1 HOUR AS event_time, 'physical_store' AS action_source,
            CASE WHEN i < 50 THEN 'a' || i || '@example.com' END AS email, 1.0 AS value,
            'usd' AS currency FROM range(300) r(i)""")
    project = Project.from_dict(
        {
            "syncs": {
                "s": {
                    "source": {"duckdb": "w.duckdb"},
                    "model": "select * from t",
                    "identifier": "order_id",
                    "destination": {
                        "dataset_id": "42",
                        "access_token": "sandbox-token",
                        "base_url": sandbox.url,
                    },
                }
            }
        },
        root=tmp_path,
    )
    report = run_sync(project, "s")
    assert report.counts["rejected"] == 250 and len(report.rejections) < 250  # examples only
    metrics = Metrics()
    metrics.observe_run(report)
    rejected = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples(metrics).items()
        if name == "capisync_events_rejected_total"
    }
    assert rejected == {"no_customer_keys": 250}
