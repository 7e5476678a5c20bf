"""The `alerts:` block of the project file: durations, shares, the webhook, and the errors
that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from capisync.config import Project, parse_duration
from capisync.errors import ConfigError
from capisync.serve.alerts import describe_alerts

SYNCS = {
    "s": {
        "source": {"duckdb": "w.duckdb"},
        "model": "select 1 as id",
        "identifier": "id",
        "destination": {"dataset_id": "1", "access_token": "${TOKEN}"},
    }
}


def load(alerts: dict[str, Any], **env: str) -> Project:
    return Project.from_dict(
        {"alerts": alerts, "syncs": SYNCS}, root=Path("/tmp"), env={"TOKEN": "t", **env}
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6h", 21_600),
        ("90m", 5_400),
        ("1d12h", 129_600),
        ("45s", 45),
        ("1h 30m", 5_400),
        (600, 600),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["6 hours", "h", "", "0m", "30m1h", True, -5])
def test_bad_durations_say_how_to_write_one(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_defaults_and_shares_as_percent() -> None:
    settings = load({"webhook": "${HOOK}", "rejected_share": "2.5%"}, HOOK="https://h/x").config
    assert settings.alerts is not None
    assert settings.alerts.rejected_share == pytest.approx(0.025)
    assert settings.alerts.coverage_drop == 0.2 and settings.alerts.stale_after is None
    assert settings.alerts.webhook.get_secret_value() == "https://h/x"


def test_every_problem_names_its_field() -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            {
                "webhook": "hooks.slack.com/x",
                "rejected_share": 1.5,
                "coverage_drop": True,
                "stale_after": "soon",
                "emq_drop": 0,
                "webhok": "x",
            }
        )
    text = str(caught.value)
    for field in ("webhook", "rejected_share", "coverage_drop", "stale_after", "emq_drop"):
        assert f"alerts.{field}:" in text, field
    assert "alerts.webhok: unknown field: did you mean 'webhook'?" in text
    assert "hooks.slack.com" not in text  # the webhook is a secret: never echoed


def test_an_unset_webhook_variable_is_an_error_and_an_empty_one_turns_alerts_off() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.webhook: environment variable HOOK"):
        load({"webhook": "${HOOK}"})
    settings = load({"webhook": "${HOOK:-}"}).config.alerts
    assert settings is not None and not settings.enabled
    assert describe_alerts(settings) == "alerts: off (alerts.webhook is empty)"


def test_a_webhook_written_in_the_file_is_warned_about_without_its_value() -> None:
    project = load({"webhook": "https://hooks.slack.com/services/T0/B0/secretpart"})
    [warning] = [w for w in project.warnings if w.startswith("alerts.webhook")]
    assert "CAPISYNC_ALERT_WEBHOOK" in warning and "secretpart" not in warning
    assert not any(w.startswith("alerts") for w in load({"webhook": "${H}"}, H="http://h").warnings)


def test_rules_set_to_null_are_off_in_what_check_says() -> None:
    settings = load({"webhook": "${H}", "rejected_share": None, "emq_drop": None}, H="http://h")
    assert describe_alerts(settings.config.alerts) == (
        "alerts: posted to the webhook on failed runs; match-key coverage down 20% against "
        "the previous 5 runs"
    )
