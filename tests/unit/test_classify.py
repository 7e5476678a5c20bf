"""classify(): every kind of Graph API answer, and every failure to get one, to one verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
import pytest

from capisync.errors import (
    MetaError,
    MetaFatalError,
    MetaInvalidDataError,
    MetaThrottledError,
    MetaTransientError,
    MetaUnknownAnswerError,
)
from capisync.meta.classify import Accepted, classify, throttle_wait

TOKEN = "EAAGm0PX4ZCpsBAFakeTokenValue1234567890abcdef"


def graph_error(
    status: int,
    code: int | None,
    subcode: int | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    message = extra.pop("message", "Some error")
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "fbtrace_id": "TRACE1",
        **extra,
    }
    if code is not None:
        error["code"] = code
    if subcode is not None:
        error["error_subcode"] = subcode
    return httpx.Response(status, json={"error": error}, headers=headers)


def verdict_of(response: httpx.Response | Exception, **kw: Any) -> Accepted | MetaError:
    return classify(response, secrets=[TOKEN], **kw)


# -- success ------------------------------------------------------------------------------------


def test_ack_with_events_received_is_accepted_with_its_trace() -> None:
    ok = httpx.Response(200, json={"events_received": 3, "messages": [], "fbtrace_id": "ABC"})
    verdict = verdict_of(ok)
    assert verdict == Accepted(3, "ABC", verdict.body)
    assert verdict.body["messages"] == []


def test_trace_id_falls_back_to_the_response_header() -> None:
    ok = httpx.Response(200, json={"events_received": 1}, headers={"x-fb-trace-id": "HDR"})
    verdict = verdict_of(ok)
    assert isinstance(verdict, Accepted) and verdict.fbtrace_id == "HDR"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"success": True}),
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"events_received": "3"}),
    ],
)
def test_2xx_without_a_real_ack_is_retried_never_taken_as_delivered(
    response: httpx.Response,
) -> None:
    assert isinstance(verdict_of(response), MetaTransientError)


def test_a_plain_get_answer_is_accepted_when_no_events_are_expected() -> None:
    answer = httpx.Response(200, json={"id": "123", "name": "Shop"})
    verdict = verdict_of(answer, expect_events=False)
    assert isinstance(verdict, Accepted)
    assert verdict.events_received is None and verdict.body == {"id": "123", "name": "Shop"}


# -- the table of spec section 5 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (graph_error(500, 1), MetaTransientError),
        (graph_error(500, 2), MetaTransientError),
        (graph_error(400, 1), MetaTransientError),
        (graph_error(400, 2), MetaTransientError),
        (graph_error(400, 100, is_transient=True), MetaTransientError),
        (graph_error(503, None), MetaTransientError),
        (httpx.Response(502, text="Bad Gateway"), MetaTransientError),
        (httpx.Response(504), MetaTransientError),
        (httpx.Response(408), MetaTransientError),
        (graph_error(400, 4), MetaThrottledError),
        (graph_error(400, 17), MetaThrottledError),
        (graph_error(400, 32), MetaThrottledError),
        (graph_error(400, 341), MetaThrottledError),
        (graph_error(400, 613), MetaThrottledError),
        (graph_error(400, 80004, 2446079), MetaThrottledError),
        (graph_error(429, None), MetaThrottledError),
        (httpx.Response(429, text="slow down"), MetaThrottledError),
        (graph_error(400, 190, 463), MetaFatalError),
        (graph_error(401, 190), MetaFatalError),
        (graph_error(400, 102), MetaFatalError),
        (graph_error(403, 10), MetaFatalError),
        (graph_error(403, 200), MetaFatalError),
        (graph_error(403, 299), MetaFatalError),
        (graph_error(400, 368, 1390008), MetaFatalError),
        (graph_error(400, 100, 33), MetaFatalError),
        (graph_error(400, 104), MetaFatalError),
        (graph_error(400, 2500, message="Unknown path components: /evnts"), MetaFatalError),
        (
            graph_error(400, 2635, message="(#2635) You are calling a deprecated version"),
            MetaFatalError,
        ),
        (
            graph_error(
                400, 100, message="API calls from the server require an appsecret_proof argument"
            ),
            MetaFatalError,
        ),
        (graph_error(400, 100, 2804003), MetaInvalidDataError),
        (graph_error(400, 100, 2804016), MetaInvalidDataError),
        (graph_error(400, 100, 2804019), MetaInvalidDataError),
        (graph_error(400, 100, 2804001), MetaInvalidDataError),
        (graph_error(400, 100, 2804030), MetaInvalidDataError),
        # not a documented event-data answer: no row may be rejected on it (rows stay pending)
        (graph_error(400, 100), MetaUnknownAnswerError),
        (graph_error(400, 300), MetaUnknownAnswerError),
        (graph_error(400, 12345, 2804003), MetaUnknownAnswerError),
        (graph_error(400, 100, 1487390), MetaUnknownAnswerError),
    ],
)
def test_graph_answers_map_to_the_documented_action(
    response: httpx.Response, kind: type[MetaError]
) -> None:
    verdict = verdict_of(response)
    assert type(verdict) is kind


def test_invalid_data_keeps_metas_code_subcode_trace_and_user_message() -> None:
    response = graph_error(
        400,
        100,
        2804016,
        message="Invalid parameter",
        error_user_title="Unhashed data",
        error_user_msg="em must be hashed",
    )
    verdict = verdict_of(response)
    assert isinstance(verdict, MetaInvalidDataError)
    assert (verdict.status, verdict.code, verdict.subcode) == (400, 100, 2804016)
    assert verdict.fbtrace_id == "TRACE1"
    assert verdict.user_message == "Unhashed data em must be hashed"
    assert str(verdict) == "Meta: Invalid parameter (code 100/2804016)"


@pytest.mark.parametrize(
    ("response", "advice"),
    [
        (
            graph_error(400, 190, 463),
            "renew the access token in Events Manager > Settings > Conversions API",
        ),
        (graph_error(403, 200), "System users > Assign assets"),
        (graph_error(400, 368), "temporarily blocked"),
        (graph_error(400, 100, 33), "check the dataset ID"),
        (
            graph_error(400, 100, message="Invalid appsecret_proof provided in the API argument"),
            "app secret does not match",
        ),
        (httpx.Response(404, text="Not Found"), "check base_url"),
        (graph_error(400, 2635), "api_version"),
    ],
)
def test_fatal_errors_say_what_to_do(response: httpx.Response, advice: str) -> None:
    verdict = verdict_of(response)
    assert isinstance(verdict, MetaFatalError)
    assert advice in str(verdict)


def test_a_4xx_that_is_not_the_graph_api_is_fatal_not_bisected() -> None:
    verdict = verdict_of(httpx.Response(403, text="<html>Forbidden by proxy</html>"))
    assert isinstance(verdict, MetaFatalError) and verdict.status == 403


# -- throttling waits ---------------------------------------------------------------------------


def test_retry_after_seconds_is_honored() -> None:
    response = httpx.Response(429, headers={"Retry-After": "12"})
    verdict = verdict_of(response)
    assert isinstance(verdict, MetaThrottledError) and verdict.retry_after == 12.0


def test_business_use_case_usage_regain_minutes_become_seconds() -> None:
    usage = {
        "1234": [
            {
                "type": "ads_management",
                "call_count": 100,
                "total_time": 12,
                "estimated_time_to_regain_access": 3,
            }
        ]
    }
    response = graph_error(
        400, 80004, headers={"X-Business-Use-Case-Usage": orjson.dumps(usage).decode()}
    )
    verdict = verdict_of(response)
    assert isinstance(verdict, MetaThrottledError) and verdict.retry_after == 180.0


def test_the_longest_of_all_announced_waits_wins() -> None:
    headers = {
        "Retry-After": "30",
        "X-App-Usage": '{"call_count": 100, "estimated_time_to_regain_access": 1}',
        "X-Business-Use-Case-Usage": '{"1": [{"estimated_time_to_regain_access": 0}]}',
    }
    assert throttle_wait(httpx.Headers(headers)) == 60.0


def test_retry_after_as_an_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    wait = throttle_wait(httpx.Headers({"Retry-After": format_datetime(when, usegmt=True)}))
    assert wait is not None and 85 <= wait <= 91


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Retry-After": "soon"},
        {"X-App-Usage": "not json"},
        {"X-App-Usage": '{"call_count": 95, "total_time": 20}'},
        {"X-Business-Use-Case-Usage": '{"1": [{"estimated_time_to_regain_access": 0}]}'},
    ],
)
def test_no_usable_wait_means_plain_backoff(headers: dict[str, str]) -> None:
    assert throttle_wait(httpx.Headers(headers)) is None


# -- failures to get an answer ------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.ReadError("reset by peer"),
    ],
)
def test_network_failures_are_transient(exc: Exception) -> None:
    assert isinstance(verdict_of(exc), MetaTransientError)


def test_a_url_without_scheme_support_is_fatal() -> None:
    verdict = verdict_of(
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'htp://'")
    )
    assert isinstance(verdict, MetaFatalError) and "base_url" in str(verdict)


def test_a_bug_is_not_swallowed_as_a_verdict() -> None:
    with pytest.raises(KeyError):
        classify(KeyError("oops"))


# -- secrets and customer data never reach a message --------------------------------------------


def test_meta_echoing_the_token_is_scrubbed() -> None:
    response = graph_error(
        400,
        190,
        message=f"Malformed access token {TOKEN}",
        error_user_msg=f"token {TOKEN} is wrong",
    )
    verdict = verdict_of(response)
    text = f"{verdict} {verdict.user_message}"
    assert TOKEN not in text and "[redacted]" in text


def test_unknown_meta_looking_tokens_are_scrubbed_even_when_not_ours() -> None:
    other = "EAAB" + "x" * 40
    verdict = classify(graph_error(400, 190, message=f"Malformed access token {other}"))
    assert other not in str(verdict)


def test_configured_secrets_of_any_shape_are_scrubbed() -> None:
    response = graph_error(400, 100, message="bad proof for sandbox-token")
    verdict = classify(response, secrets=["sandbox-token"])
    assert "sandbox-token" not in str(verdict)


def test_email_addresses_quoted_by_meta_are_scrubbed() -> None:
    response = graph_error(
        400,
        100,
        2804016,
        message="em value 'John.Smith@Example.com' not hashed",
        error_user_msg="hash john_smith@gmail.com first",
    )
    verdict = verdict_of(response)
    text = f"{verdict} {verdict.user_message}"
    assert "@" not in text.replace("[redacted e-mail]", "")
    assert "2804016" in text
