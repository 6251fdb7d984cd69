"""A tiny HTTP proxy in front of the server that loses the answer to the first create.

It forwards that create (so the server makes the job) and then either closes the connection
without answering (``drop``) or answers 503 (``unavailable``): exactly the failure after which a
client cannot know whether its job exists. ``no_stream`` instead answers 503 to every event
stream, and passes everything else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import httpx

Mode = Literal["drop", "unavailable", "no_stream"]
HOP_BY_HOP = frozenset({"host", "connection", "content-length", "transfer-encoding"})


class LossyProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, target: str, mode: Mode, after_first_create: Callable[[], None] | None = None
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target = target
        self.mode = mode
        self.creates = 0
        self.lock = threading.Lock()
        # Run once the first create reached the server, before its answer is lost (a restart
        # of the server, which may move ``target``).
        self.after_first_create = after_first_create

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: LossyProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.server.mode == "no_stream" and self.path.split("?")[0].endswith("/events"):
            self._reply(503, {"Content-Type": "application/json"}, b"{}")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        answer = httpx.request(
            self.command, self.server.target + self.path, content=body, headers=headers, timeout=30
        )
        first = False
        if self.command == "POST" and "/generate" in self.path:
            with self.server.lock:
                self.server.creates += 1
                first = self.server.creates == 1
        if first and self.server.after_first_create is not None:
            self.server.after_first_create()
        if first and self.server.mode == "drop":
            self.close_connection = True  # the job exists; its answer never arrives
            return
        if first and self.server.mode == "unavailable":
            self._reply(503, {"Retry-After": "0", "Content-Type": "application/json"}, b"{}")
            return
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        self._reply(answer.status_code, kept, answer.content)

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _forward


@contextmanager
def lossy_proxy(
    target: str, mode: Mode, after_first_create: Callable[[], None] | None = None
) -> Iterator[LossyProxy]:
    proxy = LossyProxy(target, mode, after_first_create)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()
