"""`capisync run` posts alerts after each sync when the project file has `alerts:`, and
`capisync check` says which rules are on; neither changes a run's exit code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capisync.cli import app
from capisync.demo import write_demo_project
from capisync.sandbox import SandboxServer
from tests.integration.webhook_receiver import WebhookReceiver

runner = CliRunner()
ALERTS = """
alerts:
  webhook: ${HOOK}
  rejected_share: 0.5
  stale_after: 1d12h
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def project(root: Path) -> str:
    config = write_demo_project(root).config
    config.write_text(config.read_text() + ALERTS)
    return str(config)


def test_run_posts_a_failed_run_alert_and_keeps_its_exit_code(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path)
    with WebhookReceiver() as hook:
        env = {"HOOK": hook.url, "CAPISYNC_BASE_URL": sandbox.url}
        sandbox.config.token_expired = True
        try:
            failed = runner.invoke(app, ["run", "--config", config], env=env)
        finally:
            sandbox.config.token_expired = False
        assert failed.exit_code == 5, failed.output
        assert "purchases: alert posted: failed_run" in failed.output
        assert hook.kinds() == [("failed_run", "firing")]
        ok = runner.invoke(app, ["run", "--config", config], env=env)
        assert ok.exit_code == 0, ok.output
        assert hook.kinds()[-1] == ("failed_run", "resolved")
    gone = runner.invoke(app, ["run", "--config", config], env=env)  # the receiver is down
    assert gone.exit_code == 0, gone.output


def test_check_names_the_rules_on_and_never_the_webhook(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    config = project(tmp_path)
    url = "https://hooks.slack.com/services/T000/B000/secretpart"
    checked = runner.invoke(app, ["check", "--offline", "--config", config], env={"HOOK": url})
    assert checked.exit_code == 0, checked.output
    text = " ".join(checked.output.split())
    assert "alerts: posted to the webhook on failed runs; rejected share above 50%" in text
    assert "no new rows for 36 h" in text and "secretpart" not in checked.output
    off = runner.invoke(app, ["check", "--offline", "--config", config], env={"HOOK": ""})
    assert "alerts: off (alerts.webhook is empty)" in off.output


def test_a_bad_alerts_block_names_the_field(tmp_path: Path) -> None:
    config = Path(project(tmp_path))
    config.write_text(config.read_text().replace("rejected_share: 0.5", "rejected_share: 120%"))
    result = runner.invoke(app, ["check", "--offline", "--config", str(config)], env={"HOOK": ""})
    assert result.exit_code == 2
    assert "alerts.rejected_share" in result.output


def test_check_json_is_one_document_with_alerts_and_warns_of_an_unset_serve_token(
    tmp_path: Path,
) -> None:
    import json

    config = Path(project(tmp_path))
    config.write_text(config.read_text() + "serve:\n  token: ${API_TOKEN_FOR_SERVE}\n")
    env = {"HOOK": "https://hooks.example/abc", "API_TOKEN_FOR_SERVE": None}
    checked = runner.invoke(app, ["check", "--offline", "--json", "--config", str(config)], env=env)
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["exit_code"] == 0  # the alerts' line is not on stdout
    assert "serve.token" in checked.stderr and "API_TOKEN_FOR_SERVE" in checked.stderr
    assert "capisync serve` refuses" in " ".join(checked.stderr.split())
