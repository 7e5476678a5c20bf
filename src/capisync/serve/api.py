"""The HTTP API for orchestrators: start a run, poll it, list the syncs (JSON over HTTP).

    POST /api/syncs/{name}/runs  -> 202 {"run_id": 12, "sync": "purchases", "status": "started",
                                         "url": "/api/runs/12"}
                                    404 unknown sync, 409 already running, 503 could not start
    GET  /api/runs/{id}          -> 200 the run: live counts while it runs here, else the
                                    ledger's record (any process's run); 404, 400
    GET  /api/syncs              -> 200 [{"name", "schedule", "next_run", "running_run_id",
                                         "failing", "last_error", "last_run"}, ...]
    GET  /api/openapi.json       -> the OpenAPI 3.1 description (serve/openapi.py)

Every error is JSON: {"error": {"code": "unknown_sync", "message": "..."}}. Authentication
(bearer token or cookie) is serve/auth.py's middleware, in front of every route.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from capisync.errors import ConfigError, LedgerError
from capisync.jsonout import run_record_dict
from capisync.serve.openapi import OPENAPI
from capisync.serve.runjson import live_run_dict, run_by_id
from capisync.serve.scheduler import iso
from capisync.serve.service import Service
from capisync.state.schema import MAX_RUN_ID


def error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The API's one error shape: {"error": {"code", "message", ...extra}}."""
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def start_run(request: Request) -> Response:
    service = _service(request)
    name = request.path_params["name"]
    try:
        started = await service.start_run(name, trigger="api")
    except ConfigError as exc:
        return error(404, "unknown_sync", "; ".join(exc.problems))
    if started.status == "already running":
        message = started.message or f"sync '{name}' is already running"
        return error(409, "already_running", message, run_id=started.run_id)
    if started.status != "started" or started.run_id is None:
        message = started.message or f"sync '{name}' could not start"
        return error(503, "failed_to_start", message)
    body = {
        "run_id": started.run_id,
        "sync": name,
        "status": "started",
        "url": f"/api/runs/{started.run_id}",
    }
    return JSONResponse(body, status_code=202, headers={"Location": body["url"]})


async def get_run(request: Request) -> Response:
    service = _service(request)
    text = request.path_params["run_id"]
    run_id = parse_run_id(text)
    if run_id is None:
        return error(
            400,
            "bad_run_id",
            f"run ids are whole numbers from 1 to {MAX_RUN_ID}, not '{text[:40]}'",
        )
    live = _live(service, run_id)
    if live is not None:
        return JSONResponse(live)
    try:
        with service.ledger() as ledger:
            record = run_by_id(ledger, run_id)
    except LedgerError as exc:
        return error(503, "ledger_unavailable", str(exc))
    if record is None:
        return error(404, "unknown_run", f"no run {run_id} in the ledger")
    return JSONResponse(run_record_dict(record))


async def list_syncs(request: Request) -> Response:
    service = _service(request)
    try:
        with service.ledger() as ledger:
            last = {name: ledger.runs(name, limit=1) for name in service.names}
    except LedgerError as exc:
        return error(503, "ledger_unavailable", str(exc))
    syncs = []
    for state in service.sync_states():
        latest = last[state.name][0] if last[state.name] else None
        last_run = _live(service, state.running_run_id) if state.running_run_id else None
        if last_run is None and latest is not None:
            last_run = run_record_dict(latest)
        syncs.append(
            {
                "name": state.name,
                "schedule": state.schedule,
                "schedule_timezone": state.schedule_timezone,
                "next_run": None if state.next_run is None else iso(state.next_run),
                "running_run_id": state.running_run_id,
                "failing": state.failing,
                "last_error": state.last_error,
                "last_run": last_run,
            }
        )
    return JSONResponse({"syncs": syncs})


def parse_run_id(text: str) -> int | None:
    """A run id of the URL (1 to MAX_RUN_ID), or None. A longer number is refused before
    int() (which refuses over 4300 digits) and before the ledger (SQLite overflows past 64
    bits, PostgreSQL's column past 32)."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_RUN_ID)):
        return None
    run_id = int(text)
    return run_id if 1 <= run_id <= MAX_RUN_ID else None


def _live(service: Service, run_id: int) -> dict[str, Any] | None:
    """A run in flight in this process, with its counts so far; None otherwise."""
    report = service.report_of(run_id)
    return None if report is None else live_run_dict(report, service.clock())


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


def api_routes() -> list[BaseRoute]:
    return [
        Route("/api/syncs", list_syncs, methods=["GET"]),
        Route("/api/syncs/{name}/runs", start_run, methods=["POST"]),
        Route("/api/runs/{run_id}", get_run, methods=["GET"]),
        Route("/api/openapi.json", openapi, methods=["GET"]),
    ]
