"""The Python API orchestrators call: run_sync from a path or a Project built in code, and
run_sync_async inside a running event loop (Dagster, FastAPI, a notebook), over real HTTP to
the sandbox and a real DuckDB file."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import duckdb
import pytest
import yaml

import capisync
from capisync.demo import DEMO_EXPECTED, write_demo_project
from capisync.errors import ConfigError
from capisync.interrupts import StopRequest
from capisync.sandbox import SandboxServer


def _demo_dict(root: Path, sandbox: SandboxServer) -> dict[str, object]:
    """The demo project file as a dict, pointed at the sandbox."""
    data = yaml.safe_load((write_demo_project(root).config).read_text())
    data["syncs"]["purchases"]["destination"]["base_url"] = sandbox.url
    return data


def test_run_sync_takes_a_path_and_exports_from_the_package(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = write_demo_project(tmp_path).config
    text = config.read_text().replace("http://127.0.0.1:8765", sandbox.url)
    config.write_text(text)
    report = capisync.run_sync(str(config), "purchases")
    assert isinstance(report, capisync.RunReport)
    assert report.status == "completed"
    assert report.counts["sent"] == DEMO_EXPECTED["sent"]


def test_a_project_built_in_code_runs_like_a_file(tmp_path: Path, sandbox: SandboxServer) -> None:
    project = capisync.Project.from_dict(_demo_dict(tmp_path, sandbox), root=tmp_path)
    report = capisync.run_sync(project, "purchases")
    assert report.status == "completed"
    for key, value in DEMO_EXPECTED.items():
        assert report.counts[key] == value, key
    assert (tmp_path / ".capisync" / "state.db").exists()  # relative paths resolve on root


def test_a_project_built_in_code_is_checked_like_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        capisync.Project.from_dict(
            {"syncs": {"s": {"model": "select 1", "identifier": "id", "mapping": {"emial": "e"}}}},
            root=tmp_path,
        )
    text = str(caught.value)
    assert "syncs.s" in text and "emial" in text
    for not_a_project in (None, ["syncs"], "syncs: {}"):
        with pytest.raises(ConfigError, match="expected a mapping"):
            capisync.Project.from_dict(not_a_project, root=tmp_path)  # type: ignore[arg-type]


def test_async_twin_runs_inside_a_running_event_loop(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = capisync.Project.from_dict(_demo_dict(tmp_path, sandbox), root=tmp_path)

    async def orchestrator() -> tuple[capisync.RunReport, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        beat = asyncio.create_task(ticker())
        report = await capisync.run_sync_async(project, "purchases")
        beat.cancel()
        return report, ticks

    report, ticks = asyncio.run(orchestrator())
    assert report.status == "completed" and report.counts["sent"] == DEMO_EXPECTED["sent"]
    assert ticks > 1  # the loop kept turning while the run awaited Meta


def test_sync_run_sync_works_when_called_from_inside_a_running_loop(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = capisync.Project.from_dict(_demo_dict(tmp_path, sandbox), root=tmp_path)

    async def notebook_cell() -> capisync.RunReport:
        return capisync.run_sync(project, "purchases")  # asyncio.run would refuse here

    report = asyncio.run(notebook_cell())
    assert report.status == "completed" and report.counts["sent"] == DEMO_EXPECTED["sent"]


def orders_project(tmp_path: Path, sandbox: SandboxServer) -> capisync.Project:
    """5,000 orders in DuckDB, sent 100 a request, one request at a time, to the sandbox."""
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("""CREATE TABLE t AS SELECT 'o-' || i AS order_id, 'Purchase' AS event_name,
            now() - INTERVAL 1 HOUR AS event_time, 'physical_store' AS action_source,
            'a' || i || '@example.com' AS email, 1.0 AS value, 'usd' AS currency
            FROM range(5000) r(i)""")
    return capisync.Project.from_dict(
        {
            "syncs": {
                "s": {
                    "source": {"duckdb": "w.duckdb"},
                    "model": "select * from t",
                    "identifier": "order_id",
                    "delivery": {"batch_size": 100, "concurrency": 1},
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


def test_a_stop_request_ends_an_async_run_cleanly_with_rows_pending(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = orders_project(tmp_path, sandbox)
    sandbox.config.latency_ms = 50  # so the stop lands while batches are still to go
    stop = StopRequest()

    async def orchestrator() -> capisync.RunReport:
        run = asyncio.create_task(capisync.run_sync_async(project, "s", stop=stop))
        while not sandbox.store.events():
            await asyncio.sleep(0.01)
        stop.request(signal.SIGTERM)
        return await run

    report = asyncio.run(orchestrator())
    assert report.status == "interrupted" and report.exit_code == 143
    c = report.counts
    assert c["sent"] >= 100 and c["sent"] == len(sandbox.store.events())
    assert c["read"] == c["sent"] + c["pending"] + c["rejected"] + c["expired"]
    again = capisync.run_sync(project, "s")
    assert again.counts["sent"] == 5000 - c["sent"]


def test_on_start_gives_the_run_id_before_anything_is_read(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    project = capisync.Project.from_dict(_demo_dict(tmp_path, sandbox), root=tmp_path)
    seen: list[tuple[int | None, int, int]] = []

    def started(report: capisync.RunReport) -> None:
        seen.append((report.run_id, report.counts["read"], len(sandbox.store.events())))

    report = asyncio.run(capisync.run_sync_async(project, "purchases", on_start=started))
    assert seen == [(report.run_id, 0, 0)] and report.run_id is not None


def test_a_stop_during_a_throttle_wait_ends_the_wait_and_retries_nothing(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    # found by breaking serve: a stopped run went on waiting out Meta's throttle and retrying
    # (with a Meta that did not answer, minutes past the SIGTERM, beyond Kubernetes' grace)
    project = orders_project(tmp_path, sandbox)
    sandbox.config.throttle_after = 2
    sandbox.config.throttle_window_s = 20  # Retry-After: the run would wait about 20 s
    stop = StopRequest()
    posts_at_stop: list[int] = []

    def throttled() -> bool:
        return any(r.fault == "throttle" for r in sandbox.store.requests())

    async def orchestrator() -> capisync.RunReport:
        run = asyncio.create_task(capisync.run_sync_async(project, "s", stop=stop))
        while not throttled():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the client is in its throttle wait
        posts_at_stop.append(len(sandbox.store.requests()))
        stop.request(signal.SIGTERM)
        return await run

    report = asyncio.run(orchestrator())
    assert report.status == "interrupted" and report.exit_code == 143
    assert len(sandbox.store.requests()) == posts_at_stop[0]  # nothing posted after the stop
    c = report.counts
    assert c["sent"] == 200 == len(sandbox.store.events())
    assert c["read"] == c["sent"] + c["pending"] + c["rejected"] + c["expired"]
