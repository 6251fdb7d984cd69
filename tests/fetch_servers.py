"""Loopback HTTP(S) servers for the fetcher's tests.

Real sockets on 127.0.0.1 (or ::1), one thread per connection, each route a small function, and a
record of what the server saw: requests (method, path, headers as sent, body byte for byte) and,
for TLS, the SNI names clients asked for. Nothing here listens beyond loopback.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# A throwaway CA and a certificate for "test.local" it signed (ECDSA P-256, valid 2025-2125),
# made once with the `cryptography` package and pasted here: the project's environment has
# neither `cryptography` nor `trustme`, and static test certificates need no dependency.
# TEST ONLY: the key below protects nothing.
TEST_CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIURbmecMtxJxqJuJdLYCQ7saBha0EwCgYIKoZIzj0EAwIw
JTEjMCEGA1UEAwwaTWVkaWFTdHVkaW8gZmV0Y2ggdGVzdHMgQ0EwIBcNMjUwMTAx
MDAwMDAwWhgPMjEyNTAxMDEwMDAwMDBaMCUxIzAhBgNVBAMMGk1lZGlhU3R1ZGlv
IGZldGNoIHRlc3RzIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEks1yfStA
PI3V55/QEP5h0a8958ylqnQw8yI778myTPlGpz5x+qbJIzBdpU7E86RBmPP7uE85
nO4e70RMFlY3r6NFMEMwEgYDVR0TAQH/BAgwBgEB/wIBADAOBgNVHQ8BAf8EBAMC
AYYwHQYDVR0OBBYEFJB+U0R7XXtwbzdDpalz1zp/TWUDMAoGCCqGSM49BAMCA0gA
MEUCIB1dn0pyCARm5ML7yk20EhFvieXfa6syFxuYDiD0DcXuAiEA4znX2+ScbzVz
ttiMrJYwyAlCNxaAEUcAfagw8fWNSK8=
-----END CERTIFICATE-----
"""
TEST_CERT_HOST = "test.local"
_TEST_CERT_PEM = """-----BEGIN CERTIFICATE-----
MIIBzDCCAXKgAwIBAgIUconPwTRLdMYd0McnimZyY5p4g0UwCgYIKoZIzj0EAwIw
JTEjMCEGA1UEAwwaTWVkaWFTdHVkaW8gZmV0Y2ggdGVzdHMgQ0EwIBcNMjUwMTAx
MDAwMDAwWhgPMjEyNTAxMDEwMDAwMDBaMBUxEzARBgNVBAMMCnRlc3QubG9jYWww
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQ8YhxCyRv06oJrFVG+4j/NN4pzL/jN
+7hnCuL6SMQaTKSgsjWIs7ayVd6irGk6jPJQ80Pz9vkyl54Y0v1kslsEo4GNMIGK
MAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUF
BwMBMBUGA1UdEQQOMAyCCnRlc3QubG9jYWwwHQYDVR0OBBYEFFViwxyPZWc9LCxz
/PrpIVwZH7CKMB8GA1UdIwQYMBaAFJB+U0R7XXtwbzdDpalz1zp/TWUDMAoGCCqG
SM49BAMCA0gAMEUCIQDQvbOY4hlR9ZzAAKaYyuKN7XCAB/xWZvmAUeN/8krMSQIg
X8KhzQyJOv5KqJpZFQVcIj2tZAzcjnp3nePa8lecEcA=
-----END CERTIFICATE-----
"""
_TEST_KEY_PEM = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxQUzHSfv5nGCFoq5
+EOXRRDPdj0zP2ZQPHikfWJ77PehRANCAAQ8YhxCyRv06oJrFVG+4j/NN4pzL/jN
+7hnCuL6SMQaTKSgsjWIs7ayVd6irGk6jPJQ80Pz9vkyl54Y0v1kslsE
-----END PRIVATE KEY-----
"""


def server_tls_context() -> ssl.SSLContext:
    """A server context presenting the "test.local" certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain reads files only
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert.write_text(_TEST_CERT_PEM)
        key.write_text(_TEST_KEY_PEM)
        context.load_cert_chain(cert, key)
    return context


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None


Route = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    server: LoopbackHTTPServer
    protocol_version = "HTTP/1.0"  # one request per connection; bodies may end at close
    timeout = 10  # a handler thread never outlives a stuck client by much

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, not in accept(), so one client cannot block all
        super().setup()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0]
        self.server.seen.append(Seen(self.command, self.path, list(self.headers.items()), body))
        route = self.server.routes.get(path)
        if route is None:
            send(self, b"not found", status=404)
        else:
            route(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, host: str, routes: dict[str, Route], tls: ssl.SSLContext | None = None
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.routes = routes
        self.tls = tls
        self.seen: list[Seen] = []
        self.sni: list[str | None] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
        super().__init__((host, 0), Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that rejects our certificate or hangs up early is what several tests do.
        self.errors.append(sys.exc_info()[1] or RuntimeError("unknown"))


class LoopbackServer:
    """``with LoopbackServer({"/": ok(b"hi")}) as server: server.url("/")``."""

    def __init__(
        self,
        routes: dict[str, Route],
        *,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.httpd = LoopbackHTTPServer(host, routes, tls)
        self.host = host
        self.port: int = self.httpd.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        # A short poll interval: shutdown() waits for the loop's next poll.
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def seen(self) -> list[Seen]:
        return self.httpd.seen

    @property
    def sni(self) -> list[str | None]:
        return self.httpd.sni

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        name = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{name}:{self.port}{path}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.stopping.set()  # wakes stalled and dripping routes
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


# Routes ---------------------------------------------------------------------------------------


def send(
    handler: Handler,
    body: bytes = b"",
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_length: bool = True,
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if content_length:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    with contextlib.suppress(OSError):  # the client may stop reading (size caps)
        handler.wfile.write(body)


def ok(
    body: bytes, content_type: str = "application/octet-stream", *, content_length: bool = True
) -> Route:
    return lambda h: send(
        h, body, headers={"Content-Type": content_type}, content_length=content_length
    )


def redirect(location: str, status: int = 302) -> Route:
    return lambda h: send(h, status=status, headers={"Location": location})


def stall(h: Handler) -> None:
    """Never answers (until the server stops)."""
    h.server.stopping.wait(30)


def drip(h: Handler) -> None:
    """Headers at once, then one byte every 50 ms, for ever: every read succeeds quickly, so
    only a deadline over the whole response stops it."""
    h.send_response(200)
    h.end_headers()
    with contextlib.suppress(OSError):
        while not h.server.stopping.wait(0.05):
            h.wfile.write(b"x")
            h.wfile.flush()


def ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@dataclass
class ConnectGuard:
    """Watches every ``socket.connect`` in the process (an audit hook, so nothing is mocked):
    records the address, and refuses anything but loopback, before the packet leaves."""

    active: bool = False
    connects: list[tuple[str, int]] = field(default_factory=list)

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or event != "socket.connect":
            return
        address = args[1]
        if not isinstance(address, tuple):
            return  # a Unix socket
        host, port = str(address[0]), int(address[1])
        self.connects.append((host, port))
        if host.split("%")[0] not in ("::1",) and not host.startswith("127."):
            raise RuntimeError(f"test tried to connect to {host}:{port}, outside loopback")

    @contextlib.contextmanager
    def watching(self) -> Iterator[ConnectGuard]:
        self.connects.clear()
        self.active = True
        try:
            yield self
        finally:
            self.active = False


def elapsed(start: float) -> float:
    return time.monotonic() - start
