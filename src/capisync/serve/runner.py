"""`capisync serve`'s process: uvicorn serves the app on the loop the schedules tick on.

    code = serve_project(project, host="127.0.0.1", port=8000, syncs=None)   # blocks; 143

The first SIGTERM or SIGINT stops scheduling, asks every run in flight to stop (its batches
in flight land and are checkpointed, the run is recorded as interrupted), waits for them,
stops the HTTP server and returns 128 + the signal (143, 130: docs/exit-codes.md). A second
signal quits at once (exit 128 + signal): runs still in flight are left marked running, and
the next run of each sync closes them as abandoned with the counts the ledger holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Iterator

import uvicorn

from capisync.config import Project
from capisync.errors import ConfigError
from capisync.interrupts import STOP_SIGNALS
from capisync.serve.app import build_app
from capisync.serve.service import Service

log = logging.getLogger("capisync.serve")
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) is reachable from this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a token. Raises ConfigError (exit 2)."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            [
                f"--host {host}: without `serve.token` the API and dashboard have no "
                "password, so capisync serve binds 127.0.0.1 only. Set serve.token (e.g. "
                'token: "${CAPISYNC_API_TOKEN}") to serve other hosts, or leave --host out'
            ],
            "the command line",
        )


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one). Raises ConfigError (exit 2)
    when the port is taken: waiting will not free it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = f"port {port} is in use (another capisync serve?): pick another with --port"
        else:
            why = f"cannot listen on {host}:{port} ({exc.strerror})"
        raise ConfigError([why], "the command line") from None


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: serve's handlers stop the runs
    first, then the server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_project(project: Project, *, host: str, port: int, syncs: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; the exit code (143, 130). Raises ConfigError."""
    service = Service(project, syncs=syncs)
    check_host(host, service.token)
    sock = listen(host, port)
    return asyncio.run(_serve(service, sock))


async def _serve(service: Service, sock: socket.socket) -> int:
    config = uvicorn.Config(build_app(service), log_config=None, access_log=False, lifespan="off")
    server = _Server(config)
    loop = asyncio.get_running_loop()
    signals: list[int] = []
    stopping = asyncio.Event()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if signals:
            log.error("second %s: quitting at once; runs in flight stay marked running", name)
            logging.shutdown()
            os._exit(128 + signum)
        signals.append(signum)
        log.info("%s: stopping: no new runs; runs in flight stop after their batches land", name)
        stopping.set()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    address, port = sock.getsockname()[:2]
    shown = f"[{address}]" if ":" in address else address
    log.info(
        "capisync serve on http://%s:%d: syncs %s; API /api (OpenAPI /api/openapi.json), "
        "metrics /metrics%s",
        shown,
        port,
        ", ".join(service.names),
        "" if service.token else "; no serve.token: bound to this machine only, no password",
    )
    service.log_plan()
    web = asyncio.create_task(server.serve(sockets=[sock]), name="capisync http")
    ticking = asyncio.create_task(service.run_schedules(), name="capisync schedules")
    waiting = asyncio.create_task(stopping.wait())
    done, _ = await asyncio.wait({web, ticking, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not signals:  # the server or the schedules ended on their own: a bug, said and raised
        waiting.cancel()
        ticking.cancel()
        await service.shutdown(signal.SIGTERM)
        for task in done:
            task.result()
        raise RuntimeError("the HTTP server stopped on its own")
    await service.shutdown(signals[0])
    ticking.cancel()
    server.should_exit = True
    await asyncio.gather(web, ticking, return_exceptions=True)
    log.info("stopped")
    return 128 + signals[0]
