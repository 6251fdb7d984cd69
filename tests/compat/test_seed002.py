"""Seed 002 ("AgentName") clients against MediaStudio: the requests of its document sent as they
are, the answers held to its shapes (``{jobId, status}``, ``{reply, timestamp}``, errors as
``{error, code}``), on the same services as /api/v1 (credits, quotas, scopes, idempotency)."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image

from tests.conftest import Api, auth

# The seed document's examples, verbatim.
IMAGE_EXAMPLE = {"prompt": "A futuristic city at night", "type": "image", "aspect_ratio": "16:9"}
VIDEO_EXAMPLE = {
    "prompt": "Ocean waves at sunset",
    "type": "video",
    "duration": 10,
    "aspect_ratio": "16:9",
}
CHAT_EXAMPLE = {"message": "What can you help me with?"}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TERMINAL = {"completed", "partially_completed", "failed", "cancelled"}


async def poll(api: Api, key: str, job_id: str) -> dict[str, Any]:
    """What the seed's client does: GET /api/status/:jobId until the job is over."""

    def over(body: dict[str, Any]) -> bool:
        return body["status"] in TERMINAL

    await api.wait(key, job_id, until=over)
    answer = await api.client.get(f"/api/status/{job_id}", headers=auth(key))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def balance(api: Api, key: str) -> int:
    account = (await api.client.get("/api/v1/account", headers=auth(key))).json()
    return int(account["credit_balance"])


def assert_seed_error(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert isinstance(body["error"], str) and body["error"]
    assert body["code"] == status
    return body


async def test_the_image_example_answers_job_id_and_status_then_an_image(api: Api) -> None:
    account = await api.account(credits=100)
    key = await api.key(account)
    answer = await api.client.post("/api/generate", json=IMAGE_EXAMPLE, headers=auth(key))
    assert answer.status_code == 200, answer.text
    started = answer.json()
    assert set(started) == {"jobId", "status"} and started["status"] == "queued"

    done = await poll(api, key, started["jobId"])
    assert done["status"] == "completed" and done["jobId"] == started["jobId"]
    assert done["type"] == "image" and done["error"] is None and TIMESTAMP.match(done["createdAt"])
    assert done["outputUrls"] == [done["outputUrl"]]
    picture = await api.client.get(done["outputUrl"])
    width, height = Image.open(io.BytesIO(picture.content)).size
    assert width / height == 16 / 9
    # Billed as a native image job: the credits it says it charged left the balance.
    assert done["creditsCharged"] > 0 and await balance(api, key) == 100 - done["creditsCharged"]


async def test_the_video_example_runs_a_ten_second_video(api: Api) -> None:
    account = await api.account(credits=1000)
    key = await api.key(account)
    answer = await api.client.post("/api/generate", json=VIDEO_EXAMPLE, headers=auth(key))
    assert answer.status_code == 200, answer.text
    done = await poll(api, key, answer.json()["jobId"])
    assert done["status"] == "completed" and done["type"] == "video"
    native = await api.client.get(f"/api/v1/generations/{done['jobId']}", headers=auth(key))
    assert native.json()["input"]["duration"] == 10
    assert native.json()["input"]["aspect_ratio"] == "16:9"


async def test_a_voice_job_speaks_the_prompt(api: Api) -> None:
    account = await api.account(credits=1000)
    key = await api.key(account)
    body = {"prompt": "Hello from the seed", "type": "voice"}
    answer = await api.client.post("/api/generate", json=body, headers=auth(key))
    assert answer.status_code == 200, answer.text
    done = await poll(api, key, answer.json()["jobId"])
    assert done["status"] == "completed" and done["type"] == "speech"
    native = await api.client.get(f"/api/v1/generations/{done['jobId']}", headers=auth(key))
    assert native.json()["input"]["text"] == "Hello from the seed"


async def test_the_chat_example_answers_reply_and_timestamp(api: Api) -> None:
    account = await api.account()
    key = await api.key(account, sandbox=True)
    answer = await api.client.post("/api/chat", json=CHAT_EXAMPLE, headers=auth(key))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body["reply"], str) and body["reply"]
    assert TIMESTAMP.match(body["timestamp"])
    # The conversation is stored as the native chat stores it, and can be continued.
    stored = await api.client.get(
        f"/api/v1/chat/conversations/{body['conversationId']}", headers=auth(key)
    )
    assert [m["role"] for m in stored.json()["messages"]] == ["user", "assistant"]
    again = {"message": "And videos?", "conversationId": body["conversationId"]}
    more = await api.client.post("/api/chat", json=again, headers=auth(key))
    assert more.status_code == 200 and more.json()["conversationId"] == body["conversationId"]


