"""Control endpoints under /_sandbox/: look at what arrived, change faults, start over.

GET  /_sandbox/events?dataset_id=   accepted events, in arrival order
GET  /_sandbox/requests             every events POST: status, count, code/subcode, fault
GET  /_sandbox/dedup                event_name + event_id pairs received more than once
GET  /_sandbox/config               the live config (secrets masked)
POST /_sandbox/config               patch any setting but `clock` (JSON object)
POST /_sandbox/reset                forget everything, restore the starting config
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from capisync.sandbox.config import patch_config, public_view
from capisync.sandbox.responses import json_response
from capisync.sandbox.state import SandboxState


def _state(request: Request) -> SandboxState:
    return request.app.state.sandbox  # type: ignore[no-any-return]


async def list_events(request: Request) -> Response:
    dataset_id = request.query_params.get("dataset_id") or None
    events = _state(request).store.events(dataset_id)
    return json_response({"events": [e.as_dict() for e in events], "count": len(events)})


async def list_requests(request: Request) -> Response:
    records = _state(request).store.requests()
    return json_response({"requests": [r.as_dict() for r in records], "count": len(records)})


async def dedup(request: Request) -> Response:
    return json_response(_state(request).store.dedup_report())


async def get_config(request: Request) -> Response:
    return json_response(public_view(_state(request).config))


async def set_config(request: Request) -> Response:
    try:
        changes = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return json_response({"problems": ["the body must be a JSON object"]}, 400)
    if not isinstance(changes, dict):
        return json_response({"problems": ["the body must be a JSON object"]}, 400)
    config = _state(request).config
    problems = patch_config(config, changes)
    if problems:
        return json_response({"problems": problems}, 400)
    return json_response(public_view(config))


async def reset(request: Request) -> Response:
    _state(request).reset()
    return json_response({"reset": True})


ROUTES = [
    Route("/events", list_events, methods=["GET"]),
    Route("/requests", list_requests, methods=["GET"]),
    Route("/dedup", dedup, methods=["GET"]),
    Route("/config", get_config, methods=["GET"]),
    Route("/config", set_config, methods=["POST"]),
    Route("/reset", reset, methods=["POST"]),
]
