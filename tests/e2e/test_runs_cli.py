"""`capisync run` and `capisync runs` as a user reads them: every row in a column, the
columns adding up to `read`, test runs marked, an empty model warned about."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.sandbox import SandboxServer

runner = CliRunner()
HISTORY = ("read", "already", "baseline", "sent", "rejected", "dup", "expired", "pending")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def project(root: Path, sandbox: SandboxServer, extra: str = "", where: str = "true") -> str:
    with duckdb.connect(str(root / "w.duckdb")) as con:
        # 30 rows: o-3 repeats twice (rows 28, 29), o-4 has no customer key (rejected)
        con.execute("""CREATE OR REPLACE TABLE t AS SELECT
            'o-' || (CASE WHEN range >= 28 THEN 3 ELSE range END) AS order_id, range AS n,
            'Purchase' AS event_name, now() - INTERVAL 1 HOUR AS event_time,
            'physical_store' AS action_source,
            CASE WHEN range = 4 THEN NULL ELSE 'u' || range || '@example.com' END AS email,
            10.0 AS value, 'USD' AS currency FROM range(30)""")
    config = root / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: select * from t where {where} order by n
    identifier: order_id
    destination: {{dataset_id: "5", access_token: sandbox-token, base_url: "{sandbox.url}"}}
{extra}""")
    return str(config)


def history_rows(output: str) -> dict[int, dict[str, int]]:
    """`capisync runs` table rows by run id: {column: count}."""
    rows = {}
    for line in output.splitlines():
        cells = line.split()
        if cells and cells[0].isdigit() and len(cells) >= len(HISTORY) + 5:
            numbers = [int(c.replace(",", "")) for c in cells[-len(HISTORY) :]]
            rows[int(cells[0])] = dict(zip(HISTORY, numbers, strict=True))
    return rows


def test_runs_shows_every_state_and_they_add_up(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = project(tmp_path, sandbox, extra="    first_run: skip_existing\n")
    first = runner.invoke(app, ["run", "--config", config])  # records the baseline
    assert first.exit_code == 0 and "duplicate: 2 rows repeat an identifier" in first.output
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(
            "INSERT INTO t SELECT 'o-new', 99, 'Purchase', now() - INTERVAL 1 HOUR, "
            "'physical_store', 'new@example.com', 1.0, 'USD'"
        )
    second = runner.invoke(app, ["run", "--config", config])
    assert second.exit_code == 0
    history = runner.invoke(app, ["runs", "--config", config])
    assert history.exit_code == 0, history.output
    rows = history_rows(history.output)
    assert set(rows) == {1, 2}
    assert rows[1] == dict(
        read=30, already=0, baseline=27, sent=0, rejected=1, dup=2, expired=0, pending=0
    )
    # an identifier an earlier run settled is counted with it each time it comes (o-3 x3)
    assert rows[2] == dict(
        read=31, already=0, baseline=29, sent=1, rejected=1, dup=0, expired=0, pending=0
    )
    for row in rows.values():
        assert row["read"] == sum(v for k, v in row.items() if k != "read")
    rejections = runner.invoke(app, ["rejections", "s", "--config", config])
    assert "o-4" in rejections.output  # the one rejected row, as `runs` counts it


def test_a_test_run_is_marked_in_the_history(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = project(tmp_path, sandbox)
    result = runner.invoke(
        app, ["run", "--config", config, "--test-event-code", "T9", "--limit", "4"]
    )
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "test run, completed" in flat and "sent as test events" in flat
    assert "Meta does not drop test events, they also count for targeting" in flat
    assert "before it reached --limit 4" in flat
    history = " ".join(runner.invoke(app, ["runs", "--config", config]).output.split())
    assert "completed (test)" in history and "test_event_code T9" in history


def test_a_model_with_no_rows_warns_in_the_summary_and_the_history(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox, where="false")
    result = runner.invoke(app, ["run", "--config", config])
    assert result.exit_code == 0 and "warning: the model returned no rows" in result.output
    history = runner.invoke(app, ["runs", "--config", config])
    assert "the model returned no rows" in history.output


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_rejected_rows_without_an_identifier_reconcile_with_rejections(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path, sandbox)
    # the class: no identifier (NULL, blank) and an identifier holding personal data (an
    # email, a phone): rejected, counted, never storable in the ledger
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(
            "INSERT INTO t SELECT x, 100 + i, 'Purchase', now() - INTERVAL 1 HOUR, "
            "'physical_store', 'v' || i || '@example.com', 1.0, 'USD' FROM (VALUES "
            "(NULL, 1), ('   ', 2), ('buyer@example.com', 3), ('+1 650 555 1212', 4)) v(x, i)"
        )
    result = runner.invoke(app, ["run", "--config", config])
    assert result.exit_code == 0, result.output
    out = _flat(result.output)
    assert "4 of them have no identifier" in out
    assert "cannot be listed by `capisync rejections`" in out
    rows = history_rows(runner.invoke(app, ["runs", "--config", config]).output)
    assert rows[1]["rejected"] == 5  # o-4 (no customer key) and the four above
    history = _flat(runner.invoke(app, ["runs", "--config", config]).output)
    assert "4 of them have no identifier" in history
    listed = _flat(runner.invoke(app, ["rejections", "s", "--config", config]).output)
    assert "1 row currently rejected" in listed
    assert "run 1 also rejected 4 rows without an identifier" in listed
    # a later run with none of them says so: the note is about the last run
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("DELETE FROM t WHERE n >= 100")
    assert runner.invoke(app, ["run", "--config", config]).exit_code == 0
    later = _flat(runner.invoke(app, ["rejections", "s", "--config", config]).output)
    assert "without an identifier" not in later and "1 row currently rejected" in later


@pytest.mark.parametrize("code", ["", " ", "\t"])
def test_an_empty_test_event_code_is_refused_and_consumes_nothing(
    tmp_path: Path, sandbox: SandboxServer, code: str
) -> None:
    config = project(tmp_path, sandbox)
    before = len(sandbox.store.events())
    result = runner.invoke(app, ["run", "--config", config, "--test-event-code", code])
    assert result.exit_code == 2, result.output
    assert "--test-event-code is empty" in _flat(result.output)
    assert len(sandbox.store.events()) == before
    assert "no runs yet" in runner.invoke(app, ["runs", "--config", config]).output


def test_a_test_event_code_in_the_project_file_is_said_on_every_run(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = Path(project(tmp_path, sandbox))
    config.write_text(
        config.read_text().replace('base_url: "', 'test_event_code: TEST7, base_url: "')
    )
    for _ in range(2):  # each scheduled run sends the whole window again
        result = runner.invoke(app, ["run", "--config", str(config)])
        assert result.exit_code == 0, result.output
        out = _flat(result.output)
        assert "destination.test_event_code is set in the project file" in out
        assert "sends the whole window again as test events" in out
    history = _flat(runner.invoke(app, ["runs", "--config", str(config)]).output)
    assert history.count("destination.test_event_code is set in the project file") == 2
    # a code given on the command line is a person's test run: no such line
    once = runner.invoke(app, ["run", "--config", str(config), "--test-event-code", "T1"])
    assert "set in the project file" not in _flat(once.output)