async def test_a_sandbox_key_runs_the_example_free(api: Api) -> None:
    account = await api.account(credits=0)
    key = await api.key(account, sandbox=True)
    answer = await api.client.post("/api/generate", json=IMAGE_EXAMPLE, headers=auth(key))
    assert answer.status_code == 200, answer.text
    done = await poll(api, key, answer.json()["jobId"])
    assert done["status"] == "completed" and done["sandbox"] and done["creditsCharged"] == 0


async def test_an_idempotency_key_answers_the_same_job_once(api: Api) -> None:
    account = await api.account(credits=100)
    key = await api.key(account)
    headers = {**auth(key), "Idempotency-Key": "seed-002-retry"}
    first = await api.client.post("/api/generate", json=IMAGE_EXAMPLE, headers=headers)
    second = await api.client.post("/api/generate", json=IMAGE_EXAMPLE, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"
    listed = (await api.client.get("/api/v1/generations", headers=auth(key))).json()
    assert [job["id"] for job in listed["data"]] == [first.json()["jobId"]]


async def test_errors_are_the_seeds_shape(api: Api) -> None:
    account = await api.account(credits=100)
    key = await api.key(account)
    missing = await api.client.post("/api/generate", json=IMAGE_EXAMPLE)
    assert_seed_error(missing, 401)
    wrong = await api.client.post("/api/generate", json=IMAGE_EXAMPLE, headers=auth("ms_live_x"))
    assert_seed_error(wrong, 401)
    no_type = {"prompt": "A futuristic city at night"}
    assert_seed_error(await api.client.post("/api/generate", json=no_type, headers=auth(key)), 400)
    odd = {**IMAGE_EXAMPLE, "type": "hologram"}
    refused = assert_seed_error(
        await api.client.post("/api/generate", json=odd, headers=auth(key)), 400
    )
    assert "hologram" in refused["error"]
    bad_shape = {**IMAGE_EXAMPLE, "aspect_ratio": "7:3"}
    assert_seed_error(
        await api.client.post("/api/generate", json=bad_shape, headers=auth(key)), 400
    )
    unknown = await api.client.get("/api/status/gen_nope", headers=auth(key))
    assert_seed_error(unknown, 404)
    assert_seed_error(await api.client.post("/api/chat", json={}, headers=auth(key)), 400)


async def test_a_key_without_the_scope_is_refused_in_the_seeds_shape(api: Api) -> None:
    account = await api.account(credits=100)
    reader = await api.key(account, scopes=["read"])
    refused = await api.client.post("/api/generate", json=IMAGE_EXAMPLE, headers=auth(reader))
    assert assert_seed_error(refused, 403)["reason"] == "insufficient_scope"
    video_only = await api.key(account, scopes=["generate:video", "read"])
    answer = await api.client.post("/api/generate", json=IMAGE_EXAMPLE, headers=auth(video_only))
    assert assert_seed_error(answer, 403)["reason"] == "insufficient_scope"
    chat = await api.client.post("/api/chat", json=CHAT_EXAMPLE, headers=auth(reader))
    assert_seed_error(chat, 403)


async def test_the_free_plans_daily_video_quota_answers_429(api: Api) -> None:
    """The seed's table (Free: 2 videos a day) is the free plan's quota, enforced as on /api/v1."""
    account = await api.account(plan="free", credits=10_000)
    key = await api.key(account)
    for _ in range(2):
        answer = await api.client.post("/api/generate", json=VIDEO_EXAMPLE, headers=auth(key))
        assert answer.status_code == 200, answer.text
        assert (await poll(api, key, answer.json()["jobId"]))["status"] == "completed"
    third = await api.client.post("/api/generate", json=VIDEO_EXAMPLE, headers=auth(key))
    assert assert_seed_error(third, 429)["reason"] == "quota_exceeded"


async def test_without_credits_a_live_key_is_refused_402(api: Api) -> None:
    account = await api.account(credits=0)
    key = await api.key(account)
    answer = await api.client.post("/api/generate", json=IMAGE_EXAMPLE, headers=auth(key))
    assert assert_seed_error(answer, 402)["reason"] == "insufficient_credits"


async def test_a_failed_job_reads_failed_with_its_error_and_is_refunded(api: Api) -> None:
    account = await api.account(credits=100)
    key = await api.key(account)
    body = {**IMAGE_EXAMPLE, "prompt": "A city [fail:provider_error]"}
    answer = await api.client.post("/api/generate", json=body, headers=auth(key))
    done = await poll(api, key, answer.json()["jobId"])
    assert done["status"] == "failed" and done["errorCode"] == "provider_error" and done["error"]
    assert done["outputUrl"] is None and done["creditsCharged"] == 0
    assert done["creditsRefunded"] > 0 and await balance(api, key) == 100
