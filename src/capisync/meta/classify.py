"""Turn any Graph API answer (or a failure to get one) into one verdict.

A verdict is either `Accepted` or one of the `MetaError` subclasses; the class *is* the
decision the client acts on:

    Accepted               2xx (with `events_received` when events were posted)
    MetaTransientError     network error, timeout, 5xx, `is_transient`, codes 1 and 2: retry
    MetaThrottledError     codes 4, 17, 32, 341, 613, the business-use-case family 80000-80014
                           or HTTP 429: wait, then retry (never bad data)
    MetaFatalError         token, permission, block, missing dataset, wrong server or path,
                           app secret mismatch: stop the run (no retry can fix it)
    MetaInvalidDataError   code 100 with an event-data subcode (2804xxx): the data was refused,
                           bisect; only such an answer for an isolated event rejects a row
    MetaFatalError         also any other 4xx answer: capisync cannot tell it is bad data, so
                           no row is rejected on it; the run stops and the rows stay pending

Messages are written for the user, say what to do, and are scrubbed of secrets and e-mail
addresses (Meta echoes a malformed token in its message).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from capisync.capi import versions
from capisync.errors import (
    MetaError,
    MetaFatalError,
    MetaInvalidDataError,
    MetaThrottledError,
    MetaTransientError,
    MetaUnknownAnswerError,
)

TOKEN_CODES = frozenset({102, 104, 190})
PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
BLOCKED_CODE = 368
DATASET_MISSING = (100, 33)
REQUEST_SHAPE_CODES = frozenset({2500, 2635})  # unknown path, deprecated API version
# Graph API rate limits, and the business-use-case family (Meta's "Rate Limiting" page lists
# 80000-80014: ads insights, pages, custom audiences, CAPI's 80004, WhatsApp, ...)
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
# Meta's Conversions API event-data errors: code 100 with a 2804xxx subcode (spec section 5)
EVENT_DATA_CODE = 100
EVENT_DATA_SUBCODES = range(2804000, 2805000)
TRANSIENT_CODES = frozenset({1, 2})
USAGE_HEADERS = ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage")

RENEW_TOKEN = (
    "renew the access token in Events Manager > Settings > Conversions API (Generate access "
    "token) and update capisync's configuration; the rows stay pending and the next run sends them"
)
GRANT_PERMISSION = (
    "give the token's system user full control of the dataset (Business settings > Users > "
    "System users > Assign assets) or generate the token from the dataset's own settings; "
    "the rows stay pending"
)
WAIT_FOR_UNBLOCK = (
    "Meta has temporarily blocked this sender (policy); check Business Support Home, wait, "
    "and run again later; the rows stay pending"
)
CHECK_DATASET = (
    "check the dataset ID (Events Manager > Data sources > your dataset > Settings) and that "
    "the token's system user has access to it; the rows stay pending"
)
CHECK_APP_SECRET = (
    "the app secret does not match the app that issued the token: fix or remove app_secret "
    "in the configuration; the rows stay pending"
)
UNKNOWN_ANSWER = (
    "an answer capisync does not know as bad event data, so no row is marked rejected on it: "
    "the run stops, the rows stay pending and the next run sends them; if it repeats, report "
    "it to Meta with the fbtrace_id"
)
CHECK_BASE_URL = "check base_url and api_version in the configuration; the rows stay pending"
CHECK_VERSION = (
    "the request itself is wrong, not the events: check base_url, api_version (a current "
    "version: `capisync check` says which) and dataset_id in the configuration; the rows stay "
    "pending"
)

_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+\.[A-Za-z]{2,}")
_META_TOKEN = re.compile(r"\bEA[A-Za-z0-9]{20,}")


@dataclass(frozen=True)
class Accepted:
    """A 2xx answer: what Meta acknowledged and the trace ID to quote to Meta support."""

    events_received: int | None
    fbtrace_id: str | None
    body: dict[str, Any] = field(default_factory=dict, repr=False)


Verdict = Accepted | MetaError


def classify(
    outcome: httpx.Response | Exception,
    *,
    secrets: Iterable[str] = (),
    expect_events: bool = True,
) -> Verdict:
    """The one place that decides what an answer means. `secrets` are scrubbed from messages."""
    scrub = _scrubber(secrets)
    if isinstance(outcome, Exception):
        return _classify_exception(outcome, scrub)
    if outcome.is_success:
        return _classify_success(outcome, expect_events)
    return _classify_error(outcome, scrub)


def _scrubber(secrets: Iterable[str]) -> _Scrub:
    return _Scrub(tuple(s for s in secrets if s))


@dataclass(frozen=True)
class _Scrub:
    secrets: tuple[str, ...]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        text = _META_TOKEN.sub("[redacted token]", text)
        return _EMAIL.sub("[redacted e-mail]", text)


def _classify_exception(exc: Exception, scrub: _Scrub) -> Verdict:
    if isinstance(exc, httpx.TimeoutException):
        return MetaTransientError(f"no answer from Meta within the timeout ({type(exc).__name__})")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return MetaFatalError(f"cannot reach the Graph API: {scrub(str(exc))}; {CHECK_BASE_URL}")
    if isinstance(exc, httpx.HTTPError):
        detail = scrub(str(exc)) or type(exc).__name__
        return MetaTransientError(f"network error talking to Meta{_where(exc)} ({detail})")
    raise exc  # a bug, not an answer: let it surface


def _where(exc: httpx.HTTPError) -> str:
    """at scheme://host:port of the failed request (never its path or query)."""
    try:
        url = exc.request.url
    except RuntimeError:  # an error raised before any request existed
        return ""
    port = f":{url.port}" if url.port else ""
    return f" at {url.scheme}://{url.host}{port}"


