"""Read a Graph API request off the wire, in every encoding Meta accepts.

- a JSON body: `{"data": [...], "access_token": ...}` (what capisync sends);
- form fields, urlencoded or multipart, whose `data` is a JSON array (Meta's curl examples);
- the official Python SDK's form: `data` is a JSON array of JSON-encoded event *strings*, and
  `access_token` / `appsecret_proof` ride in the query string.

Parameters may come from the body or the query string (the body wins), and the token also from
`Authorization: Bearer|OAuth <token>`. Parsing is by hand so the sandbox needs no extra package.
"""

from __future__ import annotations

import email
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

REQUEST_FIELDS = (
    "test_event_code",
    "partner_agent",
    "namespace_id",
    "upload_id",
    "upload_tag",
    "upload_source",
)


class WireError(ValueError):
    """The request cannot be read; the message is Meta-style text without the `(#100)` prefix."""


@dataclass(frozen=True, slots=True)
class WireRequest:
    encoding: str  # "json", "urlencoded" or "multipart"; "+json-strings" when the SDK's form
    params: dict[str, Any]  # body fields over query-string fields


def read_params(content_type: str, body: bytes, query: Mapping[str, str]) -> WireRequest:
    encoding, fields = _read_body(content_type, body)
    return WireRequest(encoding, {**query, **fields})


def _read_body(content_type: str, body: bytes) -> tuple[str, dict[str, Any]]:
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body.strip():
        return "empty", {}
    if kind == "application/json" or (not kind and body.lstrip()[:1] == b"{"):
        return "json", _json_fields(body)
    if kind == "multipart/form-data":
        return "multipart", _multipart_fields(content_type, body)
    return "urlencoded", _urlencoded_fields(body)


def _json_fields(body: bytes) -> dict[str, Any]:
    try:
        fields = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WireError("The request body is not valid JSON") from exc
    if not isinstance(fields, dict):
        raise WireError("The request body must be a JSON object of parameters")
    return fields


def _urlencoded_fields(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError("The request body must be UTF-8") from exc
    return dict(parse_qsl(text, keep_blank_values=True))


def _multipart_fields(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.message_from_bytes(head + body)
    if not message.is_multipart():
        raise WireError("The multipart body cannot be read")
    fields: dict[str, Any] = {}
    for part in message.get_payload():
        if not isinstance(part, email.message.Message):
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode(part.get_content_charset() or "utf-8")
    return fields


def read_events(params: Mapping[str, Any]) -> tuple[list[Any], bool]:
    """The `data` array, each event decoded; True when events came as JSON strings (the SDK)."""
    data = params.get("data")
    if data is None:
        raise WireError("The parameter data is required")
    if isinstance(data, str | bytes):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise WireError("param data must be an array.") from exc
    if not isinstance(data, list):
        raise WireError("param data must be an array.")
    as_strings = str in map(type, data)  # C-speed scan; decoded JSON holds no str subclass
    if as_strings:
        data = [_decode_event(item) for item in data]
    return data, as_strings


def _decode_event(item: Any) -> Any:
    if not isinstance(item, str):
        return item
    try:
        return orjson.loads(item)
    except orjson.JSONDecodeError:
        return item  # the rules will say it is not an event object


def find_token(params: Mapping[str, Any], authorization: str | None) -> str | None:
    token = params.get("access_token")
    if isinstance(token, str) and token:
        return token
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            return value.strip()
    return None


def request_fields(params: Mapping[str, Any]) -> dict[str, str]:
    """The optional request-level fields that were sent (test_event_code, partner_agent...)."""
    return {name: str(params[name]) for name in REQUEST_FIELDS if params.get(name) is not None}
