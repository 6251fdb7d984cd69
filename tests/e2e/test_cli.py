"""The operator's CLI and a running server share one data directory."""

from __future__ import annotations

import pytest

from tests.e2e.server import ServerProcess, assert_books_balanced, auth, client, wait_for

pytestmark = pytest.mark.e2e

EMAIL = "late@example.com"


async def test_keys_made_and_revoked_with_the_cli_take_effect_on_the_running_server(
    server: ServerProcess,
) -> None:
    server.start()  # an empty data directory: no account yet
    async with client(server) as http:
        unknown = await http.get("/api/v1/account", headers=auth("ms_live_" + "x" * 40))
        assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_api_key"

        server.create_account(EMAIL, credits=20)
        key_id, key = server.create_key(EMAIL, name="made-while-serving")
        account = await http.get("/api/v1/account", headers=auth(key))
        assert account.status_code == 200, account.text
        assert (account.json()["email"], account.json()["credit_balance"]) == (EMAIL, 20)

        # The CLI writes to the database while the server's worker writes too (a job running).
        slow = {"prompt": "a lighthouse [slow:2]", "model": "fake/image"}
        created = await http.post("/api/v1/generate/image", json=slow, headers=auth(key))
        assert created.status_code == 202, created.text
        await wait_for(http, key, created.json()["id"], until=lambda b: b["status"] != "queued")
        granted = server.cli("accounts", "grant", EMAIL, "10")
        assert "balance 25" in granted.stdout  # 20 granted + 10 now - 5 reserved
        done = await wait_for(http, key, created.json()["id"])
        assert done["status"] == "completed", done
        assert await assert_books_balanced(http, key) == (25, 0)

        revoked = server.cli("keys", "revoke", key_id)
        assert f"revoked {key_id}" in revoked.stdout
        refused = await http.get("/api/v1/account", headers=auth(key))
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_api_key"
        refused = await http.post("/api/v1/generate/image", json=slow, headers=auth(key))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
