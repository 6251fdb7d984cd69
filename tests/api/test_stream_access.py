"""Open event streams end once their key may no longer read: revoked (here or by another
process), expired, or rescoped. SSE sends an ``error`` event with the envelope and ends; the
WebSocket sends the envelope and closes with 1008."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from mediastudio.keys import service as keys
from mediastudio.keys.models import ApiKey
from mediastudio.kit.clock import utcnow
from tests.conftest import auth, make_settings
from tests.deployment import DISTRIBUTED, settings_env
from tests.live_server import LiveApi, Sse, read_sse, serve_live

SLOW = {"prompt": "a lighthouse [slow:30]", "model": "fake/image", "width": 256, "height": 256}


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveApi]:
    settings = make_settings(tmp_path / "data", events_access_recheck_s=0.2, events_heartbeat_s=0.5)
    async with serve_live(settings) as api:
        yield api


async def key_and_id(live: LiveApi, **options: Any) -> tuple[str, str]:
    account = await live.account()
    secret = await live.key(account, **options)
    async with live.platform.db.read() as session:
        key = await keys.authenticate(session, secret, None, utcnow())
    return secret, key.id


async def revoke(live: LiveApi, key_id: str) -> None:
    async with live.platform.db.write() as session:
        await keys.revoke(session, key_id)


async def events_until_the_end(response: Any, *, after: str) -> list[Sse]:
    """Read events; once one of type ``after`` arrived, keep reading until the stream ends."""
    events: list[Sse] = []
    async with asyncio.timeout(15):
        async for item in read_sse(response):
            if item.event != ":":
                events.append(item)
    assert any(e.event == after for e in events), [e.event for e in events]
    return events


async def test_revoking_a_key_ends_its_account_stream_with_the_error(live: LiveApi) -> None:
    secret, key_id = await key_and_id(live)
    async with live.client.stream("GET", "/api/v1/events", headers=auth(secret)) as response:
        assert response.status_code == 200
        reader = read_sse(response)
        first = await anext(reader)
        while first.event != "ready":
            first = await anext(reader)
        await revoke(live, key_id)
        rest = [item async for item in reader if item.event != ":"]
    assert rest[-1].event == "error"
    assert rest[-1].data["error"]["code"] == "invalid_api_key"
    assert "revoked" in rest[-1].data["error"]["message"]


async def test_a_stream_opened_with_a_token_ends_when_its_key_is_revoked(
    live: LiveApi,
) -> None:
    secret, key_id = await key_and_id(live)
    token = (await live.client.post("/api/v1/ws/token", headers=auth(secret))).json()["token"]
    created = await live.client.post("/api/v1/generate/image", json=SLOW, headers=auth(secret))
    job = created.json()["id"]
    path = f"/api/v1/generations/{job}/events?token={token}"
    async with live.client.stream("GET", path) as response:
        assert response.status_code == 200
        await revoke(live, key_id)
        events = await events_until_the_end(response, after="error")
    assert events[-1].event == "error"
    # The job is still running: the stream ended because of the key, not the job.
    assert not any(e.event in {"completed", "failed", "cancelled"} for e in events)


async def test_a_key_revoked_by_another_process_ends_the_stream(live: LiveApi) -> None:
    """`mediastudio keys revoke` in its own process: the database is the truth."""
    secret, key_id = await key_and_id(live)
    data_dir = str(live.platform.settings.data_dir)
    async with live.client.stream("GET", "/api/v1/events", headers=auth(secret)) as response:
        assert response.status_code == 200
        revoked = await asyncio.to_thread(
            subprocess.run,
            [str(Path(sys.executable).parent / "mediastudio"), "keys", "revoke", key_id],
            # Distributed (tests/deployment.py): the same database and services as the API.
            env={
                "MEDIASTUDIO_DATA_DIR": data_dir,
                "PATH": "/usr/bin:/bin",
                **(settings_env(live.platform.settings) if DISTRIBUTED else {}),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert revoked.returncode == 0, revoked.stderr
        events = await events_until_the_end(response, after="error")
    assert events[-1].data["error"]["code"] == "invalid_api_key"


async def test_an_expired_key_ends_its_stream(live: LiveApi) -> None:
    # The key expires once the stream is open (moved into the past, not waited for: a key
    # that expires a second after it is made may be gone before a busy machine opens it).
    secret, key_id = await key_and_id(live, expires_at=utcnow() + timedelta(hours=1))
    async with live.client.stream("GET", "/api/v1/events", headers=auth(secret)) as response:
        assert response.status_code == 200
        async with live.platform.db.write() as session:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        events = await events_until_the_end(response, after="error")
    assert events[-1].data["error"]["code"] == "expired_api_key"


async def test_a_key_that_loses_read_ends_its_stream(live: LiveApi) -> None:
    secret, key_id = await key_and_id(live)
    async with live.client.stream("GET", "/api/v1/events", headers=auth(secret)) as response:
        assert response.status_code == 200
        async with live.platform.db.write() as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == key_id).values(scopes=["generate:image"])
            )
        events = await events_until_the_end(response, after="error")
    assert events[-1].data["error"]["code"] == "insufficient_scope"


async def test_revoking_a_key_closes_its_websocket_with_1008_after_the_envelope(
    live: LiveApi,
) -> None:
    secret, key_id = await key_and_id(live)
    async with connect(
        live.ws_url, additional_headers=auth(secret), proxy=None, open_timeout=5
    ) as socket:
        ready = json.loads(await socket.recv(decode=True))
        assert ready["type"] == "ready"
        await revoke(live, key_id)
        messages = []
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(15):
                while True:
                    messages.append(json.loads(await socket.recv(decode=True)))
    assert messages[-1]["type"] == "error"
    assert messages[-1]["error"]["code"] == "invalid_api_key"
    assert messages[-1]["error"]["request_id"].startswith("req_")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_valid_key_keeps_its_stream(live: LiveApi) -> None:
    """The re-check is not a disconnect timer: a key that stays valid keeps streaming."""
    secret, _ = await key_and_id(live)
    async with live.client.stream("GET", "/api/v1/events", headers=auth(secret)) as response:
        seen: list[str] = []
        async with asyncio.timeout(15):
            async for item in read_sse(response):
                seen.append(item.event)
                if seen.count(":") >= 3:  # three heartbeats: six re-checks passed meanwhile
                    break
    assert "error" not in seen
