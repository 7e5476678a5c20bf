"""A small project for the machine-output tests: 30 orders in a real DuckDB file, one sync
(or two, the second with a token the sandbox refuses) sending to the sandbox."""

from __future__ import annotations

from pathlib import Path

import duckdb

from capisync.sandbox import SandboxServer


def project(root: Path, sandbox: SandboxServer, *, second: bool = False, extra: str = "") -> Path:
    """30 orders: o-4 lacks a customer key (rejected), o-7 is 62.5 days old (expired).
    `extra`: more keys of sync `a` (indented four spaces)."""
    with duckdb.connect(str(root / "w.duckdb")) as con:
        con.execute("""CREATE OR REPLACE TABLE t AS SELECT 'o-' || range AS order_id,
            'Purchase' AS event_name,
            now() - CASE WHEN range = 7 THEN INTERVAL 1500 HOUR ELSE INTERVAL 1 HOUR END
              AS event_time,
            'physical_store' AS action_source,
            CASE WHEN range = 4 THEN NULL ELSE 'u' || range || '@example.com' END AS email,
            10.0 AS value, 'USD' AS currency FROM range(30) ORDER BY range""")
    sync = """
  {name}:
    source: {{duckdb: w.duckdb}}
    model: select * from t
    identifier: order_id
    destination: {{dataset_id: "5", access_token: sandbox-token, base_url: "{url}"}}
    delivery: {{batch_size: 5, concurrency: 1}}
"""
    text = "syncs:" + sync.format(name="a", url=sandbox.url) + extra
    if second:  # a sync whose destination refuses the token: exit 5
        text += sync.format(name="b", url=sandbox.url).replace("sandbox-token", "wrong-token")
    config = root / "capisync.yml"
    config.write_text(text)
    return config
