"""A server killed with SIGKILL while it owes a webhook still delivers it after restart."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.server import ServerProcess, auth, client, wait_for
from tests.fetch_servers import LoopbackServer
from tests.webhooks.receivers import Script

pytestmark = pytest.mark.e2e

ENV = {
    "MEDIASTUDIO_NET_ALLOW_HOSTS": "127.0.0.1",
    "MEDIASTUDIO_WEBHOOK_POLL_INTERVAL_S": "0.1",
    # A lease far longer than the test: only the start-up release can bring a claim back.
    "MEDIASTUDIO_WEBHOOK_TIMEOUT_S": "60",
}
IMAGE = {"prompt": "a lighthouse, Zoë 🌅", "model": "fake/image"}


async def until(check: Any, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def register_and_generate(server: ServerProcess, key: str, url: str) -> tuple[str, str]:
    async with client(server) as http:
        hook = await http.post("/api/v1/webhooks", json={"url": url}, headers=auth(key))
        assert hook.status_code == 201, hook.text
        created = await http.post("/api/v1/generate/image", json=IMAGE, headers=auth(key))
        assert created.status_code == 202, created.text
        job = await wait_for(http, key, created.json()["id"])
        assert job["status"] == "completed", job
    return hook.json()["secret"], job["id"]


async def delivered(server: ServerProcess, key: str) -> list[dict[str, Any]]:
    async with client(server) as http:
        hooks = (await http.get("/api/v1/webhooks", headers=auth(key))).json()["data"]
        rows = await http.get(f"/api/v1/webhooks/{hooks[0]['id']}/deliveries", headers=auth(key))
    data: list[dict[str, Any]] = rows.json()["data"]
    return data


async def test_killed_mid_delivery_redelivers_the_same_event_after_restart(
    server: ServerProcess,
) -> None:
    script = Script(answers=["stall", 200])
    with LoopbackServer({"/hook": script.route()}) as receiver:
        key = server.start_with_account(ENV, credits=100)
        secret, job_id = await register_and_generate(server, key, receiver.url("/hook"))
        await until(lambda: script.calls == 1)  # the server is waiting on our answer
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        script.release.set()

        server.start(ENV)
        await until(lambda: len(script.ok_ids()) == 1)
        rows = await delivered(server, key)

    first, second = receiver.seen
    assert first.header("webhook-id") == second.header("webhook-id") == script.ok_ids()[0]
    assert first.body == second.body  # the bytes serialised once, before the kill
    event = Webhook(secret).verify(second.body, dict(second.headers))
    assert event["data"]["id"] == job_id and event["event"] == "generation.completed"
    assert [(row["status"], row["attempts"]) for row in rows] == [("succeeded", 1)]


async def test_killed_with_a_retry_pending_delivers_after_restart(server: ServerProcess) -> None:
    script = Script(answers=[503, 200])
    env = {**ENV, "MEDIASTUDIO_WEBHOOK_RETRY_SCHEDULE": "2"}
    with LoopbackServer({"/hook": script.route()}) as receiver:
        key = server.start_with_account(env, credits=100)
        secret, job_id = await register_and_generate(server, key, receiver.url("/hook"))
        deadline = time.monotonic() + 30
        while not (rows := await delivered(server, key)) or rows[0]["attempts"] != 1:
            assert time.monotonic() < deadline, rows  # the failed attempt is recorded
            await asyncio.sleep(0.05)
        assert rows[0]["status"] == "pending" and rows[0]["next_attempt_at"]
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        assert script.calls == 1

        server.start(env)
        await until(lambda: len(script.ok_ids()) == 1)
        rows = await delivered(server, key)

    assert len(receiver.seen) == 2
    event = Webhook(secret).verify(receiver.seen[1].body, dict(receiver.seen[1].headers))
    assert event["data"]["id"] == job_id
    assert [row["status"] for row in rows] == ["succeeded"]
    assert [a["status_code"] for a in rows[0]["attempt_log"]] == [503, 200]
