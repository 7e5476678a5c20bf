"""Graph API versions by date, end to end: the sandbox routes them by its clock, the client says
what to fix, `capisync check` warns before a version expires and fails once it has."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import duckdb
import httpx
import pytest

from capisync.checks import check_sync
from capisync.config import load_project
from capisync.errors import MetaFatalError
from capisync.meta import BatchResult, ClientSettings, MetaClient, RetryPolicy
from capisync.sandbox import SandboxConfig, SandboxServer
from capisync.sandbox.examples import valid_event

DATASET = "1234567890"
TOKEN = "sandbox-token"


class Clock:
    """The sandbox's clock, set to noon UTC of a day; tests move it between requests."""

    def __init__(self) -> None:
        self.now = 0.0

    def set_day(self, day: str) -> float:
        self.now = datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC).timestamp()
        return self.now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def server(clock: Clock) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(clock=clock)) as sandbox:
        yield sandbox


@pytest.fixture
def graph(server: SandboxServer) -> Iterator[httpx.Client]:
    server.reset()
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        yield client


def post(graph: httpx.Client, clock: Clock, version: str) -> httpx.Response:
    body = {"access_token": TOKEN, "data": [valid_event(now=clock())]}
    return graph.post(f"/{version}/{DATASET}/events", json=body)


@pytest.mark.parametrize(
    ("day", "version"),
    [
        ("2026-11-04", "v27.0"),  # released today
        ("2026-11-30", "v27.0"),
        ("2026-11-30", "v26.0"),
        ("2026-11-30", "v21.0"),  # served until 2027-01-21
        ("2027-01-21", "v21.0"),  # its last day
        ("2026-09-24", "v20.0"),  # its last day
        ("2028-07-29", "v25.0"),  # its last day
    ],
)
def test_a_released_unexpired_version_is_served(
    graph: httpx.Client, clock: Clock, day: str, version: str
) -> None:
    clock.set_day(day)
    answer = post(graph, clock, version)
    assert answer.status_code == 200, answer.text
    assert answer.headers["facebook-api-version"] == version
    assert "x-ad-api-version-warning" not in answer.headers


@pytest.mark.parametrize(
    ("day", "version"),
    [
        ("2026-11-03", "v27.0"),  # the day before its release
        ("2026-07-28", "v26.0"),
        ("2026-11-30", "v28.0"),  # not a version yet
        ("2026-11-30", "v99.0"),
        ("2026-11-30", "v25.1"),
        ("2026-11-30", "v25"),
        ("2026-11-30", "25.0"),
    ],
)
def test_an_unknown_or_unreleased_version_is_an_unknown_path(
    graph: httpx.Client, clock: Clock, day: str, version: str
) -> None:
    clock.set_day(day)
    answer = post(graph, clock, version)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 2500 and error["type"] == "OAuthException"
    assert error["message"] == f"Unknown path components: /{version}/{DATASET}/events"


@pytest.mark.parametrize(
    ("day", "version", "latest"),
    [
        ("2027-01-22", "v21.0", "v27.0"),  # the day after its last
        ("2026-09-25", "v20.0", "v26.0"),  # v27.0 is not out yet
        ("2026-11-30", "v12.0", "v27.0"),
        ("2026-11-30", "v2.12", "v27.0"),
    ],
)
def test_an_expired_version_is_refused_with_2635_naming_the_latest(
    graph: httpx.Client, clock: Clock, day: str, version: str, latest: str
) -> None:
    clock.set_day(day)
    answer = post(graph, clock, version)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 2635
    assert error["message"] == (
        "(#2635) You are calling a deprecated version of the Ads API. "
        f"Please update to the latest version: {latest}."
    )


def test_an_expired_version_can_be_upgraded_instead(
    graph: httpx.Client, clock: Clock, server: SandboxServer
) -> None:
    assert graph.post("/_sandbox/config", json={"expired_versions": "upgrade"}).status_code == 200
    clock.set_day("2026-11-30")
    answer = post(graph, clock, "v20.0")
    assert answer.status_code == 200 and answer.json()["events_received"] == 1
    assert answer.headers["facebook-api-version"] == "v21.0"  # the oldest still served
    assert "upgraded to v21.0" in answer.headers["x-ad-api-version-warning"]
    clock.set_day("2027-01-22")
    assert post(graph, clock, "v20.0").headers["facebook-api-version"] == "v22.0"
    assert len(server.store.events()) == 2


def test_expired_versions_setting_is_checked(graph: httpx.Client) -> None:
    refused = graph.post("/_sandbox/config", json={"expired_versions": "sometimes"})
    assert refused.status_code == 400
    assert refused.json()["problems"] == ["expired_versions: must be one of fail, upgrade"]
    assert graph.get("/_sandbox/config").json()["expired_versions"] == "fail"


