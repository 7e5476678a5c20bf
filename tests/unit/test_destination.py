"""What a destination calls and sends: its api_version (by default the newest current one on the
run's day) and its partner_agent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from capisync.config import load_project
from capisync.errors import ConfigError
from capisync.meta.settings import partner_agent_for
from capisync.sync import SyncContext
from capisync.wiring import client_settings

PROJECT = """
syncs:
  purchases:
    source: {{duckdb: warehouse.duckdb}}
    model: select 1 as order_id
    identifier: order_id
    destination:
      dataset_id: "123"
      access_token: token
      {version}
"""


def settings_on(tmp_path: Path, day: str, version_line: str = "") -> str:
    path = tmp_path / "capisync.yml"
    path.write_text(PROJECT.format(version=version_line))
    project = load_project(path, env={})
    noon = datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC).timestamp()
    ctx = SyncContext("purchases", project.sync("purchases"), project, clock=lambda: noon)
    settings = client_settings(ctx)
    assert settings.events_url.endswith(f"/{settings.api_version}/123/events")
    return settings.api_version


@pytest.mark.parametrize(
    ("day", "expected"),
    [("2026-11-03", "v26.0"), ("2026-11-04", "v27.0"), ("2026-07-28", "v25.0")],
)
def test_the_default_version_is_the_newest_on_the_runs_day(
    tmp_path: Path, day: str, expected: str
) -> None:
    assert settings_on(tmp_path, day) == expected


def test_a_configured_version_is_kept_whatever_the_day(tmp_path: Path) -> None:
    assert settings_on(tmp_path, "2026-11-30", "api_version: v24.0") == "v24.0"


@pytest.mark.parametrize("bad", ["25", "v25", "latest", "V25.0", "v25.0.1"])
def test_a_malformed_version_is_a_config_error(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "capisync.yml"
    path.write_text(PROJECT.format(version=f'api_version: "{bad}"'))
    with pytest.raises(ConfigError) as caught:
        load_project(path, env={})
    [problem] = caught.value.problems
    assert "syncs.purchases.destination.api_version" in problem and "vNN.0" in problem


def test_version_on_reads_no_clock(tmp_path: Path) -> None:
    path = tmp_path / "capisync.yml"
    path.write_text(PROJECT.format(version=""))
    dest = load_project(path, env={}).sync("purchases").destination
    assert dest.version_on(date(2026, 11, 3)) == "v26.0"
    assert dest.version_on(date(2026, 11, 4)) == "v27.0"


@pytest.mark.parametrize(
    ("package_version", "agent"),
    [
        ("0.1.0", "capisync_0_1"),
        ("1.12.3", "capisync_1_12"),
        ("2.0", "capisync_2_0"),
        ("3", "capisync_3_0"),
        ("0.2.0rc1", "capisync_0_2"),
        ("0.2rc1", "capisync_0_2"),
        ("1.4.dev3", "capisync_1_4"),
        ("1.0.0+local.7", "capisync_1_0"),
    ],
)
def test_partner_agent_is_name_major_minor(package_version: str, agent: str) -> None:
    assert partner_agent_for("capisync", package_version) == agent
