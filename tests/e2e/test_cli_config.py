"""The project file through the command line: every problem at once (exit 2, nothing run),
IDs written without quotes, YAML anchors and merge keys in a file that really runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.sandbox import SandboxServer

runner = CliRunner()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def warehouse(root: Path) -> None:
    with duckdb.connect(str(root / "w.duckdb")) as con:
        con.execute("""CREATE OR REPLACE TABLE t AS SELECT 'o-' || range AS order_id,
            'Purchase' AS event_name, now() - INTERVAL 1 HOUR AS event_time,
            'user' || range || '@example.com' AS email, 10.0 AS value, 'USD' AS currency
            FROM range(5)""")


def test_a_bad_batch_size_and_three_mapping_typos_are_reported_together(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    warehouse(tmp_path)
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: select * from t
    identifier: order_id
    mapping: {{emial: email, valeu: value, curency: currency}}
    static: {{acton_source: physical_store}}
    destination: {{dataset_id: 1234567890, access_token: sandbox-token, base_url: "{sandbox.url}"}}
    delivery: {{batch_size: 5000}}
""")
    for command in (["check"], ["run"]):
        result = runner.invoke(app, [*command, "--config", str(config)])
        out = " ".join(result.output.split())
        assert result.exit_code == 2, out
        assert f"{config}: invalid configuration:" in out
        assert "- syncs.s.delivery.batch_size: Input should be less than or equal to 1000" in out
        for typo, key in (("emial", "em"), ("valeu", "value"), ("curency", "currency")):
            assert f"- syncs.s.mapping: unknown parameter '{typo}': did you mean '{key}'" in out
        assert "- syncs.s.static: unknown parameter 'acton_source': did you mean" in out
    assert not (tmp_path / ".capisync").exists()  # nothing ran, no ledger was made


def test_anchors_merge_keys_and_an_unquoted_dataset_id_run_for_real(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    warehouse(tmp_path)
    sandbox.store.reset()
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
x-destination: &meta
  dataset_id: 1234567890
  access_token: sandbox-token
  base_url: "{sandbox.url}"
x-sync: &sync
  source: {{duckdb: w.duckdb}}
  identifier: order_id
  static: {{action_source: physical_store}}
  destination: *meta
syncs:
  store:
    <<: *sync
    model: select * from t where order_id < 'o-3'
  test:
    <<: *sync
    model: select * from t where order_id >= 'o-3'
    destination: {{<<: *meta, test_event_code: 0123}}
""")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    events = sandbox.store.events()
    assert len(events) == 5
    assert {e.test_event_code for e in events} == {None, "0123"}  # not octal 83
    assert {e.event["action_source"] for e in events} == {"physical_store"}
