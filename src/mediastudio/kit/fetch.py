"""SSRF-safe HTTP: the one place that decides which URLs the server may fetch or post to.

Engines fetch user-supplied ``*_url`` inputs and webhooks post to user-registered endpoints, so
both are requests an outsider aims at our network. Every request here goes through the same
steps, for the first URL and again for every redirect hop:

1. :func:`check_url`: ``https`` only (``http`` only for hosts the operator allowlists), no
   ``user:pass@``, a well-formed host (IDNA-normalised; numeric tricks such as ``2130706433`` or
   ``127.1`` refused), a sane port.
2. :func:`resolve`: one DNS lookup; *every* address it returns must be public (see
   :func:`blocked_reason`) unless the operator allowlisted the host or the address.
3. The connection is pinned to the checked addresses. httpcore's connection pool takes a
   *network backend*; ours ignores the host name httpcore asks for and connects to the addresses
   step 2 checked, so no second lookup can be rebound to an internal address. Everything above
   the socket still uses the URL's host name: httpcore sends it as TLS SNI, the certificate is
   verified against it (``server_hostname``), and it is the ``Host`` header. A fresh pool per hop
   means a connection is never reused for another host.
4. Caps: ``Content-Length`` checked first and bytes counted while streaming, a connect timeout,
   and one deadline over the whole request (every hop, connect, TLS, every read and write;
   a blocking DNS lookup cannot be interrupted, so it is checked against the deadline after).

Errors are :class:`FetchError` (a ``ValueError``) subclasses whose messages are safe to show the
user who supplied the URL; callers map them to their own errors (``invalid_input`` for engines,
a failed delivery for webhooks). :class:`SafeFetcher` is the engines' ``InputFetcher``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import ipaddress
import mimetypes
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple, cast
from urllib.parse import unquote_to_bytes

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_URL_LENGTH = 8192
_CHUNK = 64 * 1024


# Errors ---------------------------------------------------------------------------------------


class FetchError(ValueError):
    """The URL could not be fetched; the message is safe to show whoever supplied the URL."""


class BlockedUrl(FetchError):
    """The URL is refused by policy (scheme, credentials, host syntax, port, redirect)."""


class BlockedAddress(BlockedUrl):
    """The host is, or resolves to, an address that may not be contacted."""


class ResolveFailed(FetchError):
    """DNS did not resolve the host."""


class TooManyRedirects(FetchError):
    pass


class ResponseTooLarge(FetchError):
    pass


class FetchTimeout(FetchError):
    pass


class FetchFailed(FetchError):
    """Connecting, TLS or HTTP failed, or the response cannot be used."""


class BadStatus(FetchFailed):
    def __init__(self, status: int) -> None:
        super().__init__(f"The server answered HTTP {status}.")
        self.status = status


# Addresses ------------------------------------------------------------------------------------


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), reason) for cidr, reason in rows)


METADATA = "cloud metadata"

# Explicit tables rather than only ``ipaddress``'s properties: those changed between Python
# patch releases (3.11.10, 3.12.4), and 3.11 calls multicast "global". The property check after
# the table is a second net. Order matters: the first match names the reason.
_BLOCKED_V4 = _table(
    ("169.254.169.254/32", METADATA),  # AWS, GCP, Azure, OpenStack, DigitalOcean…
    ("100.100.100.200/32", METADATA),  # Alibaba Cloud
    ("168.63.129.16/32", METADATA),  # Azure WireServer: a public address reachable only in Azure
    ("0.0.0.0/8", "unspecified"),  # "this network": connecting to 0.0.0.0 reaches localhost
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF special-purpose"),  # includes Oracle Cloud's 192.0.0.192 metadata
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # includes the broadcast address
)
_BLOCKED_V6 = _table(
    ("fd00:ec2::254/128", METADATA),  # AWS IMDS over IPv6
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "NAT64 local-use"),  # before ::/8, which contains it
    ("::/8", "reserved"),  # includes the deprecated IPv4-compatible ::a.b.c.d
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF special-purpose"),  # includes Teredo, whose client address is hidden
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "private (unique local)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# Refused even for a host the operator allowlisted by name (only an IP/CIDR rule naming the
# address itself lets them through): allowlisting "minio.internal" means "reach that service",
# not "whatever its DNS says next, including the instance's credentials".
_NEVER_BY_NAME = frozenset({METADATA, "unspecified", "multicast"})


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be contacted (``"loopback"``, ``"private"``…), or None if it is a
    public unicast address. IPv6 forms that carry an IPv4 address (mapped ``::ffff:a.b.c.d``,
    NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by that IPv4 address, since that is
    where the packets end up."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return blocked_reason(embedded)
    table = _BLOCKED_V4 if isinstance(ip, ipaddress.IPv4Address) else _BLOCKED_V6
    for network, reason in table:
        if ip in network:
            return reason
    if not ip.is_global or ip.is_multicast:
        return "not globally routable"
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _ip_or_none(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# Policy ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AllowRule:
    """One entry of the operator's allowlist: a host name or an IP network, optionally one port.

    A host-name rule lets ``http`` through for that name and accepts the private addresses it
    resolves to (never metadata, unspecified or multicast ones). A network rule does the same
    for URLs whose host is an address in it, and accepts any address in it for any host name.
    """

    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def matches_host(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return self.host == _host_key(host)
        ip = _ip_or_none(host)
        return ip is not None and self.matches_address(ip, port)

    def matches_address(self, ip: IPAddress, port: int) -> bool:
        if self.network is None or (self.port is not None and self.port != port):
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip in self.network


@dataclass(frozen=True)
class NetPolicy:
    """What a fetch may do. One instance per use: inputs (redirects, large bodies) and webhooks
    (``max_redirects=0``, short deadline) share ``allow``."""

    allow: tuple[AllowRule, ...] = ()
    max_bytes: int = 50 * 1024 * 1024
    connect_timeout_s: float = 10.0
    total_timeout_s: float = 120.0
    max_redirects: int = 5
    user_agent: str = "MediaStudio"
    ca_file: Path | None = None  # a PEM bundle replacing the public CAs (enterprise CA, tests)

    def __post_init__(self) -> None:
        if self.max_bytes < 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and max_redirects cannot be negative.")
        if self.connect_timeout_s <= 0 or self.total_timeout_s <= 0:
            raise ValueError("Timeouts must be positive.")

    def allows_host(self, host: str, port: int) -> bool:
        return any(rule.matches_host(host, port) for rule in self.allow)

    def allows_address(self, ip: IPAddress, port: int) -> bool:
        return any(rule.matches_address(ip, port) for rule in self.allow)


def parse_allow_hosts(text: str | None) -> tuple[AllowRule, ...]:
    """Parse ``MEDIASTUDIO_NET_ALLOW_HOSTS``: comma-separated host names, IP addresses and CIDR
    ranges, each optionally with ``:port`` (IPv6 in brackets then: ``[::1]:8443``).

    Raises ``ValueError`` naming the bad entry, so a typo stops the server at start-up instead
    of silently allowing nothing.
    """
    return tuple(_parse_rule(item.strip()) for item in (text or "").split(",") if item.strip())


def _parse_rule(item: str) -> AllowRule:
    host, port = _split_port(item)
    network = _parse_network(host, item)
    if network is not None:
        return AllowRule(network=network, port=port)
    name = _idna(host, item)
    if item.startswith("[") or not _is_hostname(name) or _is_numeric_trick(name):
        raise ValueError(f"Invalid host in the allowlist: {item!r}.")
    return AllowRule(host=_host_key(name), port=port)


def _parse_network(host: str, item: str) -> IPNetwork | None:
    if "/" not in host and _ip_or_none(host) is None:
        return None
    try:
        return ipaddress.ip_network(host)  # strict: "10.1.2.3/16" is a typo worth reporting
    except ValueError as exc:
        raise ValueError(f"Invalid address or CIDR range in the allowlist: {item!r}.") from exc


def _split_port(item: str) -> tuple[str, int | None]:
    if item.startswith("["):
        inside, closed, rest = item[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"Invalid allowlist entry: {item!r}.")
        return inside, _parse_port(rest[1:], item) if rest else None
    if item.count(":") == 1:  # host:port; a bare IPv6 address has several colons
        host, _, port = item.partition(":")
        return host, _parse_port(port, item)
    return item, None


def _parse_port(text: str, item: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"Invalid port in the allowlist: {item!r}.")
    return int(text)


def _idna(name: str, item: str) -> str:
    """The ASCII form of a host name, the way URLs are parsed (httpx's IDNA handling)."""
    if name.isascii():
        return name.lower()
    try:
        return httpx.URL(scheme="https", host=name).raw_host.decode("ascii")
    except httpx.InvalidURL as exc:
        raise ValueError(f"Invalid host in the allowlist: {item!r}.") from exc


# URLs -----------------------------------------------------------------------------------------

_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+")


@dataclass(frozen=True)
class ParsedTarget:
    """A URL that passed :func:`check_url`. ``host`` is the ASCII host as sent on the wire
    (IPv6 without brackets); ``port`` is explicit or the scheme's default."""

    url: httpx.URL
    host: str
    port: int
    allowlisted: bool

    @property
    def scheme(self) -> str:
        return self.url.scheme


def check_url(url: str | httpx.URL, policy: NetPolicy) -> ParsedTarget:
    """Everything that can be refused before DNS. The parsed URL is the one requested, so the
    checks and the request cannot disagree about what the URL means."""
    if isinstance(url, str) and len(url) > MAX_URL_LENGTH:
        raise BlockedUrl("The URL is too long.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BlockedUrl("The URL is malformed.") from exc
    if parsed.scheme not in DEFAULT_PORTS:
        raise BlockedUrl("Only https:// URLs can be fetched.")
    if parsed.userinfo:
        raise BlockedUrl("URLs with credentials (user:password@) are not allowed.")
    host = _checked_host(parsed.raw_host)
    port = DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
    if not 1 <= port <= 65535:
        raise BlockedUrl("The URL's port is invalid.")
    allowlisted = policy.allows_host(host, port)
    if parsed.scheme == "http" and not allowlisted:
        raise BlockedUrl("Only https:// URLs can be fetched (http:// only from allowlisted hosts).")
    return ParsedTarget(parsed.copy_with(fragment=None), host, port, allowlisted)


def _checked_host(raw_host: bytes) -> str:
    host = raw_host.decode("ascii").lower()
    if not host:
        raise BlockedUrl("The URL has no host.")
    if "%" in host:  # an IPv6 zone ("fe80::1%eth0") or a percent-encoded name
        raise BlockedUrl("The URL's host is invalid.")
    if ":" in host:
        if _ip_or_none(host) is None:
            raise BlockedUrl("The URL's host is invalid.")
        return host
    if _ip_or_none(host) is not None:
        return host
    if len(host) > 253 or not _is_hostname(host):
        raise BlockedUrl("The URL's host is invalid.")
    if _is_numeric_trick(host):
        raise BlockedUrl("IP addresses must be written as four decimal numbers (a.b.c.d).")
    return host


def _is_hostname(host: str) -> bool:
    return _HOSTNAME.fullmatch(host) is not None


def _is_numeric_trick(host: str) -> bool:
    """``2130706433``, ``0x7f000001``, ``127.1``: names the C resolver reads as IPv4 addresses.
    They would be caught after resolution anyway; refusing them here keeps the allowlist, which
    compares names, from ever meeting them."""
    if not _NUMERIC_HOST.fullmatch(host):
        return False
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _host_key(host: str) -> str:
    """How host names compare: case and a trailing dot do not matter."""
    return host.lower().rstrip(".")


# Resolution -----------------------------------------------------------------------------------


def resolve(host: str, port: int, policy: NetPolicy) -> list[IPAddress]:
    """Resolve ``host`` once and check every address; the list returned is what to connect to.

    One bad address refuses the host: with round-robin DNS the client does not choose which
    address it gets, so a name that *can* lead inside is refused.
    """
    literal = _ip_or_none(host)
    addresses = [literal] if literal is not None else _lookup(host, port)
    by_name = policy.allows_host(host, port)
    for ip in addresses:
        _check_address(host, ip, port, policy, by_name=by_name)
    return addresses


def _lookup(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise ResolveFailed(f"Could not resolve the host {host}.") from exc
    addresses: list[IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]))
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise ResolveFailed(f"Could not resolve the host {host}.")
    return addresses


def _check_address(
    host: str, ip: IPAddress, port: int, policy: NetPolicy, *, by_name: bool
) -> None:
    if policy.allows_address(ip, port):
        return
    reason = blocked_reason(ip)
    if reason is None or (by_name and reason not in _NEVER_BY_NAME):
        return
    # The category helps the user; the address itself stays out of the message so the error
    # is not an oracle for the server's internal DNS.
    if _ip_or_none(host) is not None:
        raise BlockedAddress(f"{host} is a non-public address ({reason}); it may not be fetched.")
    raise BlockedAddress(
        f"The host {host} resolves to a non-public address ({reason}); it may not be fetched."
    )


# Pinned connections ---------------------------------------------------------------------------


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


# Fetching a file (blocking, for engines) ------------------------------------------------------


def fetch_to_file(url: str, dest_dir: Path, policy: NetPolicy) -> Path:
    """GET ``url`` into a new file in ``dest_dir``, following up to ``policy.max_redirects``
    redirects, each checked like the first URL. Blocking: engines call it from worker threads.
    No partial file is left behind on failure."""
    deadline = _Deadline(policy.total_timeout_s)
    target = check_url(url, policy)
    for _ in range(policy.max_redirects + 1):
        addresses = resolve(target.host, target.port, policy)
        deadline.left(None, FetchTimeout)  # the system resolver has its own timeouts
        pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(policy.ca_file),
            max_connections=1,
            retries=0,
            network_backend=_PinnedBackend(_pin(target, addresses), deadline),
        )
        with (
            _transport_errors(target),
            pool,
            pool.stream(
                "GET",
                _core_url(target),
                headers=_get_headers(target, policy),
                extensions=_extensions(policy),
            ) as response,
        ):
            location = _redirect_location(response)
            if location is None:
                return _save(response, target, dest_dir, policy)
        target = _next_hop(target, location, policy)
    if policy.max_redirects == 0:
        raise TooManyRedirects("The URL redirects, and redirects are not followed here.")
    raise TooManyRedirects(f"The URL redirects more than {policy.max_redirects} times.")


