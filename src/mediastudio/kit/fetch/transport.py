"""How a checked request meets httpcore: one deadline over the whole request, network backends
(sync and async) pinned to the checked addresses, deadline-bound streams, the SSL context, and
httpcore's errors turned into :class:`FetchError`."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpcore

from mediastudio.kit.fetch.addresses import IPAddress
from mediastudio.kit.fetch.errors import FetchFailed, FetchTimeout
from mediastudio.kit.fetch.policy import NetPolicy
from mediastudio.kit.fetch.targets import ParsedTarget


class _Deadline:
    """One time budget across every hop, connect, TLS handshake, read and write."""

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds

    def left(self, cap: float | None, error: type[Exception]) -> float:
        remaining = self._at - time.monotonic()
        if remaining <= 0:
            raise error("The time limit for the request was reached.")
        return remaining if cap is None else min(cap, remaining)


@dataclass(frozen=True)
class _Pin:
    """The origin a pool was built for and the checked addresses it may connect to."""

    host: str
    port: int
    addresses: tuple[IPAddress, ...]

    def require(self, host: str, port: int) -> None:
        # httpcore only ever asks for the URL's origin, and the pool serves one URL; anything
        # else would be a bug here, and connecting anywhere unchecked is the one thing to avoid.
        if host != self.host or port != self.port:
            raise httpcore.ConnectError(f"Refusing to connect to unchecked {host}:{port}.")


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked addresses, in resolver order, instead of resolving the name."""

    def __init__(self, pin: _Pin, deadline: _Deadline) -> None:
        self._pin = pin
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self._pin.require(host, port)
        failure: Exception = httpcore.ConnectError("No address to connect to.")
        for ip in self._pin.addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(ip),  # an IP literal: the socket layer does no DNS for it
                    port,
                    timeout=self._deadline.left(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # every address was checked, so the next one is as safe
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("Unix sockets are never used here.")


class _DeadlineStream(httpcore.NetworkStream):
    """Shrinks every socket timeout to what is left of the deadline. httpcore's timeouts are
    per operation, so a server dripping one byte at a time would otherwise never time out."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._deadline.left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, budget), self._deadline
        )

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _AsyncPinnedBackend(httpcore.AsyncNetworkBackend):
    """The async twin of :class:`_PinnedBackend`; the deadline is the caller's asyncio.timeout."""

    def __init__(self, pin: _Pin) -> None:
        self._pin = pin
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self._pin.require(host, port)
        failure: Exception = httpcore.ConnectError("No address to connect to.")
        for ip in self._pin.addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are never used here.")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


_thread_local = threading.local()


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying context (hostname checked, TLS 1.2+), cached per thread and CA file.

    Loading a CA bundle costs milliseconds, so contexts are reused; but httpcore sets ALPN on
    the context at every connection, and OpenSSL does not promise that is safe while another
    thread creates a connection from it, so no context is shared between threads.
    """
    cache: dict[Path | None, ssl.SSLContext] = _thread_local.__dict__.setdefault("ssl", {})
    if ca_file not in cache:
        cache[ca_file] = (
            ssl.create_default_context(cafile=str(ca_file))
            if ca_file is not None
            else httpcore.default_ssl_context()  # certifi's bundle, as httpx uses
        )
    return cache[ca_file]


def _pin(target: ParsedTarget, addresses: list[IPAddress]) -> _Pin:
    return _Pin(target.host, target.port, tuple(addresses))


def _core_url(target: ParsedTarget) -> httpcore.URL:
    url = target.url
    return httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )


def _extensions(policy: NetPolicy) -> dict[str, object]:
    # Read/write are bounded by the deadline, not by a per-operation timeout.
    timeouts = {"connect": policy.connect_timeout_s, "read": None, "write": None, "pool": None}
    return {"timeout": timeouts}


@contextlib.contextmanager
def _transport_errors(target: ParsedTarget) -> Iterator[None]:
    """httpcore's exceptions → FetchError, with messages that name the host and nothing more."""
    where = f"{target.host}:{target.port}"
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise FetchTimeout(f"{where} did not answer in time.") from exc
    except httpcore.ConnectError as exc:
        if _caused_by(exc, ssl.SSLCertVerificationError):
            raise FetchFailed(f"The TLS certificate of {target.host} is not valid.") from exc
        raise FetchFailed(f"Could not connect to {where}.") from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise FetchFailed(f"The connection to {where} failed.") from exc


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    # httpcore raises its own error *during* handling of the socket's (``__context__``).
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, kind):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
