"""The Settings page: the account's name, and the default webhook URL that seed 001's
``PATCH /api/settings`` sets (the same service, the same SSRF checks); bad input and a missing
CSRF token change nothing."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import auth, make_settings, open_api
from tests.dashboard.helpers import make_user, signed_in

SETTINGS = "/dashboard/settings"
XSS = '<script>alert("n")</script>'


async def test_the_settings_page_sets_the_name_and_the_default_webhook(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", net_allow_hosts="127.0.0.1")
    async with open_api(settings) as api:
        account = await make_user(api)
        key = await api.key(account)
        csrf = await signed_in(api.client)

        async def state() -> tuple[str, str | None]:
            name = (await api.client.get("/api/v1/account", headers=auth(key))).json()["name"]
            seed = (await api.client.get("/api/v1/settings", headers=auth(key))).json()
            return name, seed["webhook_url"]

        url = "http://127.0.0.1:9/hook"
        saved = await api.client.post(
            SETTINGS, data={"csrf_token": csrf, "name": f" Team {XSS} ", "webhook_url": url}
        )
        assert saved.status_code == 200, saved.text
        assert 'id="webhook-secret">whsec_' in saved.text  # shown once, as seed 001 does
        assert await state() == (f"Team {XSS}", url)
        for page in (saved, await api.client.get(SETTINGS), await api.client.get("/dashboard")):
            assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
        assert "whsec_" not in (await api.client.get(SETTINGS)).text

        for form, status in (
            ({"name": "Other", "webhook_url": "https://169.254.169.254/latest/"}, 400),
            ({"name": "x" * 201, "webhook_url": "http://127.0.0.1:10/other"}, 400),
            ({"name": "Other", "webhook_url": "ftp://127.0.0.1/x"}, 400),
        ):
            refused = await api.client.post(SETTINGS, data={"csrf_token": csrf, **form})
            assert refused.status_code == status and 'class="error"' in refused.text, form
        no_csrf = await api.client.post(SETTINGS, data={"name": "Other", "webhook_url": ""})
        assert no_csrf.status_code == 403
        assert await state() == (f"Team {XSS}", url)

        cleared = await api.client.post(
            SETTINGS, data={"csrf_token": csrf, "name": "", "webhook_url": ""}
        )
        assert cleared.status_code == 200 and await state() == ("", None)
