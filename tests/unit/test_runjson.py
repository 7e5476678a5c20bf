"""A run in flight as serve's API shows it: its seconds so far come from the service's clock."""

from __future__ import annotations

from capisync.serve.runjson import live_run_dict
from capisync.sync import RunReport


def test_a_running_run_shows_its_seconds_so_far_and_an_ended_one_its_own() -> None:
    running = RunReport("purchases", 7, "running")
    running.started_at = 1_800_000_000.0
    assert live_run_dict(running, 1_800_000_007.25)["seconds"] == 7.25
    ended = RunReport("purchases", 7, "completed")
    ended.started_at, ended.seconds = 1_800_000_000.0, 3.5
    assert live_run_dict(ended, 1_800_000_007.25)["seconds"] == 3.5
