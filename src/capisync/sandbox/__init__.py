"""A local Graph API that behaves as Meta documents, for tests, benchmarks and trying a mapping.

    from capisync.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(latency_ms=50)) as sandbox:
        ...  # POST {sandbox.url}/<version>/<digits>/events with access_token "sandbox-token"
        sandbox.store.events()  # <version>: a current one, capisync.capi.versions.newest_name(now)

Modules: config (settings), wire (request encodings), auth (version, token, proof, dataset),
rules (one event's rules), graph_errors (Meta-shaped errors), faults (throttle, 5xx, hangs),
store (what arrived), events / control / app (routes), server (uvicorn), examples (valid events).
"""

from __future__ import annotations

from capisync.sandbox.app import create_app
from capisync.sandbox.config import SandboxConfig
from capisync.sandbox.server import SandboxServer, serve
from capisync.sandbox.store import EventStore, ReceivedEvent, RequestRecord

__all__ = [
    "EventStore",
    "ReceivedEvent",
    "RequestRecord",
    "SandboxConfig",
    "SandboxServer",
    "create_app",
    "serve",
]
