"""`capisync serve`: schedules, the HTTP API, metrics, alerts and the dashboard in one process.

    service = Service(project)               # serve/service.py: the state serve holds
    app = build_app(service)                 # serve/app.py: the Starlette app (API, /metrics)
    await serve_forever(project, host=..., port=..., syncs=[...])  # serve/runner.py

Names are imported on first use: reading a project file with a `schedule:` needs only
serve/schedule.py, not Starlette or uvicorn.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Service", "StartedRun", "SyncState", "build_app", "parse_schedule"]

_LAZY = {
    "Service": "capisync.serve.service",
    "StartedRun": "capisync.serve.service",
    "SyncState": "capisync.serve.service",
    "build_app": "capisync.serve.app",
    "parse_schedule": "capisync.serve.schedule",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'capisync.serve' has no attribute {name!r}")