def _classify_success(response: httpx.Response, expect_events: bool) -> Verdict:
    body = _json_object(response.content)
    received = body.get("events_received") if body is not None else None
    if body is None or (expect_events and not isinstance(received, int)):
        return MetaTransientError(
            f"HTTP {response.status_code} without the expected Graph API answer",
            status=response.status_code,
        )
    trace = body.get("fbtrace_id") or response.headers.get("x-fb-trace-id")
    return Accepted(received if isinstance(received, int) else None, trace, body)


def _classify_error(response: httpx.Response, scrub: _Scrub) -> MetaError:
    body = _json_object(response.content)
    error = body.get("error") if body is not None else None
    if not isinstance(error, dict):
        return _bare_status_error(response)
    fields = _error_fields(response, error, scrub)
    code, subcode = fields["code"], fields["subcode"]
    meta_message = fields.pop("meta_message")
    hint = _version_hint(response, code, meta_message) or _fatal_hint(code, subcode, meta_message)
    if hint is not None:
        return MetaFatalError(_message(meta_message, code, subcode, hint), **fields)
    if code in THROTTLE_CODES or response.status_code == 429:
        wait = throttle_wait(response.headers)
        return MetaThrottledError(
            _message(meta_message, code, subcode, "rate limited"),
            retry_after=wait,
            **fields,
        )
    if fields["is_transient"] or code in TRANSIENT_CODES or response.status_code >= 500:
        return MetaTransientError(_message(meta_message, code, subcode, "temporary"), **fields)
    if is_event_data_error(code, subcode):
        return MetaInvalidDataError(_message(meta_message, code, subcode, None), **fields)
    return MetaUnknownAnswerError(_message(meta_message, code, subcode, UNKNOWN_ANSWER), **fields)


def is_event_data_error(code: int | None, subcode: int | None) -> bool:
    """Meta's answer says an event's data is wrong (code 100, subcode 2804xxx): the only
    answer on which a batch is split and, for an event standing alone, its row rejected."""
    return code == EVENT_DATA_CODE and subcode in EVENT_DATA_SUBCODES


def _bare_status_error(response: httpx.Response) -> MetaError:
    """An error status without a Graph error body: a proxy, a gateway or the wrong server."""
    status = response.status_code
    if status == 429:
        return MetaThrottledError(
            "HTTP 429 Too Many Requests: rate limited",
            retry_after=throttle_wait(response.headers),
            status=status,
        )
    if status >= 500 or status == 408:
        return MetaTransientError(f"HTTP {status} from the Graph API: temporary", status=status)
    return MetaFatalError(
        f"HTTP {status} without a Graph API error body: this is not the Graph API answering; "
        + CHECK_BASE_URL,
        status=status,
    )


