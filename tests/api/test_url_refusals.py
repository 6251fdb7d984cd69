"""A webhook or input URL refused for being http or private names the setting that allows it,
and doing what the message says makes the same request pass."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Api, auth, make_settings, open_api

SETTING = "MEDIASTUDIO_NET_ALLOW_HOSTS"


async def register(api: Api, key: str, url: str) -> tuple[int, str]:
    response = await api.client.post("/api/v1/webhooks", json={"url": url}, headers=auth(key))
    body = response.json()
    return response.status_code, body["error"]["message"] if "error" in body else ""


async def test_refusals_name_the_allowlist_setting_and_following_it_works(tmp_path: Path) -> None:
    async with open_api(make_settings(tmp_path / "refusing")) as api:
        key = await api.key(await api.account())
        status, message = await register(api, key, "http://127.0.0.1:9000/hooks")
        assert status == 400
        assert f"add 127.0.0.1:9000 to {SETTING}" in message
        status, message = await register(api, key, "https://10.0.0.5/hooks")
        assert status == 400 and "private" in message
        assert f"add 10.0.0.5:443 to {SETTING}" in message
        # Cloud metadata is never worth allowing: no hint there.
        status, message = await register(api, key, "https://169.254.169.254/latest/")
        assert status == 400 and SETTING not in message

        body = {"model": "fake/echo", "input": {"url": "http://127.0.0.1:9/input.png"}}
        created = await api.client.post("/api/v1/generations", json=body, headers=auth(key))
        job = await api.wait(key, created.json()["id"])
        assert job["status"] == "failed" and job["error"]["code"] == "invalid_input"
        assert f"add 127.0.0.1:9 to {SETTING}" in job["error"]["message"]

    allowing = make_settings(tmp_path / "allowing", net_allow_hosts="127.0.0.1:9000,10.0.0.5:443")
    async with open_api(allowing) as api:
        key = await api.key(await api.account())
        assert (await register(api, key, "http://127.0.0.1:9000/hooks"))[0] == 201
        assert (await register(api, key, "https://10.0.0.5/hooks"))[0] == 201
