"""A job's URL inputs go through the SSRF-safe fetcher, wired in through settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediastudio.settings import load_settings
from tests.conftest import auth, make_settings, open_api
from tests.fetch_servers import LoopbackServer, ok

PAYLOAD = b"input bytes from an allowlisted host"


async def run_echo(settings_dir: Path, url: str, **overrides: str) -> dict[str, object]:
    async with open_api(make_settings(settings_dir, **overrides)) as api:
        account = await api.account(credits=10)
        key = await api.key(account)
        body = {"model": "fake/echo", "input": {"url": url}}
        job = (await api.client.post("/api/v1/generations", json=body, headers=auth(key))).json()
        done = await api.wait(key, job["id"])
        account_view = (await api.client.get("/api/v1/account", headers=auth(key))).json()
        fetched = b""
        if done["status"] == "completed":
            fetched = (await api.client.get(done["output_url"])).content
        return {"job": done, "balance": account_view["credit_balance"], "fetched": fetched}


async def test_an_allowlisted_loopback_input_is_fetched(tmp_path: Path) -> None:
    with LoopbackServer({"/in.bin": ok(PAYLOAD)}) as server:
        result = await run_echo(
            tmp_path, server.url("/in.bin"), net_allow_hosts=f"127.0.0.1:{server.port}"
        )
    assert result["job"]["status"] == "completed"  # type: ignore[index]
    assert result["fetched"] == PAYLOAD and result["balance"] == 9


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "https://10.0.0.1/x", "https://[::1]/x"],
)
async def test_private_inputs_fail_the_job_with_invalid_input_and_a_refund(
    tmp_path: Path, url: str
) -> None:
    result = await run_echo(tmp_path, url)
    job = result["job"]
    assert job["status"] == "failed"  # type: ignore[index]
    assert job["error"]["code"] == "invalid_input"  # type: ignore[index]
    assert result["balance"] == 10


async def test_without_the_allowlist_loopback_is_refused(tmp_path: Path) -> None:
    with LoopbackServer({"/in.bin": ok(PAYLOAD)}) as server:
        result = await run_echo(tmp_path, server.url("/in.bin"))
    assert result["job"]["error"]["code"] == "invalid_input"  # type: ignore[index]
    assert server.seen == []  # refused before connecting


def test_a_malformed_allowlist_stops_start_up() -> None:
    with pytest.raises(ValueError, match="net_allow_hosts"):
        load_settings(net_allow_hosts="10.1.2.3/16")
