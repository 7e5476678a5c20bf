"""Service in one event loop with the sandbox and a real DuckDB project: every run, failed or
not, reaches the metrics and the alerter; their errors are logged and counted, never lost."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.serve_process import demo_project

from capisync.config import load_project
from capisync.demo import DEMO_EXPECTED
from capisync.errors import ConfigError
from capisync.sandbox import SandboxServer
from capisync.serve.service import Service, SyncState
from capisync.sync import RunReport


class Recorder:
    """Stands in for Metrics and Alerter: records what serve hands them."""

    def __init__(self, fail_alerts: bool = False) -> None:
        self.observed: list[RunReport] = []
        self.alerted: list[RunReport] = []
        self.next_runs: dict[str, float | None] = {}
        self.fail_alerts = fail_alerts
        self.quality: list[tuple[str, int]] = []
        self.stale_checks: list[float] = []

    def observe_run(self, report: RunReport) -> None:
        self.observed.append(report)

    def set_next_run(self, sync: str, ts: float | None) -> None:
        self.next_runs[sync] = ts

    def render(self) -> tuple[bytes, str]:
        return b"", "text/plain"

    async def after_quality(self, sync: str, history: Any) -> list[Any]:
        self.quality.append((sync, len(history)))
        return []

    async def check_stale(self, now: float) -> list[Any]:
        self.stale_checks.append(now)
        return []

    async def after_run(self, report: RunReport) -> list[Any]:
        self.alerted.append(report)
        if self.fail_alerts:
            raise RuntimeError("webhook answered jane@example.com")  # a value: never logged
        return []


def project_with_broken_sync(root: Path, sandbox_url: str) -> Path:
    config = demo_project(root, sandbox_url)
    text = config.read_text().replace(
        "serve:\n",
        "  broken:\n"
        "    source: {duckdb: warehouse.duckdb}\n"
        "    model: select * from no_such_orders\n"
        "    identifier: order_id\n"
        f'    destination: {{dataset_id: "1234567890", access_token: t, '
        f'base_url: "{sandbox_url}"}}\n'
        "serve:\n",
    )
    config.write_text(text)
    return config


async def finish(service: Service, name: str) -> int | None:
    started = await service.start_run(name, trigger="api")
    assert started.status == "started", started
    while service.sync_states()[service.names.index(name)].running_run_id is not None:
        await asyncio.sleep(0.05)
    return started.run_id


def test_every_run_reaches_metrics_and_alerts_and_a_failed_alert_is_logged_and_counted(
    tmp_path: Path, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = project_with_broken_sync(tmp_path, sandbox.url)
    recorder = Recorder(fail_alerts=True)
    project = load_project(config, env={"CAPISYNC_API_TOKEN": "tok"})

    async def scenario() -> Service:
        service = Service(project, metrics=recorder, alerter=recorder)  # type: ignore[arg-type]
        good = await finish(service, "purchases")
        bad = await finish(service, "broken")
        await asyncio.sleep(0.1)  # the alert tasks
        assert good is not None and bad is not None
        return service

    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        service = asyncio.run(scenario())
    assert [r.status for r in recorder.observed] == ["completed", "failed"]
    assert [r.sync for r in recorder.alerted] == ["purchases", "broken"]
    assert service.background_errors == 2
    assert caplog.text.count("alerts after a run failed: internal error (RuntimeError") == 2
    assert "jane@example.com" not in caplog.text
    states = {s.name: s for s in service.sync_states()}
    assert not states["purchases"].failing and states["broken"].failing
    assert "no_such_orders" in (states["broken"].last_error or "")
    assert service.token == "tok" and "tok" not in repr(service)


def test_a_sync_not_served_is_refused_by_name(tmp_path: Path, sandbox: SandboxServer) -> None:
    config = demo_project(tmp_path, sandbox.url)
    project = load_project(config, env={"CAPISYNC_API_TOKEN": "tok"})
    service = Service(project, metrics=Recorder())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no sync named 'refunds' is served here"):
        asyncio.run(service.start_run("refunds", trigger="api"))
    with pytest.raises(ConfigError, match="refunds"):
        Service(project, syncs=["refunds"])


def test_the_hourly_pass_fetches_meta_quality_once_a_day_and_asks_about_stale_models(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    from capisync.quality import quality_history_for

    config = demo_project(tmp_path, sandbox.url)
    project = load_project(config, env={"CAPISYNC_API_TOKEN": "tok"})
    recorder = Recorder()
    now = [time.time()]

    async def scenario() -> Service:
        service = Service(project, clock=lambda: now[0], metrics=recorder, alerter=recorder)  # type: ignore[arg-type]
        await finish(service, "purchases")
        for advance in (0.0, 3600.0, 86400.0):  # start, an hour later, a day later
            now[0] += advance
            service.hourly_pass()
            await service.background_done(30)
        return service

    service = asyncio.run(scenario())
    assert service.background_errors == 0
    assert len(recorder.stale_checks) == 3
    # fetched at the first pass and a day later, not an hour later
    assert recorder.quality == [("purchases", 1), ("purchases", 2)]
    assert len(quality_history_for(project, "purchases")) == 2


class BuggyTransport(httpx.AsyncBaseTransport):
    """Meta's requests raise an exception no capisync code expects: a bug, as a run sees it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise KeyError("jane@example.com")


