"""Every error code of the API contract, produced for real and checked in the envelope."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from mediastudio.kit.clock import utcnow
from tests.conftest import Api, auth, make_settings, open_api

IMAGE = {"prompt": "a lighthouse", "model": "fake/image"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return dict(error)


async def test_missing_key(api: Api) -> None:
    assert_error(await api.client.get("/api/v1/generations"), 401, "missing_api_key")


async def test_keys_outside_the_authorization_header_are_refused(api: Api) -> None:
    key = await api.key(await api.account())
    by_query = await api.client.get("/api/v1/generations", params={"api_key": key})
    by_header = await api.client.get("/api/v1/generations", headers={"x-api-key": key})
    for response in (by_query, by_header):
        error = assert_error(response, 401, "missing_api_key")
        assert "Bearer" in error["message"]


async def test_invalid_and_revoked_keys(api: Api) -> None:
    garbage = await api.client.get("/api/v1/generations", headers=auth("ms_live_nope"))
    assert_error(garbage, 401, "invalid_api_key")
    account = await api.account()
    key = await api.key(account)
    from mediastudio.keys import service as keys

    async with api.platform.db.write() as session:
        listed = await keys.list_keys(session, account)
        await keys.revoke(session, listed[0].id)
    revoked = await api.client.get("/api/v1/generations", headers=auth(key))
    assert_error(revoked, 401, "invalid_api_key")


async def test_expired_key(api: Api) -> None:
    account = await api.account()
    key = await api.key(account, expires_at=utcnow() + timedelta(seconds=1))
    async with api.platform.db.write() as session:
        from sqlalchemy import update

        from mediastudio.keys.models import ApiKey

        await session.execute(update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await api.client.get("/api/v1/generations", headers=auth(key))
    assert_error(response, 401, "expired_api_key")


async def test_insufficient_scope(api: Api) -> None:
    key = await api.key(await api.account(), scopes=["read"])
    response = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
    error = assert_error(response, 403, "insufficient_scope")
    assert error["details"]["required"] == "generate:image"
    generic = await api.client.post(
        "/api/v1/generations",
        json={"model": "fake/speech", "input": {"text": "hi"}},
        headers=auth(key),
    )
    assert_error(generic, 403, "insufficient_scope")


async def test_ip_not_allowed(api: Api) -> None:
    # The ASGI test client connects from 127.0.0.1.
    allowed = await api.key(await api.account("a@x.io"), ip_allowlist=["127.0.0.0/8"])
    refused = await api.key(await api.account("b@x.io"), ip_allowlist=["10.0.0.0/8", "::1"])
    assert (await api.client.get("/api/v1/account", headers=auth(allowed))).status_code == 200
    response = await api.client.get("/api/v1/account", headers=auth(refused))
    assert_error(response, 403, "ip_not_allowed")


async def test_model_not_allowed_on_plan(tmp_path: Any) -> None:
    settings = make_settings(tmp_path, plans={"tiny": {"allowed_models": ["sandbox/*"]}})
    async with open_api(settings) as api:
        key = await api.key(await api.account(plan="tiny"))
        response = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        assert_error(response, 403, "model_not_allowed")


async def test_the_default_model_is_one_the_plan_allows(tmp_path: Any) -> None:
    # builtin/espeak is the first speech model; a plan allowing only fake/* gets fake/speech.
    settings = make_settings(
        tmp_path,
        disabled_engines=[],
        engine_modules=["tests.fakes"],
        plans={"voice": {"allowed_models": ["fake/*"]}},
    )
    async with open_api(settings) as api:
        key = await api.key(await api.account(plan="voice"))
        body = {"text": "Hello.", "output_format": "wav"}
        response = await api.client.post("/api/v1/generate/speech", json=body, headers=auth(key))
        assert response.status_code == 202, response.text
        assert response.json()["model"] == "fake/speech"


async def test_insufficient_credits_is_402_with_amounts(api: Api) -> None:
    key = await api.key(await api.account(credits=7))
    body = {**IMAGE, "num_outputs": 2}  # 2 outputs x 5 credits
    response = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    error = assert_error(response, 402, "insufficient_credits")
    assert error["details"] == {"required": 10, "available": 7}
    listed = await api.client.get("/api/v1/generations", headers=auth(key))
    assert listed.json()["data"] == []


async def test_invalid_request_lists_each_failing_field(api: Api) -> None:
    key = await api.key(await api.account())
    body = {"prompt": "", "num_outputs": 9, "output_format": "bmp"}
    response = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    error = assert_error(response, 400, "invalid_request")
    fields = {item["field"] for item in error["details"]["fields"]}
    assert {"prompt", "num_outputs", "output_format"} <= fields


async def test_generic_create_validates_against_the_models_schema(api: Api) -> None:
    key = await api.key(await api.account())
    response = await api.client.post(
        "/api/v1/generations",
        json={"model": "fake/speech", "input": {"text": "hi", "speed": 7}},
        headers=auth(key),
    )
    error = assert_error(response, 400, "invalid_request")
    assert [f["field"] for f in error["details"]["fields"]] == ["input.speed"]


async def test_a_body_that_is_not_json_says_where_it_breaks(api: Api) -> None:
    key = await api.key(await api.account())
    broken = b'{"prompt": "x",, }'  # the second comma is at offset 15
    response = await api.client.post(
        "/api/v1/generate/image",
        content=broken,
        headers={**auth(key), "Content-Type": "application/json"},
    )
    error = assert_error(response, 400, "invalid_request")
    assert error["message"].startswith("Request body is not valid JSON at position 15")
    [field] = error["details"]["fields"]
    assert field["field"] == "body" and "position 15" in field["message"]


@pytest.mark.databases
async def test_a_nul_character_in_json_is_a_400_on_both_databases(api: Api) -> None:
    """PostgreSQL cannot store NUL in text or jsonb (it failed the request with a 500); SQLite
    could. Both now refuse it before anything is stored, and nothing was created or charged."""
    key = await api.key(await api.account(credits=100))
    for body in (
        {**IMAGE, "prompt": "a light\u0000house"},
        {"model": "fake/speech", "input": {"text": "hi\u0000"}},
        {**IMAGE, "metadata": {"k\u0000": "v"}},
    ):
        raw = json.dumps(body).encode()
        assert b"\\u0000" in raw  # what a client sends: the JSON escape
        path = "/api/v1/generations" if "input" in body else "/api/v1/generate/image"
        response = await api.client.post(
            path, content=raw, headers={**auth(key), "Content-Type": "application/json"}
        )
        error = assert_error(response, 400, "invalid_request")
        assert "NUL" in error["message"], error
    # An escaped backslash before "u0000" is ordinary text, stored on both.
    text = await api.client.post(
        "/api/v1/generate/image",
        json={**IMAGE, "prompt": "a path C:\\u0000"},
        headers=auth(key),
    )
    assert text.status_code == 202, text.text
    listed = (await api.client.get("/api/v1/generations", headers=auth(key))).json()["data"]
    assert [item["id"] for item in listed] == [text.json()["id"]]
    account = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    # Only the accepted job's credits left the balance, reserved or, where a worker in another
    # process has already run it (the distributed deployment), charged: the refused took none.
    assert account["credit_balance"] == 100 - text.json()["credits_reserved"]


async def test_unknown_filter_values_are_400_like_an_unknown_status(api: Api) -> None:
    key = await api.key(await api.account())
    for path, params, field in (
        ("/api/v1/generations", {"status": "done"}, "query.status"),
        ("/api/v1/generations", {"type": "foo"}, "query.type"),
        ("/api/v1/models", {"type": "foo"}, "query.type"),
    ):
        response = await api.client.get(path, params=params, headers=auth(key))
        error = assert_error(response, 400, "invalid_request")
        assert [f["field"] for f in error["details"]["fields"]] == [field], error
    unknown = await api.client.get("/api/v1/generations", params={"type": "foo"}, headers=auth(key))
    assert "image" in unknown.json()["error"]["details"]["fields"][0]["message"]  # the known ones
    known = await api.client.get("/api/v1/generations", params={"type": "image"}, headers=auth(key))
    assert known.status_code == 200 and known.json()["data"] == []
    models = await api.client.get("/api/v1/models", params={"type": "speech"}, headers=auth(key))
    assert {m["type"] for m in models.json()["data"]} == {"speech"}


async def test_not_found_route_and_resource(api: Api) -> None:
    assert_error(await api.client.get("/api/v1/nothing-here"), 404, "not_found")
    key = await api.key(await api.account())
    missing = await api.client.get("/api/v1/generations/gen_missing", headers=auth(key))
    assert_error(missing, 404, "not_found")


async def test_another_accounts_generation_is_404_not_403(api: Api) -> None:
    owner = await api.key(await api.account("owner@x.io"))
    other = await api.key(await api.account("other@x.io"))
    created = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(owner))
    generation_id = created.json()["id"]
    for method, path in (
        ("GET", f"/api/v1/generations/{generation_id}"),
        ("POST", f"/api/v1/generations/{generation_id}/cancel"),
        ("POST", f"/api/v1/generations/{generation_id}/retry"),
        ("DELETE", f"/api/v1/generations/{generation_id}"),
    ):
        response = await api.client.request(method, path, headers=auth(other))
        assert_error(response, 404, "not_found")
    listed = await api.client.get("/api/v1/generations", headers=auth(other))
    assert listed.json()["data"] == []


async def test_rate_limited_with_headers_and_retry_after(tmp_path: Any) -> None:
    settings = make_settings(
        tmp_path, plans={"tight": {"rate_limit": "3/minute", "generation_rate_limit": None}}
    )
    async with open_api(settings) as api:
        key = await api.key(await api.account(plan="tight"))
        for remaining in (2, 1, 0):
            ok = await api.client.get("/api/v1/account", headers=auth(key))
            assert ok.status_code == 200
            assert ok.headers["x-ratelimit-limit"] == "3"
            assert ok.headers["x-ratelimit-remaining"] == str(remaining)
            assert int(ok.headers["x-ratelimit-reset"]) > 0
        limited = await api.client.get("/api/v1/account", headers=auth(key))
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["x-ratelimit-remaining"] == "0"


async def test_generation_rate_limit_is_stricter(tmp_path: Any) -> None:
    settings = make_settings(
        tmp_path, plans={"p": {"rate_limit": "100/minute", "generation_rate_limit": "2/minute"}}
    )
    async with open_api(settings) as api:
        key = await api.key(await api.account(plan="p"))
        for _ in range(2):
            ok = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
            assert ok.status_code == 202
        limited = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        assert_error(limited, 429, "rate_limited")
        assert (await api.client.get("/api/v1/account", headers=auth(key))).status_code == 200


async def test_quota_exceeded(tmp_path: Any) -> None:
    settings = make_settings(
        tmp_path,
        plans={
            "q": {
                "rate_limit": None,
                "generation_rate_limit": None,
                "daily_quotas": {"image": 2},
                "max_concurrent_jobs": None,
            }
        },
    )
    async with open_api(settings) as api:
        key = await api.key(await api.account(plan="q"))
        for _ in range(2):
            ok = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
            assert ok.status_code == 202
        over = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        error = assert_error(over, 429, "quota_exceeded")
        assert error["details"] == {"type": "image", "quota": 2, "used": 2}
        speech = await api.client.post(
            "/api/v1/generate/speech",
            json={"text": "hi", "model": "fake/speech"},
            headers=auth(key),
        )
        assert speech.status_code == 202
        account = (await api.client.get("/api/v1/account", headers=auth(key))).json()
        assert account["usage"]["image"] == {"today": 2, "daily_quota": 2}


async def test_model_unavailable_names_what_to_configure(api: Api) -> None:
    key = await api.key(await api.account())
    body = {"prompt": "x", "model": "fake/needs-weights"}
    response = await api.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    error = assert_error(response, 503, "model_unavailable")
    assert "MEDIASTUDIO_FAKE_WEIGHTS" in error["message"]
    sandbox_model = await api.client.post(
        "/api/v1/generate/image", json={"prompt": "x", "model": "sandbox/image"}, headers=auth(key)
    )
    assert_error(sandbox_model, 503, "model_unavailable")


async def test_no_engine_for_a_type_is_model_unavailable(tmp_path: Any) -> None:
    no_engines = make_settings(
        tmp_path, engine_modules=[], disabled_engines=["builtin", "providers"]
    )
    async with open_api(no_engines) as api:
        key = await api.key(await api.account())
        response = await api.client.post(
            "/api/v1/generate/video", json={"prompt": "waves"}, headers=auth(key)
        )
        assert_error(response, 503, "model_unavailable")
        sandbox = await api.key(await api.account("s@x.io"), sandbox=True)
        ok = await api.client.post(
            "/api/v1/generate/video", json={"prompt": "waves"}, headers=auth(sandbox)
        )
        assert ok.status_code == 202
        assert ok.json()["model"] == "sandbox/video"


async def test_idempotency_conflicts(api: Api) -> None:
    key = await api.key(await api.account())
    headers = {**auth(key), "Idempotency-Key": "order-42"}
    first = await api.client.post("/api/v1/generate/image", json=IMAGE, headers=headers)
    assert first.status_code == 202
    changed = {**IMAGE, "prompt": "something else"}
    reused = await api.client.post("/api/v1/generate/image", json=changed, headers=headers)
    assert_error(reused, 422, "idempotency_key_reused")
    # A key whose first request is still in flight: claimed but not completed.
    from mediastudio.idempotency import service as idempotency
    from mediastudio.keys.auth import principal_for

    owner = await principal_for(api.platform, None, secret=key)
    fingerprint = idempotency.request_hash("POST", "/api/v1/generate/image", IMAGE)
    await idempotency.claim(api.platform.db, api.platform.settings, owner, "k2", fingerprint)
    in_use = await api.client.post(
        "/api/v1/generate/image", json=IMAGE, headers={**auth(key), "Idempotency-Key": "k2"}
    )
    assert_error(in_use, 409, "idempotency_key_in_use")


async def test_internal_error_leaks_nothing(api: Api, monkeypatch: Any) -> None:
    key = await api.key(await api.account())

    async def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals: /etc/passwd")

    monkeypatch.setattr(api.platform.generations, "list", explode)
    transport = httpx.ASGITransport(app=api.client._transport.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/api/v1/generations", headers=auth(key))
    error = assert_error(response, 500, "internal_error")
    assert "passwd" not in response.text and "secret" not in error["message"]


async def test_request_id_is_echoed_when_sane_and_minted_otherwise(api: Api) -> None:
    mine = await api.client.get("/healthz", headers={"X-Request-Id": "client-123"})
    assert mine.headers["x-request-id"] == "client-123"
    minted = await api.client.get("/healthz", headers={"X-Request-Id": "bad id\twith junk"})
    assert minted.headers["x-request-id"].startswith("req_")
