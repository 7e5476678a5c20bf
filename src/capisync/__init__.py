"""capisync: send conversion events from your warehouse to Meta's Conversions API.

Library API (the CLI is a thin layer over it):

    from capisync import normalize, hash_value
    normalize("ph", "(650)555-1212", country="us")   # "16505551212"
    hash_value("em", " John_Smith@gmail.com ")       # the SHA-256 hex Meta expects

    from capisync import run_sync, run_sync_async, Project
    report = run_sync("capisync.yml", "purchases")    # -> RunReport (status, counts, reasons)
    report = await run_sync_async(project, "purchases")  # inside a running event loop
    project = Project.from_dict({"syncs": {...}}, root="/path/to/project")  # no YAML file

See docs/python-api.md.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "Project",
    "RunReport",
    "StopRequest",
    "__version__",
    "hash_value",
    "load_project",
    "normalize",
    "run_sync",
    "run_sync_async",
]

# name -> module it lives in; imported on first use, so `capisync --help` stays fast and
# does not load phonenumbers, pycountry or SQLAlchemy
_LAZY = {
    "normalize": "capisync.capi.normalize",
    "hash_value": "capisync.capi.normalize",
    "Project": "capisync.config",
    "load_project": "capisync.config",
    "RunReport": "capisync.sync",
    "run_sync": "capisync.sync",
    "run_sync_async": "capisync.sync",
    "StopRequest": "capisync.interrupts",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'capisync' has no attribute {name!r}")
