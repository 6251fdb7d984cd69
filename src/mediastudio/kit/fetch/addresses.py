"""Which IP addresses may be contacted: the blocked-range tables, :func:`blocked_reason`,
IPv4 addresses embedded in IPv6 ones, and IP parsing helpers."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
