"""The OpenAPI 3.1 description of serve's HTTP API (served at /api/openapi.json).

Written by hand, beside the routes it describes (serve/api.py): four routes, one error shape.
"""

from __future__ import annotations

from typing import Any

from capisync import __version__
from capisync.jsonout import EXTRA_COUNTS
from capisync.state.schema import COUNT_FIELDS, MAX_RUN_ID

_ERROR = {
    "description": "an error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_UNAUTHORIZED = {**_ERROR, "description": "missing or wrong token (with `serve.token` set)"}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


_RUN = {
    "type": "object",
    "description": "a run, as `capisync runs --json` shows it (docs/json.md has every field)",
    "required": ["sync", "run_id", "status", "started_at", "counts"],
    "properties": {
        "sync": {"type": "string"},
        "run_id": {"type": "integer"},
        "status": {
            "type": "string",
            "enum": ["running", "completed", "failed", "interrupted", "abandoned"],
        },
        "ok": {"type": "boolean"},
        "started_at": {"type": "string", "format": "date-time"},
        "started_at_epoch": {"type": "number"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at_epoch": {"type": ["number", "null"]},
        "seconds": {"type": ["number", "null"]},
        "counts": {
            "type": "object",
            "description": "rows read and how each ended: read = already + baseline + sent + "
            "rejected + duplicate + expired + pending (docs/runs.md)",
            "properties": {
                name: {"type": "integer"} for name in (*COUNT_FIELDS, *EXTRA_COUNTS, "in_flight")
            },
        },
        "reasons": {"type": "object", "additionalProperties": {"type": "integer"}},
        "stopped_by": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "capisync serve",
        "version": __version__,
        "description": "Start sync runs, poll them, list syncs. With `serve.token` set, send "
        "`Authorization: Bearer <token>`.",
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "capisync_token"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "Run": _RUN,
            "StartedRun": {
                "type": "object",
                "required": ["run_id", "sync", "status", "url"],
                "properties": {
                    "run_id": {"type": "integer"},
                    "sync": {"type": "string"},
                    "status": {"const": "started"},
                    "url": {"type": "string", "description": "poll it: GET /api/runs/{id}"},
                },
            },
            "Sync": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "schedule": {"type": ["string", "null"]},
                    "schedule_timezone": {"type": ["string", "null"]},
                    "next_run": {"type": ["string", "null"], "format": "date-time"},
                    "running_run_id": {"type": ["integer", "null"]},
                    "failing": {"type": "boolean"},
                    "last_error": {"type": ["string", "null"]},
                    "last_run": {"oneOf": [{"$ref": "#/components/schemas/Run"}, {"type": "null"}]},
                },
            },
        },
    },
    "security": [{"bearer": []}, {"cookie": []}],
    "paths": {
        "/api/syncs": {
            "get": {
                "summary": "The syncs served, with their last and next run",
                "responses": {
                    "200": {
                        "description": "the syncs",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "syncs": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Sync"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "401": _UNAUTHORIZED,
                    "503": _ERROR,
                },
            }
        },
        "/api/syncs/{name}/runs": {
            "post": {
                "summary": "Start a run now; answers once it has its id",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "202": _json("StartedRun", "the run started"),
                    "401": _UNAUTHORIZED,
                    "404": {**_ERROR, "description": "no such sync served here"},
                    "409": {**_ERROR, "description": "the sync is already running"},
                    "503": {**_ERROR, "description": "the run could not start (the ledger)"},
                },
            }
        },
        "/api/runs/{id}": {
            "get": {
                "summary": "A run: live counts while it runs, its record after",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_RUN_ID},
                    }
                ],
                "responses": {
                    "200": _json("Run", "the run"),
                    "400": _ERROR,
                    "401": _UNAUTHORIZED,
                    "404": {**_ERROR, "description": "no such run"},
                    "503": _ERROR,
                },
            }
        },
        "/api/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}
        },
    },
}
