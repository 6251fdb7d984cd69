"""The SSRF-safe fetcher against real loopback servers.

Nothing on the network is mocked. DNS is: ``socket.getaddrinfo`` is replaced for every test here
by :class:`FakeDns`, which answers the names a test declares and passes only IP literals to the
real resolver (numerically, so no query ever leaves the machine). Every ``socket.connect`` in the
process is watched by an audit hook (:class:`ConnectGuard`) that records it and refuses anything
outside loopback, so a refusal that came too late would fail the test, not reach the network.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediastudio.engines.contract import InvalidInput
from mediastudio.kit.fetch import (
    AllowRule,
    BadStatus,
    BlockedAddress,
    BlockedUrl,
    FetchFailed,
    FetchTimeout,
    NetPolicy,
    ResponseTooLarge,
    TooManyRedirects,
    blocked_reason,
    check_url,
    fetch_to_file,
    parse_allow_hosts,
    post_json,
    resolve,
)
from mediastudio.runtime.inputs import SafeFetcher
from tests.fetch_servers import (
    TEST_CA_PEM,
    TEST_CERT_HOST,
    ConnectGuard,
    LoopbackServer,
    drip,
    ipv6_loopback_available,
    ok,
    redirect,
    send,
    server_tls_context,
    stall,
)

_GUARD = ConnectGuard()
sys.addaudithook(_GUARD.hook)  # audit hooks cannot be removed; it is inert unless watching


class FakeDns:
    """``socket.getaddrinfo`` for declared names. Each ``add`` answer is used once, in order;
    the last one repeats. Unknown names fail like NXDOMAIN."""

    def __init__(self) -> None:
        self._answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        self._real = socket.getaddrinfo

    def add(self, name: str, *answers: list[str]) -> None:
        self._answers[name] = list(answers)

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        if host is None or _is_ip(str(host)):
            return self._real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        name = str(host).lower().rstrip(".")
        if name not in self._answers:
            raise socket.gaierror(socket.EAI_NONAME, f"fake DNS has no {name}")
        self.lookups.append(name)
        queue = self._answers[name]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return [_addrinfo(ip, int(port)) for ip in answer]


def _addrinfo(ip: str, port: int) -> tuple[Any, ...]:
    if ":" in ip:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))


def _is_ip(text: str) -> bool:
    """What the real resolver reads as an address without asking DNS (``127.1`` included)."""
    if re.fullmatch(r"[0-9a-fx.]+", text):
        try:
            socket.inet_aton(text)
        except OSError:
            return False
        return True
    try:
        ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    fake.add("localhost", ["::1", "127.0.0.1"])
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


@pytest.fixture(autouse=True)
def guard() -> Iterator[ConnectGuard]:
    with _GUARD.watching() as watching:
        yield watching


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text(TEST_CA_PEM)
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "inputs"
    path.mkdir()
    return path


def policy(allow: str = "", **options: Any) -> NetPolicy:
    return NetPolicy(allow=parse_allow_hosts(allow), **options)


PAYLOAD = bytes(range(256)) * 40  # 10 KiB, every byte value


# Refusals that need no server --------------------------------------------------------------

REFUSED = [
    "https://127.0.0.1/",
    "https://127.8.9.10/",
    "https://10.0.0.1/",
    "https://172.16.0.1/",
    "https://192.168.1.1/",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/",
    "https://100.100.100.200/",
    "https://0.0.0.0/",
    "https://224.0.0.1/",
    "https://255.255.255.255/",
    "https://198.18.0.1/",
    "https://[::1]/",
    "https://[::]/",
    "https://[fe80::1]/",
    "https://[fc00::1]/",
    "https://[fd00:ec2::254]/",
    "https://[ff02::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "https://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
    "https://[::7f00:1]/",  # IPv4-compatible 127.0.0.1
    "https://2130706433/",  # 127.0.0.1 in decimal
    "https://0x7f000001/",
    "https://0x7f.0.0.1/",
    "https://127.1/",
    "https://017700000001/",  # octal
    "https://localhost/",
    "https://LOCALHOST./",
    "http://example.com/",  # http needs an allowlisted host
    "https://user:pass@example.com/",
    "https://user@example.com/",
    "ftp://example.com/file",
    "file:///etc/passwd",
    "gopher://example.com/",
    "data:text/plain,hi",
    "https:///path",
    "https://:443/",
    "//example.com/",
    "example.com/",
    "https://example.com:0/",
    "https://example.com:70000/",
    "https://[fe80::1%25eth0]/",
    "https://exa mple.com/",
    "https://-bad-.example/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_refused_before_any_connection(url: str, dest: Path, guard: ConnectGuard) -> None:
    with pytest.raises(BlockedUrl):
        fetch_to_file(url, dest, NetPolicy())
    assert guard.connects == []
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://10.0.0.1/",
        "https://169.254.169.254/",
        "https://[::1]/",
        "https://localhost/",
        "http://example.com/",
    ],
)
async def test_post_json_refuses_the_same_urls(url: str, guard: ConnectGuard) -> None:
    with pytest.raises(BlockedUrl):
        await post_json(url, b"{}", {}, NetPolicy(max_redirects=0))
    assert guard.connects == []


def test_name_resolving_to_a_private_address_is_refused_before_connecting(
    dns: FakeDns, dest: Path, guard: ConnectGuard
) -> None:
    dns.add("evil.example", ["10.0.0.5"])
    with pytest.raises(BlockedAddress, match="private"):
        fetch_to_file("https://evil.example/x.png", dest, NetPolicy())
    assert dns.lookups == ["evil.example"]
    assert guard.connects == []


def test_one_bad_address_among_good_ones_refuses_the_name(
    dns: FakeDns, guard: ConnectGuard
) -> None:
    dns.add("mixed.example", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::1"])
    with pytest.raises(BlockedAddress, match="loopback"):
        resolve("mixed.example", 443, NetPolicy())
    assert guard.connects == []


def test_public_names_resolve_without_connecting(dns: FakeDns) -> None:
    dns.add("cdn.example", ["93.184.215.14", "93.184.215.14", "2606:4700::1111"])
    assert [str(ip) for ip in resolve("cdn.example", 443, NetPolicy())] == [
        "93.184.215.14",
        "2606:4700::1111",
    ]


def test_numeric_hosts_are_caught_by_resolution_too() -> None:
    # check_url refuses these by syntax; resolve() alone must refuse them as addresses.
    for host in ("2130706433", "0x7f000001", "127.1"):
        with pytest.raises(BlockedAddress, match="loopback"):
            resolve(host, 443, NetPolicy())


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2606:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "link-local"),
        ("100.100.100.200", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("198.19.1.1", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("192.0.0.192", "IETF special-purpose"),
        ("0.0.0.0", "unspecified"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private (unique local)"),
        ("fd12:3456::1", "private (unique local)"),
        ("fd00:ec2::254", "cloud metadata"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("2001::1", "IETF special-purpose"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b:1::1", "NAT64 local-use"),
        ("2002:c0a8:101::1", "private"),
        ("::127.0.0.1", "reserved"),
    ],
)
def test_blocked_reason(address: str, reason: str | None) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


def test_check_url_normalises_the_host() -> None:
    target = check_url("https://Bücher.EXAMPLE:8443/a b?q=1#frag", NetPolicy())
    assert (target.host, target.port, target.allowlisted) == ("xn--bcher-kva.example", 8443, False)
    assert str(target.url) == "https://xn--bcher-kva.example:8443/a%20b?q=1"


# The allowlist ---------------------------------------------------------------------------------


def test_parse_allow_hosts() -> None:
    rules = parse_allow_hosts(
        " localhost, 127.0.0.1:8443 ,10.1.0.0/16,[::1]:9000, fd00::/8, MinIO.Internal., Bücher.de,"
    )
    assert rules == (
        AllowRule(host="localhost"),
        AllowRule(network=ipaddress.ip_network("127.0.0.1/32"), port=8443),
        AllowRule(network=ipaddress.ip_network("10.1.0.0/16")),
        AllowRule(network=ipaddress.ip_network("::1/128"), port=9000),
        AllowRule(network=ipaddress.ip_network("fd00::/8")),
        AllowRule(host="minio.internal"),
        AllowRule(host="xn--bcher-kva.de"),
    )
    assert parse_allow_hosts("") == parse_allow_hosts(None) == ()


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        NetPolicy(max_redirects=-1)
    with pytest.raises(ValueError):
        NetPolicy(max_bytes=-1)
    with pytest.raises(ValueError):
        NetPolicy(total_timeout_s=0)


@pytest.mark.parametrize(
    "entry",
    [
        *("10.1.2.3/16", "10.0.0.0/33", "host:abc", "host:0", "host:70000"),
        *("[::1", "[::1]x", "[h]:80", "a b", "*.example.com", "-bad.example", "host/path"),
        *("127.1", "2130706433"),
        "http://host",
    ],
)
def test_parse_allow_hosts_refuses_typos(entry: str) -> None:
    with pytest.raises(ValueError, match="allowlist"):
        parse_allow_hosts(f"ok.example,{entry}")


def test_allowlist_by_name_does_not_unlock_metadata(dns: FakeDns, guard: ConnectGuard) -> None:
    dns.add("minio.internal", ["169.254.169.254"])
    with pytest.raises(BlockedAddress, match="metadata"):
        resolve("minio.internal", 443, policy("minio.internal"))
    # Only a rule naming the address itself does.
    assert resolve("minio.internal", 443, policy("minio.internal,169.254.169.254"))
    assert guard.connects == []


def test_allowlisted_loopback_server(dest: Path, guard: ConnectGuard) -> None:
    with LoopbackServer({"/a.png": ok(PAYLOAD, "image/png")}) as server:
        path = fetch_to_file(server.url("/a.png"), dest, policy("127.0.0.1"))
        assert path.read_bytes() == PAYLOAD
        assert path.suffix == ".png" and path.parent == dest
        assert guard.connects == [("127.0.0.1", server.port)]

        with pytest.raises(BlockedUrl, match="https"):  # http, not allowlisted
            fetch_to_file(server.url("/a.png"), dest, NetPolicy())
        https = server.url("/a.png").replace("http://", "https://")
        with pytest.raises(BlockedAddress, match="loopback"):
            fetch_to_file(https, dest, NetPolicy())
        with pytest.raises(BlockedUrl):  # another port of the same host
            fetch_to_file(server.url("/a.png"), dest, policy(f"127.0.0.1:{server.port + 1}"))
        assert len(server.seen) == 1 and len(guard.connects) == 1
    assert [p.name for p in dest.iterdir()] == [path.name]


def test_allowlisted_name_with_port(dest: Path) -> None:
    # localhost answers ::1 first; nothing listens there, so the next checked address is used.
    with LoopbackServer({"/": ok(b"hello", "text/plain")}) as server:
        url = server.url("/", host="localhost")
        assert fetch_to_file(url, dest, policy(f"localhost:{server.port}")).read_bytes() == b"hello"
        assert server.seen[0].header("Host") == f"localhost:{server.port}"
        with pytest.raises(BlockedUrl):
            fetch_to_file(url, dest, policy(f"localhost:{server.port + 1}"))


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_allowlisted_ipv6_loopback(dest: Path, guard: ConnectGuard) -> None:
    with LoopbackServer({"/": ok(b"six")}, host="::1") as server:
        assert fetch_to_file(server.url("/"), dest, policy("[::1]")).read_bytes() == b"six"
        assert server.seen[0].header("Host") == f"[::1]:{server.port}"
        with pytest.raises(BlockedUrl):
            fetch_to_file(server.url("/"), dest, policy("127.0.0.1"))
        assert guard.connects == [("::1", server.port)]


# Pinning ---------------------------------------------------------------------------------------


def test_connection_goes_to_the_checked_address(
    dns: FakeDns, dest: Path, guard: ConnectGuard
) -> None:
    # A rebinding resolver: the checked answer first, another address to anyone asking again.
    # 127.0.0.2 is loopback (the guard allows it) but nothing listens there.
    dns.add("rebind.test", ["127.0.0.1"], ["127.0.0.2"])
    with LoopbackServer({"/f": ok(b"pinned")}) as server:
        url = server.url("/f", host="rebind.test")
        assert fetch_to_file(url, dest, policy("rebind.test")).read_bytes() == b"pinned"
        assert dns.lookups == ["rebind.test"]
        assert guard.connects == [("127.0.0.1", server.port)]
        assert server.seen[0].header("Host") == f"rebind.test:{server.port}"


def test_each_redirect_hop_is_resolved_once_and_pinned(
    dns: FakeDns, dest: Path, guard: ConnectGuard
) -> None:
    dns.add("first.test", ["127.0.0.1"], ["127.0.0.2"])
    dns.add("second.test", ["127.0.0.1"], ["127.0.0.2"])
    with LoopbackServer({"/f": ok(b"second")}) as server:
        routes = {"/r": redirect(server.url("/f", host="second.test"))}
        with LoopbackServer(routes) as first:
            url = first.url("/r", host="first.test")
            got = fetch_to_file(url, dest, policy("first.test,second.test"))
    assert got.read_bytes() == b"second"
    assert dns.lookups == ["first.test", "second.test"]
    assert guard.connects == [("127.0.0.1", first.port), ("127.0.0.1", server.port)]
    assert server.seen[0].header("Host") == f"second.test:{server.port}"


# TLS -------------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(dns: FakeDns) -> Iterator[LoopbackServer]:
    dns.add(TEST_CERT_HOST, ["127.0.0.1"])
    dns.add("other.local", ["127.0.0.1"])
    routes = {"/f": ok(b"secret", "text/plain"), "/down": redirect("http://test.local:1/f")}
    with LoopbackServer(routes, tls=server_tls_context()) as server:
        yield server


def test_https_verifies_the_original_name_and_sends_it(
    tls_server: LoopbackServer, ca_file: Path, dest: Path, guard: ConnectGuard
) -> None:
    url = tls_server.url("/f", host=TEST_CERT_HOST)
    got = fetch_to_file(url, dest, policy(TEST_CERT_HOST, ca_file=ca_file))
    assert got.read_bytes() == b"secret"
    assert tls_server.sni == [TEST_CERT_HOST]
    assert tls_server.seen[0].header("Host") == f"{TEST_CERT_HOST}:{tls_server.port}"
    assert guard.connects == [("127.0.0.1", tls_server.port)]


def test_https_refuses_a_certificate_for_another_name(
    tls_server: LoopbackServer, ca_file: Path, dest: Path
) -> None:
    url = tls_server.url("/f", host="other.local")
    with pytest.raises(FetchFailed, match="certificate"):
        fetch_to_file(url, dest, policy("other.local", ca_file=ca_file))
    assert tls_server.sni == ["other.local"]
    assert tls_server.seen == []


def test_https_refuses_an_unknown_ca(tls_server: LoopbackServer, dest: Path) -> None:
    url = tls_server.url("/f", host=TEST_CERT_HOST)
    with pytest.raises(FetchFailed, match="certificate"):
        fetch_to_file(url, dest, policy(TEST_CERT_HOST))
    assert tls_server.seen == []


def test_redirect_from_https_to_http_is_refused(
    tls_server: LoopbackServer, ca_file: Path, dest: Path, guard: ConnectGuard
) -> None:
    url = tls_server.url("/down", host=TEST_CERT_HOST)
    with pytest.raises(BlockedUrl, match="https:// to http://"):
        fetch_to_file(url, dest, policy(TEST_CERT_HOST, ca_file=ca_file))
    assert guard.connects == [("127.0.0.1", tls_server.port)]


# Redirects -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("http://169.254.169.254/latest/meta-data/", BlockedUrl),
        ("https://169.254.169.254/latest/meta-data/", BlockedAddress),
        ("https://10.0.0.1/", BlockedAddress),
        ("https://[::ffff:10.0.0.1]/", BlockedAddress),
        ("https://evil.example/", BlockedAddress),
        ("https://2130706433/", BlockedUrl),
        ("file:///etc/passwd", BlockedUrl),
        ("http://[::1", BlockedUrl),
    ],
)
def test_redirect_to_a_forbidden_target_is_refused(
    location: str, error: type[Exception], dns: FakeDns, dest: Path, guard: ConnectGuard
) -> None:
    dns.add("evil.example", ["10.0.0.5"])
    with LoopbackServer({"/r": redirect(location)}) as server:
        with pytest.raises(error):
            fetch_to_file(server.url("/r"), dest, policy("127.0.0.1"))
        assert guard.connects == [("127.0.0.1", server.port)]
    assert list(dest.iterdir()) == []


def test_allowed_redirects_are_followed(dest: Path) -> None:
    routes = {"/a": redirect("/b", 301), "/b": redirect("c?x=1", 307), "/c": ok(b"end")}
    with LoopbackServer(routes) as server:
        got = fetch_to_file(server.url("/a"), dest, policy("127.0.0.1", max_redirects=2))
        assert got.read_bytes() == b"end"
        assert [seen.path for seen in server.seen] == ["/a", "/b", "/c?x=1"]


def test_too_many_redirects(dest: Path) -> None:
    routes = {f"/{i}": redirect(f"/{i + 1}") for i in range(10)}
    with LoopbackServer(routes) as server:
        with pytest.raises(TooManyRedirects, match="more than 2"):
            fetch_to_file(server.url("/0"), dest, policy("127.0.0.1", max_redirects=2))
        assert len(server.seen) == 3


async def test_webhook_policy_never_follows_redirects(dest: Path) -> None:
    webhook = policy("127.0.0.1", max_redirects=0)
    with LoopbackServer({"/r": redirect("/elsewhere"), "/elsewhere": ok(b"")}) as server:
        with pytest.raises(TooManyRedirects, match="not followed"):
            fetch_to_file(server.url("/r"), dest, webhook)
        result = await post_json(server.url("/r"), b"{}", {}, webhook)
        assert result.status == 302
        assert result.headers["location"] == "/elsewhere"
        assert [seen.path for seen in server.seen] == ["/r", "/r"]


# Caps ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_length", [True, False])
def test_too_large_is_refused_and_leaves_no_file(content_length: bool, dest: Path) -> None:
    routes = {
        "/big": ok(PAYLOAD, content_length=content_length),
        "/fits": ok(PAYLOAD[:1000], content_length=content_length),
    }
    with LoopbackServer(routes) as server:
        capped = policy("127.0.0.1", max_bytes=1000)
        with pytest.raises(ResponseTooLarge, match="1000 bytes"):
            fetch_to_file(server.url("/big"), dest, capped)
        assert list(dest.iterdir()) == []
        assert fetch_to_file(server.url("/fits"), dest, capped).read_bytes() == PAYLOAD[:1000]


@pytest.mark.parametrize("route", [stall, drip], ids=["no answer", "one byte at a time"])
def test_a_slow_server_hits_the_total_deadline(route: Any, dest: Path) -> None:
    # Neither server ever finishes its answer (drip's every read succeeds at once): only the
    # total deadline can end the fetch, so the timeout itself is the proof, with no clock read.
    with LoopbackServer({"/slow": route}) as server, pytest.raises(FetchTimeout):
        fetch_to_file(server.url("/slow"), dest, policy("127.0.0.1", total_timeout_s=0.5))
    assert list(dest.iterdir()) == []


def slow_redirect(location: str, delay_s: float) -> Any:
    def route(h: Any) -> None:
        time.sleep(delay_s)
        redirect(location)(h)

    return route


def test_the_deadline_spans_redirect_hops(dest: Path) -> None:
    # Four hops of 0.3 s each: a per-hop timeout of 0.5 s would let every one through and reach
    # /end; one deadline over the whole fetch stops it on the way.
    routes = {
        "/a": slow_redirect("/b", 0.3),
        "/b": slow_redirect("/c", 0.3),
        "/c": slow_redirect("/d", 0.3),
        "/d": slow_redirect("/end", 0.3),
        "/end": ok(b"arrived"),
    }
    with LoopbackServer(routes) as server:
        with pytest.raises(FetchTimeout):
            fetch_to_file(server.url("/a"), dest, policy("127.0.0.1", total_timeout_s=0.5))
        assert "/end" not in [seen.path for seen in server.seen]


def test_error_statuses_and_encodings_are_refused(dest: Path) -> None:
    gzip = {"Content-Encoding": "gzip"}
    routes = {"/gz": lambda h: send(h, b"\x1f\x8b", headers=gzip)}
    with LoopbackServer(routes) as server:
        with pytest.raises(BadStatus, match="404") as info:
            fetch_to_file(server.url("/missing"), dest, policy("127.0.0.1"))
        assert info.value.status == 404
        with pytest.raises(FetchFailed, match="compressed"):
            fetch_to_file(server.url("/gz"), dest, policy("127.0.0.1"))
        assert server.seen[0].header("Accept-Encoding") == "identity"
    assert list(dest.iterdir()) == []


def test_nothing_listening_is_a_clean_error(dest: Path) -> None:
    with LoopbackServer({}) as server:
        port = server.port
    with pytest.raises(FetchFailed, match="connect"):
        fetch_to_file(f"http://127.0.0.1:{port}/", dest, policy("127.0.0.1"))


# post_json ----------------------------------------------------------------------------------


async def test_post_json_sends_body_and_headers_byte_exact() -> None:
    body = b'{"type":"generation.completed", "data":{"id":"gen_1","caf\\u00e9":[1, 2.50]}}\n'
    headers = {"X-MediaStudio-Signature": "t=1700000000,v1=ab12", "X-Id": "evt_1"}
    reply = b"r" * 100_000
    with LoopbackServer({"/hook": ok(reply, "text/plain")}) as server:
        result = await post_json(server.url("/hook?k=v"), body, headers, policy("127.0.0.1"))
        seen = server.seen[0]
    assert (seen.method, seen.path, seen.body) == ("POST", "/hook?k=v", body)
    assert seen.header("X-MediaStudio-Signature") == "t=1700000000,v1=ab12"
    assert seen.header("X-Id") == "evt_1"
    assert seen.header("Content-Type") == "application/json"
    assert seen.header("Content-Length") == str(len(body))
    assert seen.header("Host") == f"127.0.0.1:{server.port}"
    assert result.status == 200
    assert result.headers["content-type"] == "text/plain"
    assert result.body_excerpt == reply[:4096]


async def test_post_json_keeps_the_callers_content_type_but_not_its_host() -> None:
    headers = {"Content-Type": "application/cloudevents+json", "Host": "internal.example"}
    with LoopbackServer({"/": ok(b"ok")}) as server:
        await post_json(server.url("/"), b"{}", headers, policy("127.0.0.1"))
        seen = server.seen[0]
    assert seen.header("Content-Type") == "application/cloudevents+json"
    assert seen.header("Host") == f"127.0.0.1:{server.port}"


async def test_post_json_to_a_name_resolving_inside_is_refused(
    dns: FakeDns, guard: ConnectGuard
) -> None:
    dns.add("hooks.example", ["192.168.1.10"])
    with pytest.raises(BlockedAddress):
        await post_json("https://hooks.example/in", b"{}", {}, NetPolicy(max_redirects=0))
    assert guard.connects == []


async def test_post_json_times_out() -> None:
    # The server never answers: only the deadline ends the request.
    with LoopbackServer({"/": stall}) as server, pytest.raises(FetchTimeout):
        await post_json(server.url("/"), b"{}", {}, policy("127.0.0.1", total_timeout_s=0.5))


async def test_post_json_pins_too(dns: FakeDns, guard: ConnectGuard) -> None:
    dns.add("hook.test", ["127.0.0.1"], ["127.0.0.2"])
    with LoopbackServer({"/": ok(b"")}) as server:
        result = await post_json(server.url("/", host="hook.test"), b"{}", {}, policy("hook.test"))
    assert result.status == 200
    assert dns.lookups == ["hook.test"]
    assert guard.connects == [("127.0.0.1", server.port)]


async def test_post_json_over_https(tls_server: LoopbackServer, ca_file: Path) -> None:
    url = tls_server.url("/f", host=TEST_CERT_HOST)
    result = await post_json(url, b"{}", {}, policy(TEST_CERT_HOST, ca_file=ca_file))
    assert (result.status, result.body_excerpt) == (200, b"secret")
    assert tls_server.sni == [TEST_CERT_HOST]
    with pytest.raises(FetchFailed, match="certificate"):
        await post_json(url, b"{}", {}, policy(TEST_CERT_HOST))


# SafeFetcher (the engines' InputFetcher) --------------------------------------------------------


def test_safe_fetcher_decodes_data_uris(dest: Path) -> None:
    fetcher = SafeFetcher(dest, NetPolicy())
    path = fetcher.fetch("data:image/png;base64,aGVsbG8=")
    assert (path.read_bytes(), path.suffix, path.parent) == (b"hello", ".png", dest)
    with pytest.raises(InvalidInput, match="larger"):
        fetcher.fetch("data:text/plain,hello", max_bytes=3)


def test_safe_fetcher_fetches_and_maps_errors(dest: Path, guard: ConnectGuard) -> None:
    with LoopbackServer({"/f": ok(PAYLOAD, "audio/mpeg")}) as server:
        fetcher = SafeFetcher(dest, policy("127.0.0.1", max_bytes=len(PAYLOAD)))
        assert fetcher.fetch(server.url("/f")).read_bytes() == PAYLOAD
        with pytest.raises(InvalidInput, match="larger than 100 bytes") as info:
            fetcher.fetch(server.url("/f"), max_bytes=100)
        assert isinstance(info.value.__cause__, ResponseTooLarge)
    with pytest.raises(InvalidInput, match="https"):
        fetcher.fetch("http://example.com/x.png")
    assert len(guard.connects) == 2
