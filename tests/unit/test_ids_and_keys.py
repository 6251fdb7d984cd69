from __future__ import annotations

import pytest

from mediastudio.keys.service import (
    ALL_SCOPES,
    hash_secret,
    ip_allowed,
    looks_like_key,
    parse_networks,
    parse_scopes,
)
from mediastudio.kit.errors import InvalidRequest
from mediastudio.kit.ids import has_prefix, new_id


def test_ids_are_prefixed_and_sort_by_time() -> None:
    earlier = new_id("gen", now_ms=1_700_000_000_000)
    later = new_id("gen", now_ms=1_700_000_000_001)
    assert earlier < later
    assert has_prefix(earlier, "gen") and not has_prefix(earlier, "key")
    assert len({new_id("gen", now_ms=1) for _ in range(1000)}) == 1000


def test_key_format_and_hash() -> None:
    assert looks_like_key("ms_live_" + "a" * 40)
    assert looks_like_key("ms_test_" + "Z" * 40)
    assert not looks_like_key("sk_live_" + "a" * 40)
    assert not looks_like_key("ms_live_short")
    assert len(hash_secret("x")) == 64


@pytest.mark.parametrize(
    ("client", "allowlist", "allowed"),
    [
        ("203.0.113.7", ["203.0.113.0/24"], True),
        ("203.0.113.7", ["203.0.113.8"], False),
        ("::ffff:203.0.113.7", ["203.0.113.7/32"], True),  # IPv4-mapped IPv6
        ("2001:db8::1", ["2001:db8::/32"], True),
        ("not-an-ip", ["0.0.0.0/0"], False),
        (None, ["0.0.0.0/0"], False),
    ],
)
def test_ip_allowlist(client: str | None, allowlist: list[str], allowed: bool) -> None:
    assert ip_allowed(client, parse_networks(allowlist)) is allowed


def test_bad_allowlist_entries_and_scopes_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        parse_networks(["10.0.0.0/33"])
    with pytest.raises(InvalidRequest):
        parse_scopes(["read", "admin"])
    assert parse_scopes(None) == [scope for scope in ALL_SCOPES if scope != "keys"]
    assert parse_scopes(["webhooks", "read"]) == ["read", "webhooks"]
