"""The WebSocket: Bearer or short-lived token, the same events as JSON, subscriptions, refusals."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mediastudio.keys import tokens
from tests.conftest import auth, make_settings
from tests.live_server import LiveApi, serve_live

QUICK = {"prompt": "a lighthouse", "model": "fake/image", "width": 256, "height": 256}
SLOW = {**QUICK, "prompt": "a lighthouse [slow:1]"}


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveApi]:
    async with serve_live(make_settings(tmp_path / "data", ws_token_ttl_s=60)) as api:
        yield api


async def create(live: LiveApi, key: str, body: dict[str, Any]) -> str:
    response = await live.client.post("/api/v1/generate/image", json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def receive(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await socket.recv(decode=True))
    return message


async def until(socket: ClientConnection, type_: str) -> list[dict[str, Any]]:
    """Messages up to and including the first of ``type_``."""
    messages = []
    while True:
        messages.append(await receive(socket))
        if messages[-1]["type"] == type_:
            return messages


def opened(live: LiveApi, query: str = "", **headers: str) -> Any:
    return connect(live.ws_url + query, additional_headers=headers, proxy=None, open_timeout=5)


async def test_a_bearer_key_connection_receives_progress_and_completion(live: LiveApi) -> None:
    key = await live.key(await live.account())
    async with opened(live, **auth(key)) as socket:
        ready = await receive(socket)
        assert ready["type"] == "ready"
        assert ready["data"] == {"resumed": False, "too_far_behind": False}
        job = await create(live, key, SLOW)
        messages = await until(socket, "generation.completed")
    assert {m["generation_id"] for m in messages} == {job}
    types = [m["type"] for m in messages]
    assert "generation.progress" in types and "generation.status" in types
    final = messages[-1]["data"]["generation"]
    assert final["status"] == "completed" and final["output_url"]


async def test_a_token_from_post_ws_token_opens_the_socket_until_it_expires(
    live: LiveApi,
) -> None:
    account = await live.account()
    key = await live.key(account)
    issued = await live.client.post("/api/v1/ws/token", headers=auth(key))
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["expires_in"] == 60 and body["token"].startswith("mstok_")
    async with opened(live, f"?token={body['token']}") as socket:
        assert (await receive(socket))["type"] == "ready"
        await socket.send(json.dumps({"type": "ping"}))
        assert (await receive(socket)) == {"type": "pong"}

    # Expired, forged, or a plain key in the query string: an error message, then 1008.
    key_id = tokens.verify(live.platform.settings.signing_key(), body["token"], time.time())
    expired = tokens.issue(live.platform.settings.signing_key(), key_id, int(time.time()) - 1)
    forged = body["token"][:-4] + ("AAAA" if not body["token"].endswith("AAAA") else "BBBB")
    for query, code in [
        (f"?token={expired}", "expired_api_key"),
        (f"?token={forged}", "invalid_api_key"),
        (f"?token={key}", "invalid_api_key"),
        ("", "missing_api_key"),
    ]:
        async with opened(live, query) as socket:
            message = await receive(socket)
            assert message["type"] == "error" and message["error"]["code"] == code, query
            assert message["error"]["request_id"].startswith("req_")
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_revoked_key_cannot_use_its_tokens_and_tokens_do_not_open_other_routes(
    live: LiveApi,
) -> None:
    account = await live.account()
    key = await live.key(account)
    token = (await live.client.post("/api/v1/ws/token", headers=auth(key))).json()["token"]
    # A token is not a key: the REST API refuses it.
    refused = await live.client.get("/api/v1/generations", headers=auth(token))
    assert refused.status_code == 401
    # It does open the SSE stream (browsers' EventSource cannot send headers either).
    async with live.client.stream("GET", f"/api/v1/events?token={token}") as response:
        assert response.status_code == 200
    from mediastudio.keys import service as keys

    async with live.platform.db.write() as session:
        for item in await keys.list_keys(session, account):
            await keys.revoke(session, item.id)
    async with opened(live, f"?token={token}") as socket:
        message = await receive(socket)
        assert message["error"]["code"] == "invalid_api_key"


async def test_subscribe_narrows_the_socket_to_one_generation(live: LiveApi) -> None:
    key = await live.key(await live.account())
    other = await live.key(await live.account("other@example.com"))
    foreign = await create(live, other, QUICK)
    async with opened(live, **auth(key)) as socket:
        await until(socket, "ready")
        job = await create(live, key, SLOW)
        noise = await create(live, key, QUICK)
        await socket.send(json.dumps({"type": "subscribe", "generation_id": job}))
        messages = await until(socket, "subscribed")
        state = next(m for m in messages if m["data"] and m["data"].get("snapshot"))
        assert state["generation_id"] == job and state["type"].startswith("generation.")
        messages = await until(socket, "generation.completed")
        assert {m["generation_id"] for m in messages} == {job}, "noise got through"
        assert noise not in {m["generation_id"] for m in messages}

        await socket.send(json.dumps({"type": "subscribe", "generation_id": foreign}))
        error = await until(socket, "error")
        assert error[-1]["error"]["code"] == "not_found"
        await socket.send("not json")
        assert (await until(socket, "error"))[-1]["error"]["code"] == "invalid_request"


async def test_connecting_for_one_finished_generation_gets_its_final_state(
    live: LiveApi,
) -> None:
    key = await live.key(await live.account())
    job = await create(live, key, QUICK)
    await live.wait(key, job)
    async with opened(live, f"?generation_id={job}", **auth(key)) as socket:
        first = await receive(socket)
        assert first["type"] == "generation.completed" and first["data"]["snapshot"] is True
        assert first["data"]["generation"]["output_url"]
        assert (await receive(socket))["type"] == "ready"
    async with opened(live, "?generation_id=gen_nope", **auth(key)) as socket:
        assert (await receive(socket))["error"]["code"] == "not_found"
