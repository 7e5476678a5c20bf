"""One sync's ticks, driven by a fake clock: runs start on ticks, a tick while the sync runs
is skipped and logged (never queued), missed ticks are not replayed, claims are honoured."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from capisync.errors import LedgerUnavailableError
from capisync.serve.schedule import parse_schedule
from capisync.serve.scheduler import Ticker

BASE = 60 * 16_666_667  # a whole minute, in epoch seconds


class Stop(Exception):
    """Raised by the fake sleep once the test's horizon is reached."""


class FakeClock:
    def __init__(self, now: float, horizon: float) -> None:
        self.now, self.horizon = now, horizon
        self.jumps: dict[int, float] = {}  # on the n-th sleep, sleep this much longer

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.jumps.pop(len(self.slept), 0.0) if self.jumps else seconds
        self.slept.append(seconds)
        if self.now > self.horizon:
            raise Stop
        await asyncio.sleep(0)

    slept: list[float]


class FakeRuns:
    """Runs that take `seconds` of the fake clock each."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds
        self.started: list[float] = []
        self.ends: list[float] = []

    def running(self) -> int | None:
        if self.ends and self.clock() < self.ends[-1]:
            return len(self.started)
        return None

    async def start(self) -> object:
        self.started.append(self.clock())
        self.ends.append(self.clock() + self.seconds)
        return None


def ticker(
    expr: str,
    clock: FakeClock,
    runs: FakeRuns,
    *,
    zone: str | None = None,
    claim: object = None,
    errors: list[str] | None = None,
) -> Ticker:
    clock.slept = []
    return Ticker(
        "purchases",
        parse_schedule(expr, zone),
        clock=clock,
        sleep=clock.sleep,
        is_running=runs.running,
        claim=claim or (lambda tick: True),  # type: ignore[arg-type]
        start=runs.start,
        on_error=(errors if errors is not None else []).append,
    )


def drive(t: Ticker) -> None:
    with pytest.raises(Stop):
        asyncio.run(t.run())


def test_an_interval_starts_a_run_on_each_tick() -> None:
    clock = FakeClock(BASE + 5, horizon=BASE + 250)
    runs = FakeRuns(clock, seconds=10)
    drive(ticker("every 1m", clock, runs))
    assert [t - BASE for t in runs.started] == [60, 120, 180, 240]


def test_a_cron_in_a_time_zone_starts_runs_on_its_wall_clock() -> None:
    clock = FakeClock(BASE, horizon=BASE + 3 * 86400)
    runs = FakeRuns(clock, seconds=10)
    drive(ticker("0 9 * * *", clock, runs, zone="America/New_York"))
    local = [
        datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo("America/New_York"))
        for t in runs.started
    ]
    assert len(local) == 3 and {(t.hour, t.minute) for t in local} == {(9, 0)}


def test_a_run_longer_than_its_interval_skips_ticks_and_never_queues_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(BASE + 5, horizon=BASE + 450)
    runs = FakeRuns(clock, seconds=150)  # 2.5 intervals
    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        drive(ticker("every 1m", clock, runs))
    # run 1 at +60 ends at +210: +120 and +180 skipped; run 2 at +240 (not at +210: nothing
    # queued) ends at +390: +300 and +360 skipped; run 3 at +420
    assert [t - BASE for t in runs.started] == [60, 240, 420]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 4
    assert all(m.startswith("purchases: tick at ") for m in skipped)
    assert sum("run 1 is still running" in m for m in skipped) == 2
    assert sum("run 2 is still running" in m for m in skipped) == 2


def test_ticks_missed_while_the_process_was_suspended_are_not_replayed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(BASE + 5, horizon=BASE + 500)
    clock.jumps = {1: 200.0}  # the second sleep wakes 200 s late (a suspended machine)
    runs = FakeRuns(clock, seconds=1)
    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        drive(ticker("every 1m", clock, runs))
    # +60 runs; the sleep to +120 wakes at +320: +120, +180, +240 missed, +300 runs at once
    # (one run, not four), then the schedule goes on
    assert [t - BASE for t in runs.started] == [60, 320, 360, 420, 480]
    [missed] = [r.getMessage() for r in caplog.records if "missed" in r.getMessage()]
    assert "3 tick(s) missed" in missed and "not replayed" in missed


def test_a_tick_claimed_by_another_process_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(BASE + 5, horizon=BASE + 250)
    runs = FakeRuns(clock, seconds=1)
    ours = {BASE + 60, BASE + 180}
    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        drive(ticker("every 1m", clock, runs, claim=lambda tick: tick in ours))
    assert sorted(runs.started) == sorted(ours)
    assert sum("claimed it" in r.getMessage() for r in caplog.records) == 2


def test_a_ledger_that_cannot_claim_marks_the_sync_failing_and_ticking_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(BASE + 5, horizon=BASE + 190)
    runs = FakeRuns(clock, seconds=1)
    errors: list[str] = []

    def claim(tick: float) -> bool:
        if tick == BASE + 60:
            raise LedgerUnavailableError("the ledger's server cannot be reached (try again later)")
        return True

    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        drive(ticker("every 1m", clock, runs, claim=claim, errors=errors))
    assert [t - BASE for t in runs.started] == [120, 180]
    assert errors == ["the ledger's server cannot be reached (try again later)"]
    assert any(
        r.levelno == logging.ERROR and "purchases:" in r.getMessage() for r in caplog.records
    )


def test_a_bug_in_starting_a_run_is_logged_without_its_message_and_ticking_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(BASE + 5, horizon=BASE + 130)
    runs = FakeRuns(clock, seconds=1)
    errors: list[str] = []
    calls: list[float] = []

    async def start() -> object:
        calls.append(clock())
        if len(calls) == 1:
            raise KeyError("jane@example.com")
        return await runs.start()

    t = ticker("every 1m", clock, runs, errors=errors)
    t.start = start
    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        drive(t)
    assert len(calls) == 2 and len(runs.started) == 1
    assert "KeyError" in errors[0] and "jane" not in errors[0]
    assert "jane" not in caplog.text and "KeyError" in caplog.text


def test_a_bug_in_claiming_a_tick_is_logged_without_its_message_and_ticking_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # found by breaking serve: any exception but CapisyncError from claim() ended the
    # ticker task, and the sync was never scheduled again until serve restarted
    clock = FakeClock(BASE + 5, horizon=BASE + 190)
    runs = FakeRuns(clock, seconds=1)
    errors: list[str] = []

    def claim(tick: float) -> bool:
        if tick == BASE + 60:
            raise OverflowError("jane@example.com")
        return True

    with caplog.at_level(logging.INFO, logger="capisync.serve"):
        drive(ticker("every 1m", clock, runs, claim=claim, errors=errors))
    assert [t - BASE for t in runs.started] == [120, 180]
    assert len(errors) == 1 and "OverflowError" in errors[0] and "jane" not in errors[0]
    assert "jane" not in caplog.text and "OverflowError" in caplog.text
