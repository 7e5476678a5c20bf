"""A run that rejects many rows keeps a bounded number of examples per reason in its report
(memory flat in the model's size) while its counts and summary still say how many."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
from rich.console import Console

from capisync import report as summary
from capisync.config import load_project
from capisync.sandbox import SandboxServer
from capisync.sync import MAX_REJECTIONS_KEPT, run_sync


def test_examples_are_capped_per_reason_and_the_summary_counts_them_all(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        # 250 rows without any customer key, 30 with an unknown currency, 5 good ones
        con.execute("""CREATE TABLE t AS
            SELECT 'k-' || i AS order_id, 'Purchase' AS event_name,
                now() - INTERVAL 1 HOUR AS event_time, 'physical_store' AS action_source,
                NULL::VARCHAR AS email, 1.0 AS value, 'usd' AS currency FROM range(250) r(i)
            UNION ALL
            SELECT 'c-' || i, 'Purchase', now() - INTERVAL 1 HOUR, 'physical_store',
                'c' || i || '@example.com', 1.0, 'zzz' FROM range(30) r(i)
            UNION ALL
            SELECT 'g-' || i, 'Purchase', now() - INTERVAL 1 HOUR, 'physical_store',
                'g' || i || '@example.com', 1.0, 'usd' FROM range(5) r(i)""")
    (tmp_path / "capisync.yml").write_text(f"""
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: select * from t
    identifier: order_id
    destination: {{dataset_id: "42", access_token: sandbox-token, base_url: "{sandbox.url}"}}
""")
    report = run_sync(load_project(tmp_path / "capisync.yml"), "s")
    assert report.counts["rejected"] == 280 and report.counts["sent"] == 5
    assert report.reasons["no_customer_keys"] == 250
    assert report.reasons["invalid_currency"] == 30
    kept = [r.reasons[0]["code"] for r in report.rejections]
    assert kept.count("no_customer_keys") == MAX_REJECTIONS_KEPT
    assert kept.count("invalid_currency") == 30
    out = io.StringIO()
    summary.print_run(Console(file=out, width=200), report)
    text = out.getvalue()
    assert "no_customer_keys  250 rows" in text and "and 230 more" in text
    assert "invalid_currency  30 rows" in text and "and 10 more" in text
