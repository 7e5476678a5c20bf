"""A call to a Graph API version Meta does not serve: fatal, naming the configured version and
one to move to (from Meta's message, or the version table on the answer's date)."""

from __future__ import annotations

import httpx
import pytest

from capisync.errors import MetaFatalError
from capisync.meta.classify import CHECK_VERSION, classify

DATASET = "1234567890"


def answer(
    version: str, code: int, message: str, date: str | None = None, path: str = "/events"
) -> httpx.Response:
    request = httpx.Request("POST", f"https://graph.facebook.com/{version}/{DATASET}{path}")
    headers = {"date": date} if date else {}
    body = {"error": {"message": message, "type": "OAuthException", "code": code}}
    return httpx.Response(400, json=body, headers=headers, request=request)


DEPRECATED = (
    "(#2635) You are calling a deprecated version of the Ads API. "
    "Please update to the latest version: v27.0."
)


@pytest.mark.parametrize(
    ("response", "called", "move_to"),
    [
        (answer("v20.0", 2635, DEPRECATED), "v20.0", "v27.0"),
        # no version in Meta's message: the table, on the day Meta answered
        (
            answer("v21.0", 2635, "(#2635) deprecated", "Fri, 22 Jan 2027 10:00:00 GMT"),
            "v21.0",
            "v27.0",
        ),
        (
            answer("v20.0", 2635, "(#2635) deprecated", "Sat, 26 Sep 2026 10:00:00 GMT"),
            "v20.0",
            "v26.0",
        ),
        # not released on the answer's day
        (
            answer(
                "v27.0",
                2500,
                "Unknown path components: /v27.0/1/events",
                "Tue, 03 Nov 2026 09:00:00 GMT",
            ),
            "v27.0",
            "v26.0",
        ),
        # not a version at all: whatever the day
        (
            answer(
                "v99.0",
                2500,
                "Unknown path components: /v99.0/1/events",
                "Mon, 30 Nov 2026 09:00:00 GMT",
            ),
            "v99.0",
            "v27.0",
        ),
    ],
)
def test_a_version_meta_does_not_serve_is_fatal_and_says_what_to_set(
    response: httpx.Response, called: str, move_to: str
) -> None:
    verdict = classify(response)
    assert isinstance(verdict, MetaFatalError)
    text = str(verdict)
    assert f"api_version {called}" in text
    assert f"set destination.api_version to {move_to}" in text and "rows stay pending" in text


def test_without_a_date_or_a_named_version_it_still_says_to_move() -> None:
    verdict = classify(answer("v99.0", 2500, "Unknown path components: /v99.0/1/events"))
    assert isinstance(verdict, MetaFatalError)
    assert "api_version v99.0" in str(verdict) and "a current version" in str(verdict)


def test_an_unknown_path_under_a_served_version_is_about_the_path() -> None:
    date = "Mon, 30 Nov 2026 09:00:00 GMT"
    verdict = classify(answer("v27.0", 2500, "Unknown path components: /evnts", date, "/evnts"))
    assert isinstance(verdict, MetaFatalError)
    assert str(verdict).endswith(CHECK_VERSION) and "api_version v27.0" not in str(verdict)


def test_a_date_before_any_version_does_not_break_the_verdict() -> None:
    verdict = classify(answer("v99.0", 2500, "Unknown path", "Thu, 01 Jan 1970 00:00:00 GMT"))
    assert isinstance(verdict, MetaFatalError) and "a current version" in str(verdict)