def test_a_bug_in_one_run_marks_its_sync_failing_without_its_message_and_serve_goes_on(
    tmp_path: Path, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = demo_project(tmp_path, sandbox.url)
    project = load_project(config, env={"CAPISYNC_API_TOKEN": "tok"})
    recorder = Recorder()
    failing: list[SyncState] = []

    async def scenario() -> Service:
        service = Service(project, metrics=recorder, transport=BuggyTransport())  # type: ignore[arg-type]
        await finish(service, "purchases")
        failing.append(service.sync_states()[0])
        service.transport = None  # the next run talks to the sandbox again
        await finish(service, "purchases")
        return service

    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        service = asyncio.run(scenario())
    assert [r.status for r in recorder.observed] == ["failed", "completed"]
    assert "purchases: run 1 failed: internal error (KeyError at " in caplog.text
    assert "jane" not in caplog.text
    assert failing[0].failing and "internal error (KeyError" in (failing[0].last_error or "")
    assert not service.sync_states()[0].failing  # the next run completed: healthy again
    assert len(sandbox.store.events()) == DEMO_EXPECTED["sent"]


class BrokenSchedule:
    """A schedule whose next tick raises: a bug in one sync's ticker."""

    text, timezone, interval_seconds = "every 1m", "UTC", 60

    def next_fire_ts(self, after: float) -> float:
        raise RuntimeError("jane@example.com")  # a value: never logged


def test_a_schedule_that_breaks_stops_only_its_own_sync(
    tmp_path: Path, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    # found by breaking serve: run_schedules gathered the tickers without return_exceptions,
    # so one ticker's exception cancelled every other sync's schedule and ended serve
    config = project_with_broken_sync(tmp_path, sandbox.url)
    config.write_text(config.read_text().replace("serve:\n", "    schedule: every 1m\nserve:\n"))
    project = load_project(config, env={"CAPISYNC_API_TOKEN": "tok"})
    now = [time.time()]
    started: list[tuple[str, float]] = []

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    async def scenario() -> tuple[Service, bool]:
        service = Service(project, metrics=Recorder(), clock=lambda: now[0], sleep=fake_sleep)  # type: ignore[arg-type]
        assert set(service.schedules) == {"broken"}
        service.schedules["purchases"] = service.schedules.pop("broken")
        service.schedules["broken"] = BrokenSchedule()  # type: ignore[assignment]
        service._hourly = asyncio.Event().wait  # type: ignore[assignment,method-assign]

        async def start_run(name: str, *, trigger: str) -> None:
            started.append((name, now[0]))

        service.start_run = start_run  # type: ignore[assignment,method-assign]
        ticking = asyncio.create_task(service.run_schedules())
        while len(started) < 3 and not ticking.done():
            await asyncio.sleep(0)
        still = not ticking.done()
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        return service, still

    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        service, still_ticking = asyncio.run(scenario())
    assert still_ticking and [name for name, _ in started] == ["purchases"] * 3
    assert [b - a for (_, a), (_, b) in itertools.pairwise(started)] == [60, 60]
    broken = service.sync_states()[service.names.index("broken")]
    assert broken.failing and "its schedule stopped: internal error (RuntimeError" in (
        broken.last_error or ""
    )
    assert "jane" not in caplog.text


def test_a_bug_in_the_hourly_checks_is_logged_and_counted_and_schedules_go_on(
    tmp_path: Path, sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    project = load_project(demo_project(tmp_path, sandbox.url), env={"CAPISYNC_API_TOKEN": "t"})

    async def broken_hourly() -> None:
        raise RuntimeError("jane@example.com")  # a value: never logged

    async def scenario() -> tuple[Service, bool]:
        service = Service(project, metrics=Recorder())  # type: ignore[arg-type]
        service._hourly = broken_hourly  # type: ignore[method-assign]
        ticking = asyncio.create_task(service.run_schedules())
        while service.background_errors == 0 and not ticking.done():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        still = not ticking.done()
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
        return service, still

    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        service, still_serving = asyncio.run(scenario())
    assert still_serving and service.background_errors == 1
    assert "the hourly checks (stale models, Meta's quality) stopped: internal error" in caplog.text
    assert "jane" not in caplog.text
