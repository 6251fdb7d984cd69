"""Checking a URL against the policy (:func:`check_url`), then resolving its host and checking
every address (:func:`resolve`)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from mediastudio.kit.fetch.addresses import (
    _NEVER_BY_NAME,
    IPAddress,
    _ip_or_none,
    blocked_reason,
)
from mediastudio.kit.fetch.errors import BlockedAddress, BlockedUrl, ResolveFailed
from mediastudio.kit.fetch.policy import NetPolicy, _is_hostname, _is_numeric_trick

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 8192


# URLs -----------------------------------------------------------------------------------------


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
        raise BlockedUrl(
            "Only https:// URLs can be fetched (http:// only from allowlisted hosts)."
            + policy.allow_hint(host, port)
        )
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


# Resolution -----------------------------------------------------------------------------------


# Lookups get threads of their own: a resolver that never answers then ties up these, not the
# default pool that stores job outputs and spools uploads.
_RESOLVERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="resolve")


async def resolve_async(host: str, port: int, policy: NetPolicy) -> list[IPAddress]:
    """:func:`resolve` off the event loop, in the resolver threads. Callers bound it with
    ``asyncio.timeout`` (a thread stuck in ``getaddrinfo`` is abandoned, not killed)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_RESOLVERS, resolve, host, port, policy)


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
    # is not an oracle for the server's internal DNS. Metadata, unspecified and multicast
    # addresses get no hint: allowing those by name is impossible and by address unwise.
    hint = "" if reason in _NEVER_BY_NAME else policy.allow_hint(host, port)
    if _ip_or_none(host) is not None:
        raise BlockedAddress(
            f"{host} is a non-public address ({reason}); it may not be fetched.{hint}"
        )
    raise BlockedAddress(
        f"The host {host} resolves to a non-public address ({reason}); it may not be fetched.{hint}"
    )
