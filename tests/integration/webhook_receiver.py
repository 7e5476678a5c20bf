"""A real HTTP webhook receiver on 127.0.0.1 (an ephemeral port), in a thread: it records
each POST's JSON body and answers 200, or, while `fail_next` > 0, `fail_status`; with
`trickle` > 0 its 200 answer is that many bytes, one every TRICKLE_EVERY seconds (a webhook
that is slow, but never silent).

    with WebhookReceiver() as hook:
        ... post to hook.url ...
        hook.bodies        # [{"text": ..., "capisync": {...}}, ...]
        hook.raw           # the bodies as received (bytes), for leak checks
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

TRICKLE_EVERY = 0.2  # seconds between the bytes of a trickled answer


class WebhookReceiver:
    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.fail_next = 0
        self.fail_status = 500
        self.attempts = 0
        self.trickle = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server calls it by this name
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    else:
                        receiver.raw.append(body)
                self.send_response(receiver.fail_status if failing else 200)
                self.send_header("content-type", "text/plain")
                if receiver.trickle and not failing:
                    self._trickle(receiver.trickle)
                    return
                self.end_headers()
                self.wfile.write(b"error" if failing else b"ok")

            def _trickle(self, size: int) -> None:
                self.send_header("content-length", str(size))
                self.end_headers()
                try:
                    for _ in range(size):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(TRICKLE_EVERY)
                except OSError:
                    pass  # the client gave up on it

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/capisync"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(b) for b in self.raw]

    def kinds(self) -> list[tuple[str, str]]:
        """(kind, status) of each body received, in order."""
        return [(b["capisync"]["kind"], b["capisync"]["status"]) for b in self.bodies]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