def _get_headers(target: ParsedTarget, policy: NetPolicy) -> list[tuple[bytes, bytes]]:
    return [
        (b"Host", target.url.netloc),
        (b"User-Agent", policy.user_agent.encode()),
        (b"Accept", b"*/*"),
        # Bytes on the wire are bytes on disk: no decompression bomb behind the size cap.
        (b"Accept-Encoding", b"identity"),
    ]


def _redirect_location(response: httpcore.Response) -> str | None:
    if response.status not in REDIRECT_STATUSES:
        return None
    location: str | None = httpx.Headers(response.headers).get("location")
    return location


def _next_hop(previous: ParsedTarget, location: str, policy: NetPolicy) -> ParsedTarget:
    try:
        joined = previous.url.join(location)
    except httpx.InvalidURL as exc:
        raise BlockedUrl("The URL redirects to a malformed URL.") from exc
    target = check_url(joined, policy)
    if previous.scheme == "https" and target.scheme == "http":
        raise BlockedUrl("The URL redirects from https:// to http://, which is refused.")
    return target


def _save(
    response: httpcore.Response, target: ParsedTarget, dest_dir: Path, policy: NetPolicy
) -> Path:
    if not 200 <= response.status < 300:
        raise BadStatus(response.status)
    headers = httpx.Headers(response.headers)
    if headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        raise FetchFailed("The server sent a compressed (Content-Encoding) response.")
    declared = _content_length(headers)
    if declared is not None and declared > policy.max_bytes:
        raise ResponseTooLarge(f"The file is larger than {policy.max_bytes} bytes.")
    final = dest_dir / f"input-{uuid.uuid4().hex}{_suffix(headers, target)}"
    partial = final.with_name(final.name + ".part")
    try:
        with partial.open("xb") as out:
            _copy_capped(response.iter_stream(), out, policy.max_bytes)
        partial.replace(final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def _content_length(headers: httpx.Headers) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


def _copy_capped(chunks: Iterable[bytes], out: BinaryIO, limit: int) -> None:
    # Counted as it arrives: Content-Length may be absent (close-delimited or chunked).
    written = 0
    for chunk in chunks:
        written += len(chunk)
        if written > limit:
            raise ResponseTooLarge(f"The file is larger than {limit} bytes.")
        out.write(chunk)


def _suffix(headers: httpx.Headers, target: ParsedTarget) -> str:
    """A file suffix from the Content-Type, else from the URL's path (canonical, never the
    user's own characters), else ``.bin``. Engines probe content; the suffix is a hint."""
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and media_type != "application/octet-stream":
        suffix = mimetypes.guess_extension(media_type)
        if suffix:
            return suffix
    guessed, _ = mimetypes.guess_type(target.url.path)
    return (mimetypes.guess_extension(guessed) if guessed else None) or ".bin"


# Posting JSON (async, for webhooks) -----------------------------------------------------------


class PostResult(NamedTuple):
    status: int
    headers: httpx.Headers
    body_excerpt: bytes


_CALLER_MAY_NOT_SET = frozenset({"host", "content-length", "transfer-encoding", "connection"})


async def post_json(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    policy: NetPolicy,
    *,
    excerpt_bytes: int = 4096,
) -> PostResult:
    """POST ``body`` (already-serialised JSON, sent byte for byte) to ``url``.

    Redirects are never followed: a 3xx is returned like any other status, for the caller to
    count as a failed delivery. At most ``excerpt_bytes`` of the response are read, then the
    connection is closed. ``policy.total_timeout_s`` bounds everything, DNS included.
    """
    target = check_url(url, policy)
    try:
        async with asyncio.timeout(policy.total_timeout_s):
            # getaddrinfo blocks; in a thread it cannot stall the event loop, and the timeout
            # above abandons it if the resolver hangs.
            addresses = await asyncio.to_thread(resolve, target.host, target.port, policy)
            pool = httpcore.AsyncConnectionPool(
                ssl_context=_ssl_context(policy.ca_file),
                max_connections=1,
                retries=0,
                network_backend=_AsyncPinnedBackend(_pin(target, addresses)),
            )
            with _transport_errors(target):
                async with (
                    pool,
                    pool.stream(
                        "POST",
                        _core_url(target),
                        headers=_post_headers(target, body, headers, policy),
                        content=body,
                        extensions=_extensions(policy),
                    ) as response,
                ):
                    excerpt = await _read_excerpt(response, excerpt_bytes)
                    return PostResult(response.status, httpx.Headers(response.headers), excerpt)
    except TimeoutError as exc:
        raise FetchTimeout(f"{target.host}:{target.port} did not answer in time.") from exc


def _post_headers(
    target: ParsedTarget, body: bytes, headers: Mapping[str, str], policy: NetPolicy
) -> list[tuple[bytes, bytes]]:
    merged = {"user-agent": policy.user_agent, "content-type": "application/json"}
    merged |= {k.lower(): v for k, v in headers.items() if k.lower() not in _CALLER_MAY_NOT_SET}
    return [
        (b"Host", target.url.netloc),
        (b"Content-Length", str(len(body)).encode()),
        (b"Accept-Encoding", b"identity"),
        *((name.encode("ascii"), value.encode("ascii")) for name, value in merged.items()),
    ]


async def _read_excerpt(response: httpcore.Response, limit: int) -> bytes:
    excerpt = bytearray()
    # An async generator is not closed by leaving the loop early; close it here rather than
    # leave it to the garbage collector.
    chunks = cast(AsyncGenerator[bytes, None], response.aiter_stream())
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            excerpt += chunk[: limit - len(excerpt)]
            if len(excerpt) >= limit:
                break  # leaving the pool closes the connection: the rest is never read
    return bytes(excerpt)


# The engines' InputFetcher --------------------------------------------------------------------


def fetch_input(url: str, dest_dir: Path, policy: NetPolicy) -> Path:
    """A user-supplied input into ``dest_dir``: a ``data:`` URI decoded locally (size-capped),
    anything else through :func:`fetch_to_file` and every check above."""
    if url[:5].lower() == "data:":
        data, suffix = decode_data_uri(url, policy.max_bytes)
        path = dest_dir / f"input-{uuid.uuid4().hex}{suffix}"
        path.write_bytes(data)
        return path
    return fetch_to_file(url, dest_dir, policy)


def decode_data_uri(url: str, max_bytes: int) -> tuple[bytes, str]:
    """``data:[<type>][;base64],<data>`` → (bytes, file suffix)."""
    header, sep, data = url[5:].partition(",")
    if not sep:
        raise BlockedUrl("Malformed data: URI (no comma).")
    media_type, *params = header.split(";")
    # base64 inflates by 4/3: refuse before decoding anything too large.
    if len(data) * 3 // 4 > max_bytes:
        raise ResponseTooLarge(f"The input is larger than {max_bytes} bytes.")
    try:
        raw = (
            base64.b64decode(data, validate=True) if "base64" in params else unquote_to_bytes(data)
        )
    except (binascii.Error, ValueError) as exc:
        raise BlockedUrl("Malformed base64 in data: URI.") from exc
    if len(raw) > max_bytes:
        raise ResponseTooLarge(f"The input is larger than {max_bytes} bytes.")
    return raw, mimetypes.guess_extension(media_type or "") or ".bin"
