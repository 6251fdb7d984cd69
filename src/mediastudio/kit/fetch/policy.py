"""What the operator allows: :class:`AllowRule`, :class:`NetPolicy`,
:func:`parse_allow_hosts` and the helpers that parse and compare host names."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from pathlib import Path

import httpx

from mediastudio.kit.fetch.addresses import IPAddress, IPNetwork, _ip_or_none


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
    # The operator's name for ``allow`` (an environment variable): a refusal the allowlist could
    # lift names it, so whoever runs the server learns which knob to turn.
    allow_setting: str | None = None

    def __post_init__(self) -> None:
        if self.max_bytes < 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and max_redirects cannot be negative.")
        if self.connect_timeout_s <= 0 or self.total_timeout_s <= 0:
            raise ValueError("Timeouts must be positive.")

    def allows_host(self, host: str, port: int) -> bool:
        return any(rule.matches_host(host, port) for rule in self.allow)

    def allows_address(self, ip: IPAddress, port: int) -> bool:
        return any(rule.matches_address(ip, port) for rule in self.allow)

    def allow_hint(self, host: str, port: int) -> str:
        """`` To allow it, add HOST:PORT to SETTING.``, or nothing when no setting is named."""
        if self.allow_setting is None:
            return ""
        entry = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return f" To allow it, add {entry} to {self.allow_setting}."


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


# Host names (also checked in URLs by targets.check_url) --------------------------------------

_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+")


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