def _error_fields(
    response: httpx.Response, error: Mapping[str, Any], scrub: _Scrub
) -> dict[str, Any]:
    user_msg = " ".join(
        str(error[k]) for k in ("error_user_title", "error_user_msg") if error.get(k)
    )
    return {
        "status": response.status_code,
        "code": _int_or_none(error.get("code")),
        "subcode": _int_or_none(error.get("error_subcode")),
        "fbtrace_id": error.get("fbtrace_id") or response.headers.get("x-fb-trace-id"),
        "user_message": scrub(user_msg) or None,
        "is_transient": error.get("is_transient") is True,
        "meta_message": scrub(str(error.get("message") or "no message")),
    }


def _fatal_hint(code: int | None, subcode: int | None, meta_message: str) -> str | None:
    if code in TOKEN_CODES:
        return RENEW_TOKEN
    if code in PERMISSION_CODES:
        return GRANT_PERMISSION
    if code == BLOCKED_CODE:
        return WAIT_FOR_UNBLOCK
    if (code, subcode) == DATASET_MISSING:
        return CHECK_DATASET
    if "appsecret_proof" in meta_message.lower():
        return CHECK_APP_SECRET
    if code in REQUEST_SHAPE_CODES:
        return CHECK_VERSION
    return None


_LATEST_VERSION = re.compile(r"latest version:?\s*(v\d+\.\d+)")


def _version_hint(response: httpx.Response, code: int | None, meta_message: str) -> str | None:
    """A call to a version Meta does not serve, named with the version to move to.

    Code 2635 is an expired version (Meta names its latest one in the message); code 2500
    ("Unknown path components") is also what an unknown or not yet released version gets. The
    version called is read from the request's path; a current one is judged on the day of the
    answer's `Date` header (Meta's clock), by capisync.capi.versions. None: not about a version.
    """
    called = _called_version(response)
    if code not in REQUEST_SHAPE_CODES or called is None:
        return None
    day = _answer_day(response)
    named = _LATEST_VERSION.search(meta_message)
    target = named.group(1) if named else None
    if target is None and day is not None:
        with contextlib.suppress(LookupError):  # a Date header before any version existed
            target = versions.newest(day).name
    if code == 2635:
        why = f"api_version {called} has expired (Meta no longer serves it)"
    elif versions.find(called) is None or (day and versions.status_of(called, day) != "current"):
        why = f"api_version {called} is not a version Meta serves (unknown, or not released yet)"
    else:
        return None  # the version is served: the rest of the path is wrong (CHECK_VERSION)
    move = f"set destination.api_version to {target or 'a current version'}"
    return f"{why}: {move} (or remove it: the default is the newest); the rows stay pending"


def _called_version(response: httpx.Response) -> str | None:
    try:
        segments = response.request.url.path.split("/")
    except RuntimeError:  # a response built without a request
        return None
    return next((s for s in segments if versions.parse_name(s) is not None), None)


def _answer_day(response: httpx.Response) -> date | None:
    try:
        when = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).date()


def _message(meta_message: str, code: int | None, subcode: int | None, hint: str | None) -> str:
    ids = "no code" if code is None else f"code {code}"
    if subcode is not None:
        ids += f"/{subcode}"
    text = f"Meta: {meta_message} ({ids})"
    return f"{text}: {hint}" if hint else text


def throttle_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds Meta asks us to wait: `Retry-After`, else the usage headers' regain estimate."""
    waits = [_retry_after(headers.get("retry-after"))]
    waits += [_regain_seconds(headers.get(name)) for name in USAGE_HEADERS]
    known = [w for w in waits if w is not None and w > 0]
    return max(known) if known else None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return _http_date_delay(value)


def _http_date_delay(value: str) -> float | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _regain_seconds(value: str | None) -> float | None:
    """Largest `estimated_time_to_regain_access` (minutes) anywhere in a usage header."""
    if not value:
        return None
    try:
        usage = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    minutes = [m for m in _find_key(usage, "estimated_time_to_regain_access") if m > 0]
    return max(minutes) * 60.0 if minutes else None


def _find_key(node: Any, key: str) -> list[float]:
    if isinstance(node, dict):
        found = [float(v) for k, v in node.items() if k == key and isinstance(v, int | float)]
        return found + [x for v in node.values() for x in _find_key(v, key)]
    if isinstance(node, list):
        return [x for item in node for x in _find_key(item, key)]
    return []


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
