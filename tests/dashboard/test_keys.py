"""Key management (seed 000's /api/v1/keys) and the Keys page: a web session's routes, never an
API key's; one account never sees or revokes another's keys; names are escaped."""

from __future__ import annotations

import httpx

from tests.conftest import Api, auth
from tests.dashboard.helpers import csrf_of, make_user, signed_in


async def test_a_session_creates_lists_and_revokes_keys_that_then_stop_working(api: Api) -> None:
    await make_user(api)
    csrf = await signed_in(api.client)
    created = await api.client.post(
        "/api/v1/keys", json={"name": "server"}, headers={"X-CSRF-Token": csrf}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["key"]
    assert secret.startswith("ms_live_") and body["scopes"] == ["read"]  # seed 000's default
    assert (body["prefix"], body["last_four"]) == (secret[:12], secret[-4:])
    assert (await api.client.get("/api/v1/account", headers=auth(secret))).status_code == 200

    listed = (await api.client.get("/api/v1/keys")).json()["data"]
    assert [(k["id"], k["status"]) for k in listed] == [(body["id"], "active")]
    assert "key" not in listed[0] and secret not in str(listed)
    assert listed[0]["last_used_at"] is not None

    revoked = await api.client.delete(f"/api/v1/keys/{body['id']}", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    refused = await api.client.get("/api/v1/account", headers=auth(secret))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"


async def test_test_keys_scopes_allowlist_and_bad_input(api: Api) -> None:
    await make_user(api)
    csrf = {"X-CSRF-Token": await signed_in(api.client)}
    body = {
        "name": "ci",
        "sandbox": True,
        "scopes": ["read", "generate:image"],
        "ip_allowlist": ["10.0.0.0/8"],
        "expires_at": "2099-01-01T00:00:00Z",
    }
    created = (await api.client.post("/api/v1/keys", json=body, headers=csrf)).json()
    assert created["key"].startswith("ms_test_")
    assert (created["scopes"], created["ip_allowlist"]) == (body["scopes"], ["10.0.0.0/8"])
    for bad in (
        {"name": "x", "scopes": ["admin"]},
        {"name": "x", "ip_allowlist": ["not-an-ip"]},
        {"name": "x", "expires_at": "2000-01-01T00:00:00Z"},
        {"name": ""},
    ):
        refused = await api.client.post("/api/v1/keys", json=bad, headers=csrf)
        assert refused.status_code == 400, (bad, refused.text)
    assert len((await api.client.get("/api/v1/keys")).json()["data"]) == 1


async def test_key_routes_refuse_api_keys(api: Api) -> None:
    account = await make_user(api)
    key = await api.key(account)
    for method, path in (
        ("GET", "/api/v1/keys"),
        ("POST", "/api/v1/keys"),
        ("DELETE", "/api/v1/keys/key_whatever"),
    ):
        response = await api.client.request(
            method, path, headers=auth(key), json={"name": "x"} if method == "POST" else None
        )
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "session_required"
    # Not even beside a valid session: a request that carries a key is an API client's.
    csrf = await signed_in(api.client)
    both = await api.client.post(
        "/api/v1/keys", json={"name": "x"}, headers={**auth(key), "X-CSRF-Token": csrf}
    )
    assert both.status_code == 401
    names = [key["name"] for key in (await api.client.get("/api/v1/keys")).json()["data"]]
    assert names == ["test"]  # the one made beforehand, nothing more


async def test_another_accounts_key_is_not_found(api: Api) -> None:
    other = await api.account("b@example.com")
    theirs = await api.key(other)
    async with api.platform.db.read() as session:
        from mediastudio.keys import service as keys

        their_id = (await keys.list_keys(session, other))[0].id
    await make_user(api)
    csrf = await signed_in(api.client)
    assert (await api.client.get("/api/v1/keys")).json()["data"] == []
    api_delete = await api.client.delete(f"/api/v1/keys/{their_id}", headers={"X-CSRF-Token": csrf})
    assert api_delete.status_code == 404 and api_delete.json()["error"]["code"] == "not_found"
    page = await api.client.post(f"/dashboard/keys/{their_id}/revoke", data={"csrf_token": csrf})
    assert page.status_code == 404
    assert (await api.client.get("/api/v1/account", headers=auth(theirs))).status_code == 200
    assert their_id not in (await api.client.get("/dashboard/keys")).text


async def test_the_keys_page_creates_shows_the_secret_once_and_revokes(api: Api) -> None:
    await make_user(api)
    await signed_in(api.client)
    page = await api.client.get("/dashboard/keys")
    csrf = csrf_of(page.text)
    form = {"csrf_token": csrf, "name": "web", "mode": "test", "scopes": ["read"]}
    created = await api.client.post("/dashboard/keys", data=form)
    assert created.status_code == 201, created.text
    secret = created.text.split('id="new-secret">')[1].split("<")[0]
    assert secret.startswith("ms_test_")
    assert (await api.client.get("/api/v1/account", headers=auth(secret))).status_code == 200
    again = await api.client.get("/dashboard/keys")
    assert secret not in again.text and secret[-4:] in again.text  # shown once
    key_id = (await api.client.get("/api/v1/keys")).json()["data"][0]["id"]
    # htmx's request: the row comes back, revoked, to be swapped in place.
    row = await api.client.post(
        f"/dashboard/keys/{key_id}/revoke", headers={"HX-Request": "true", "X-CSRF-Token": csrf}
    )
    assert row.status_code == 200 and row.text.lstrip().startswith("<tr") and "revoked" in row.text
    assert (await api.client.get("/api/v1/account", headers=auth(secret))).status_code == 401
    bad = await api.client.post("/dashboard/keys", data={**form, "ip_allowlist": "nope"})
    assert bad.status_code == 400 and "Invalid IP address" in bad.text


XSS = '<script>alert("k")</script><img src=x onerror=alert(1)>'


async def test_a_key_name_is_escaped_everywhere_it_is_shown(api: Api) -> None:
    await make_user(api)
    csrf = await signed_in(api.client)
    await api.client.post("/api/v1/keys", json={"name": XSS}, headers={"X-CSRF-Token": csrf})
    created = await api.client.post("/dashboard/keys", data={"csrf_token": csrf, "name": XSS})
    key_id = (await api.client.get("/api/v1/keys")).json()["data"][0]["id"]
    row = await api.client.post(
        f"/dashboard/keys/{key_id}/revoke", headers={"HX-Request": "true", "X-CSRF-Token": csrf}
    )
    for response in (await api.client.get("/dashboard/keys"), created, row):
        assert "<script>alert" not in response.text and "<img src=x" not in response.text
        assert "&lt;script&gt;alert(&#34;k&#34;)&lt;/script&gt;" in response.text


async def test_home_shows_the_balance_and_recent_generations(api: Api) -> None:
    account = await make_user(api, credits=250)
    key = await api.key(account)
    job = await api.client.post(
        "/api/v1/generate/image",
        json={"prompt": "<b>a lighthouse</b>", "model": "fake/image"},
        headers=auth(key),
    )
    assert job.status_code == 202, job.text
    await signed_in(api.client)
    home = (await api.client.get("/dashboard")).text
    balance = (await api.client.get("/api/v1/account", headers=auth(key))).json()["credit_balance"]
    assert f'id="balance">{balance}<' in home
    assert job.json()["id"] in home
    assert "&lt;b&gt;a lighthouse&lt;/b&gt;" in home and "<b>a lighthouse" not in home


async def test_pages_need_a_session(api: Api) -> None:
    for path in ("/dashboard", "/dashboard/keys", "/dashboard/password"):
        response = await api.client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    assert isinstance(api.client, httpx.AsyncClient)
