"""Graph API error answers, shaped and worded as Meta sends them.

Texts, codes and HTTP statuses follow Meta's "Handling Errors" guide and answers recorded from
the live Graph API (CAPI v25/v26): an invalid token is HTTP 401 / code 190 "Invalid OAuth access
token - Cannot parse access token"; an event too old is HTTP 400 / 100 / 2804003 "Event
Timestamp Too Old"; a missing or inaccessible dataset is GraphMethodException 100 / 33. Keys
Meta leaves out of an answer (no subcode, no user title) are left out here too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OAUTH = "OAuthException"
GRAPH_METHOD = "GraphMethodException"
GRAPH_DOCS = "https://developers.facebook.com/docs/graph-api"


@dataclass(frozen=True, slots=True)
class GraphError:
    status: int
    message: str
    code: int
    type: str = OAUTH
    subcode: int | None = None
    is_transient: bool | None = None
    title: str | None = None
    user_msg: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def body(self, fbtrace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        if self.title is not None:
            error["error_user_title"] = self.title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}


def new_fbtrace_id() -> str:
    return secrets.token_urlsafe(17)[:23]


def missing_token() -> GraphError:
    return GraphError(400, "An access token is required to request this resource.", 104)


def invalid_token() -> GraphError:
    message = "Invalid OAuth access token - Cannot parse access token"
    return GraphError(401, message, 190, headers=_www_authenticate(message))


def expired_token(now: float) -> GraphError:
    expired_at = datetime.fromtimestamp(now - 3600, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")
    current = datetime.fromtimestamp(now, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")
    message = (
        f"Error validating access token: Session has expired on {expired_at}. "
        f"The current time is {current}."
    )
    return GraphError(401, message, 190, subcode=463, headers=_www_authenticate(message))


def _www_authenticate(message: str) -> tuple[tuple[str, str], ...]:
    return (("WWW-Authenticate", f'OAuth "Facebook Platform" "invalid_token" "{message}"'),)


def missing_appsecret_proof() -> GraphError:
    return GraphError(
        400, "API calls from the server require an appsecret_proof argument", 100, GRAPH_METHOD
    )


def invalid_appsecret_proof() -> GraphError:
    return GraphError(
        400, "Invalid appsecret_proof provided in the API argument", 100, GRAPH_METHOD
    )


def unknown_object(method: str, object_id: str) -> GraphError:
    message = (
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
        "cannot be loaded due to missing permissions, or does not support this operation. "
        f"Please read the Graph API documentation at {GRAPH_DOCS}"
    )
    return GraphError(400, message, 100, GRAPH_METHOD, subcode=33)


def unknown_path(path: str) -> GraphError:
    return GraphError(400, f"Unknown path components: {path}", 2500)


def unsupported_method(method: str) -> GraphError:
    return GraphError(400, f"Unsupported {method.lower()} request.", 100, GRAPH_METHOD)


def deprecated_version(latest: str) -> GraphError:
    """A call to an expired version, refused (Meta's blog, 2024-04-16, "Marketing API version
    deprecation"); `latest` is the newest version on the sandbox's clock."""
    message = (
        "(#2635) You are calling a deprecated version of the Ads API. "
        f"Please update to the latest version: {latest}."
    )
    return GraphError(400, message, 2635)


def throttled(retry_after_s: float, usage_header: str) -> GraphError:
    seconds = max(1, int(retry_after_s + 0.999))
    return GraphError(
        429,
        "(#4) Application request limit reached",
        4,
        is_transient=True,
        headers=(("Retry-After", str(seconds)), ("X-Business-Use-Case-Usage", usage_header)),
    )


def service_unavailable() -> GraphError:
    return GraphError(
        500,
        "An unexpected error has occurred. Please retry your request later.",
        2,
        is_transient=True,
    )


def invalid_request_param(message: str) -> GraphError:
    """A malformed request as a whole (no `data`, too many events): code 100, no subcode."""
    return GraphError(400, f"(#100) {message}", 100)


def invalid_event(subcode: int, title: str, user_msg: str) -> GraphError:
    """One event broke a rule: Meta rejects the whole batch with code 100 and a subcode."""
    return GraphError(
        400,
        "Invalid parameter",
        100,
        subcode=subcode,
        is_transient=False,
        title=title,
        user_msg=user_msg,
    )
