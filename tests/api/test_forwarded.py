"""``X-Forwarded-For`` is trusted only from the proxies the operator names: by default the
client address is the connection's, so no local process can pose as an allowlisted address.

Served by uvicorn with the proxy options ``mediastudio serve`` gives it, over a real socket.
"""

from __future__ import annotations

from pathlib import Path

from mediastudio.cli.serve import proxy_options
from tests.conftest import auth, make_settings
from tests.live_server import serve_live

OFFICE = "10.1.2.3"


async def test_by_default_forwarded_for_does_not_change_the_client_address(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data")
    assert proxy_options(settings)["proxy_headers"] is False
    async with serve_live(settings, **proxy_options(settings)) as api:
        account = await api.account()
        office_key = await api.key(account, ip_allowlist=[f"{OFFICE}/32"])
        loopback_key = await api.key(account, ip_allowlist=["127.0.0.1/32"])
        posing = {"X-Forwarded-For": OFFICE}

        spoofed = await api.client.get("/api/v1/account", headers={**auth(office_key), **posing})
        assert spoofed.status_code == 403, spoofed.text
        assert spoofed.json()["error"]["code"] == "ip_not_allowed"
        # The connection's own address still counts, whatever the header claims.
        direct = await api.client.get("/api/v1/account", headers={**auth(loopback_key), **posing})
        assert direct.status_code == 200, direct.text


async def test_a_configured_proxy_s_forwarded_for_is_the_client_address(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", forwarded_allow_ips="127.0.0.1")
    async with serve_live(settings, **proxy_options(settings)) as api:
        office_key = await api.key(await api.account(), ip_allowlist=[f"{OFFICE}/32"])
        proxied = await api.client.get(
            "/api/v1/account", headers={**auth(office_key), "X-Forwarded-For": OFFICE}
        )
        assert proxied.status_code == 200, proxied.text
        unproxied = await api.client.get("/api/v1/account", headers=auth(office_key))
        assert unproxied.status_code == 403