def test_get_dataset_is_routed_alike(graph: httpx.Client, clock: Clock) -> None:
    clock.set_day("2026-11-03")
    params = {"access_token": TOKEN}
    assert graph.get(f"/v26.0/{DATASET}", params=params).status_code == 200
    assert graph.get(f"/v27.0/{DATASET}", params=params).json()["error"]["code"] == 2500
    clock.set_day("2027-01-22")
    assert graph.get(f"/v21.0/{DATASET}", params=params).json()["error"]["code"] == 2635


def test_answers_are_dated_by_the_sandbox_clock(graph: httpx.Client, clock: Clock) -> None:
    clock.set_day("2027-01-22")
    for answer in (post(graph, clock, "v27.0"), post(graph, clock, "v21.0")):
        dated = parsedate_to_datetime(answer.headers["date"])
        assert dated.date().isoformat() == "2027-01-22"
        assert answer.headers.get_list("date") == [answer.headers["date"]]  # one Date header


# -- the client: a version Meta does not serve is for a person to fix ---------------------------


def deliver(server: SandboxServer, clock: Clock, version: str) -> BatchResult:
    settings = ClientSettings(
        base_url=server.url,
        api_version=version,
        dataset_id=DATASET,
        access_token=TOKEN,
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_total=2.0),
    )

    async def go() -> BatchResult:
        async with MetaClient(settings) as client:
            return await client.send([valid_event(now=clock())])

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("day", "version", "move_to"),
    [
        ("2027-01-22", "v21.0", "v27.0"),  # expired: Meta's 2635 names the latest
        ("2026-11-03", "v27.0", "v26.0"),  # not released yet: judged on the answer's date
        ("2026-11-30", "v99.0", "v27.0"),  # unknown
    ],
)
def test_the_client_names_the_configured_version_and_one_to_move_to(
    graph: httpx.Client, server: SandboxServer, clock: Clock, day: str, version: str, move_to: str
) -> None:
    clock.set_day(day)
    result = deliver(server, clock, version)
    assert result.pending == [0] and not result.accepted and not result.rejected
    assert isinstance(result.fatal, MetaFatalError)
    message = str(result.fatal)
    assert f"api_version {version}" in message
    assert f"set destination.api_version to {move_to}" in message
    assert "rows stay pending" in message
    assert result.requests == 1  # not retried, not bisected


def test_the_client_sends_with_a_current_version(
    graph: httpx.Client, server: SandboxServer, clock: Clock
) -> None:
    clock.set_day("2026-11-04")
    result = deliver(server, clock, "v27.0")
    assert result.fatal is None and result.accepted and result.accepted[0][0] == 0


# -- capisync check -------------------------------------------------------------------------------


def project_with(tmp_path: Path, version_line: str) -> Path:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute(
            "CREATE TABLE t AS SELECT 'o-1' AS order_id, 'a@example.com' AS email, "
            "current_timestamp AS event_time"
        )
    config = tmp_path / "capisync.yml"
    config.write_text(f"""
syncs:
  s:
    source: {{duckdb: w.duckdb}}
    model: select * from t
    identifier: order_id
    static: {{event_name: Lead, action_source: system_generated}}
    destination:
      dataset_id: "{DATASET}"
      access_token: {TOKEN}
      {version_line}
""")
    return config


def noon(day: str) -> float:
    return Clock().set_day(day)


@pytest.mark.parametrize(
    ("version_line", "day", "level", "ok", "words"),
    [
        (
            "api_version: v21.0",
            "2026-10-23",
            "warning",
            True,
            ["2027-01-21", "in 90 days", "v26.0"],
        ),
        ("api_version: v21.0", "2026-10-22", "ok", True, ["current", "2027-01-21"]),
        ("api_version: v21.0", "2027-01-22", "error", False, ["expired on 2027-01-21", "v27.0"]),
        ("api_version: v27.0", "2026-11-03", "error", False, ["2026-11-04", "v26.0"]),
        ("api_version: v28.0", "2026-11-30", "warning", True, ["not a Graph API", "v27.0"]),
        ("", "2026-11-30", "ok", True, ["v27.0 is current"]),  # the default
        ("", "2026-11-03", "ok", True, ["v26.0 is current"]),
    ],
)
def test_check_judges_the_version_on_its_day(
    tmp_path: Path, version_line: str, day: str, level: str, ok: bool, words: list[str]
) -> None:
    project = load_project(project_with(tmp_path, version_line), env={})
    result = check_sync(project, "s", sample=10, connect=False, now=noon(day))
    assert result.api_version is not None
    assert result.api_version.level == level and result.ok is ok
    for word in words:
        assert word in result.api_version.message
