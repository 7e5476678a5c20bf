"""GET /{version}/dataset_quality: Meta's Dataset Quality API, answered from what the sandbox
received (the figures: ``quality_figures.py``; the shared rules: ``capi/dataset_quality.py``).

Order, as for the sandbox's other Graph routes: path and version, token (104, 190, 190/463),
appsecret_proof, then ``dataset_id`` (missing: code 100; unknown: 100/33), then ``fields``.
``fields`` uses the Graph API's selection syntax (``web{event_name,acr{percentage}}``): the
answer holds what was asked for; a field Meta does not document under ``web`` is refused as
Meta refuses one, "(#100) Tried accessing nonexisting field (...)". Without ``fields`` every
figure is given. Either dedup spelling may be asked for, and is answered under that name.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from capisync.capi.dataset_quality import DEDUP_FIELDS, EVENT_FIELDS, WEB
from capisync.sandbox import graph_errors as errors
from capisync.sandbox.auth import check_dataset, check_token, route_version
from capisync.sandbox.quality_figures import web_figures
from capisync.sandbox.responses import graph_error, graph_success
from capisync.sandbox.state import SandboxState
from capisync.sandbox.wire import find_token

Selection = dict[str, "Selection | None"]


class FieldsError(ValueError):
    """A ``fields`` value the Graph API would refuse; the message is Meta's, without (#100)."""


async def get_dataset_quality(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    version = request.path_params["version"]
    params = dict(request.query_params)
    now = state.config.clock()
    route = route_version(state.config, version, "/dataset_quality", now)
    error = route.error or check_token(
        state.config, find_token(params, request.headers.get("authorization")), params, now
    )
    if error is not None:
        return graph_error(error, route.served)
    dataset_id = params.get("dataset_id", "").strip()
    if not dataset_id:
        error = errors.invalid_request_param("The parameter dataset_id is required")
    else:
        error = check_dataset(state.config, "GET", dataset_id)
    if error is not None:
        return graph_error(error, route.served)
    try:
        selection = parse_fields(params.get("fields"))
    except FieldsError as exc:
        return graph_error(errors.invalid_request_param(str(exc)), route.served)
    web = web_figures(state.store.events(dataset_id), now, params.get("agent_name"))
    body = {WEB: [select(_spelled(entry, selection), selection) for entry in web]}
    return graph_success(body, route.served, dict(route.headers))


def parse_fields(fields: str | None) -> Selection:
    """The ``web`` selection of a ``fields`` value: ``{"event_name": None, "acr":
    {"percentage": None}}``; every documented field when ``fields`` is empty. Raises
    FieldsError for unbalanced braces, a top-level field other than ``web`` or a field
    under ``web`` Meta does not document."""
    if fields is None or not fields.strip():
        return _every_field()
    tree, rest = _parse(fields.replace(" ", ""), 0)
    if rest != len(fields.replace(" ", "")):
        raise FieldsError(f"Syntax error in fields: unexpected '}}' at {rest}")
    for name in tree:
        if name != WEB:
            raise FieldsError(f"Tried accessing nonexisting field ({name})")
    web = tree.get(WEB) or _every_field()
    for name in web:
        if name not in EVENT_FIELDS:
            raise FieldsError(f"Tried accessing nonexisting field ({name})")
    return web


def _every_field() -> Selection:
    """Every documented field, the dedup figures under the spelling of Meta's examples."""
    return {name: None for name in EVENT_FIELDS if name != DEDUP_FIELDS[1]}


def _parse(text: str, at: int) -> tuple[Selection, int]:
    """Names separated by commas, each optionally followed by ``{...}``, from ``at`` to the
    closing brace of this level (or the end); returns the selection and where it stopped."""
    selection: Selection = {}
    name = ""
    while at < len(text):
        char = text[at]
        if char == "{":
            if not name:
                raise FieldsError("Syntax error in fields: '{' without a field name")
            sub, at = _parse(text, at + 1)
            if at >= len(text) or text[at] != "}":
                raise FieldsError("Syntax error in fields: a '{' is never closed")
            selection[name], name = sub, ""
        elif char == ",":
            if name:
                selection[name], name = None, ""
        elif char == "}":
            break
        else:
            name += char
        at += 1
    if name:
        selection[name] = None
    return selection, at


def _spelled(entry: dict[str, Any], selection: Selection) -> dict[str, Any]:
    """Answer the dedup figures under the spelling that was asked for."""
    if DEDUP_FIELDS[1] in selection:
        entry = {**entry, DEDUP_FIELDS[1]: entry[DEDUP_FIELDS[0]]}
    return entry


def select(value: Any, selection: Selection | None) -> Any:
    """``value`` pruned to ``selection`` (None keeps it whole); lists are pruned item by item."""
    if selection is None:
        return value
    if isinstance(value, list):
        return [select(item, selection) for item in value]
    if not isinstance(value, dict):
        return value
    return {k: select(value[k], sub) for k, sub in selection.items() if k in value}
