"""Run the sandbox under uvicorn: in a background thread (tests, benchmarks) or blocking (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from capisync.sandbox.app import create_app
from capisync.sandbox.config import SandboxConfig
from capisync.sandbox.store import EventStore

STARTUP_TIMEOUT_S = 10.0


class SandboxServer:
    """A real uvicorn server on 127.0.0.1 in a background thread.

    `port=0` picks a free port; `url` is known as soon as the object exists. `config` is the
    live config: change a field and the next request sees it. `store` is what arrived.
    `reuse_port` lets several sandbox processes share one port (the kernel spreads the
    connections), as Meta's many servers do: a benchmark then measures the client, not the
    sandbox's one event loop.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reuse_port: bool = False,
    ) -> None:
        self.app = create_app(config)
        self.config: SandboxConfig = self.app.state.config
        self.store: EventStore = self.app.state.store
        self._socket = _listening_socket(host, port, reuse_port=reuse_port)
        bound_host, bound_port = self._socket.getsockname()[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        """Forget what arrived and restore the config the server was created with."""
        self.app.state.sandbox.reset()

    def start(self) -> SandboxServer:
        if self._thread is not None:
            return self
        if self._socket.fileno() == -1:
            raise RuntimeError("a stopped SandboxServer cannot start again; create a new one")
        uv_config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            date_header=False,  # the app dates its answers by the sandbox's clock
        )
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="capisync-sandbox",
            daemon=True,
        )
        self._thread.start()
        self._wait_started()
        return self

    def _wait_started(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while self._server is not None and not self._server.started:
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError("the sandbox server stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start in time")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()
        self._server, self._thread = None, None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP listener whose `proto` is IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted
    connections only then; without it every answer waits ~40 ms on Nagle + delayed ACK."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(address)
    listener.listen(128)
    return listener


def serve(config: SandboxConfig, *, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the sandbox until interrupted (Ctrl+C); for `capisync sandbox`.

    Raises OSError (errno EADDRINUSE) before serving anything if the port is taken."""
    listener = _listening_socket(host, port)  # bound here, so a taken port is an OSError
    # no access log: the official SDK puts the token in the query string
    uv_config = uvicorn.Config(
        create_app(config),
        log_level="info",
        access_log=False,
        lifespan="off",
        date_header=False,  # the app dates its answers by the sandbox's clock
    )
    try:
        uvicorn.Server(uv_config).run(sockets=[listener])
    finally:
        listener.close()
