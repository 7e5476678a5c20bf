"""JSON answers with the headers the Graph API puts on them."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from capisync.sandbox.graph_errors import GraphError, new_fbtrace_id


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def graph_success(body: dict[str, Any], version: str | None, extra: dict[str, str]) -> Response:
    trace = new_fbtrace_id()
    body.setdefault("fbtrace_id", trace)
    return json_response(body, 200, {**_graph_headers(trace, version), **extra})


def graph_error(error: GraphError, version: str | None = None) -> Response:
    trace = new_fbtrace_id()
    headers = {**_graph_headers(trace, version), **dict(error.headers)}
    return json_response(error.body(trace), error.status, headers)


def _graph_headers(trace: str, version: str | None) -> dict[str, str]:
    headers = {"x-fb-trace-id": trace, "x-fb-rev": "sandbox"}
    if version:
        headers["facebook-api-version"] = version
    return headers
