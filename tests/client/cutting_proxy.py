"""A proxy for event streams that breaks every connection in the middle of an event.

Each connection relays ``cut_after`` whole events (those with an ``id:``), then half of the next
one, and closes without ending the chunked body: a dropped connection as a client sees it after
a network blip or a proxy restart. It records the ``Last-Event-ID`` of every connection.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_BY_HOP = frozenset({"host", "connection", "content-length", "transfer-encoding"})


class CuttingProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, target: str, cut_after: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target = target
        self.cut_after = cut_after
        self.resumed_from: list[str | None] = []  # Last-Event-ID of each connection, in order
        self.cuts = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: CuttingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        with self.server.lock:
            self.server.resumed_from.append(self.headers.get("Last-Event-ID"))
        target = self.server.target + self.path
        with httpx.stream("GET", target, headers=headers, timeout=60) as upstream:
            self.send_response(upstream.status_code)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP | {"date", "server"}:
                    self.send_header(name, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            relayed, block = 0, []
            for line in upstream.iter_lines():
                block.append(line)
                if line != "":
                    continue
                text = ("\n".join(block) + "\n").encode()
                block = []
                has_id = any(part.startswith("id:") for part in text.decode().splitlines())
                if has_id and relayed == self.server.cut_after:
                    self._chunk(text[: len(text) // 2])
                    self._cut()
                    return
                self._chunk(text)
                relayed += has_id
            self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        with self.server.lock:
            self.server.cuts += 1
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


@contextmanager
def cutting_proxy(target: str, cut_after: int = 2) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(target, cut_after)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()
