"""Chat through the API against the fake OpenAI: replies, conversations continued with their
history, credits captured once or refunded, the daily quota, idempotent retries, sandbox
placeholders, and an OpenAI-compatible server as a named provider."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mediastudio.engines.contract import InvalidInput, InvalidPrompt, ProviderError
from mediastudio.engines.providers.openai.chat import (
    ChatClient,
    ChatMessage,
    ChatOptions,
    ChatReply,
)
from tests.conftest import Api, auth, open_api
from tests.providers.conftest import openai_settings
from tests.providers.fake_openai import FakeOpenAI, error
from tests.providers.test_replicate_jobs import balance, ledger_kinds, live_key

CHAT = "/v1/chat/completions"


async def _chat(
    api: Api, key: str, body: dict[str, Any], status: int = 200, **headers: str
) -> dict[str, Any]:
    response = await api.client.post("/api/v1/chat", json=body, headers={**auth(key), **headers})
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _user_message_id(api: Api, key: str, conversation_id: str) -> str:
    read = await api.client.get(f"/api/v1/chat/conversations/{conversation_id}", headers=auth(key))
    users = [m for m in read.json()["messages"] if m["role"] == "user"]
    message_id: str = users[-1]["id"]
    return message_id


async def test_a_reply_is_charged_once_and_the_conversation_continues(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        first = await _chat(api, key, {"message": "What can you help me with?"})
        assert first["reply"] == "Reply to 1 messages: What can you help me with?"
        # The default: gpt-5.4-mini (a current model: the default is never a deprecated one).
        assert first["model"] == "openai/gpt-5.4-mini" and first["credits_charged"] == 1
        assert first["usage"] == {"prompt_tokens": 6, "completion_tokens": 10, "total_tokens": 16}
        assert first["timestamp"].endswith("Z") and first["sandbox"] is False
        [call] = openai_fake.calls(CHAT)
        assert call.headers["authorization"] == f"Bearer {openai_fake.key}"
        assert call.body == {
            "model": "gpt-5.4-mini",
            "messages": [{"role": "user", "content": "What can you help me with?"}],
            "stream": False,
            "max_completion_tokens": 1024,
        }

        conversation = first["conversation_id"]
        second = await _chat(api, key, {"message": "And videos?", "conversation_id": conversation})
        assert second["conversation_id"] == conversation
        assert openai_fake.calls(CHAT)[-1].body["messages"] == [
            {"role": "user", "content": "What can you help me with?"},
            {"role": "assistant", "content": first["reply"]},
            {"role": "user", "content": "And videos?"},
        ]
        assert await balance(api, key) == (98, 0)
        user_id = await _user_message_id(api, key, conversation)
        assert await ledger_kinds(api, key, user_id) == {"reserve": [1], "capture": [-1]}

        read = await api.client.get(f"/api/v1/chat/conversations/{conversation}", headers=auth(key))
        assert [(m["role"], m["status"]) for m in read.json()["messages"]] == [
            ("user", "answered"),
            ("assistant", "answered"),
            ("user", "answered"),
            ("assistant", "answered"),
        ]


async def test_history_starts_a_conversation_and_options_are_sent(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api)
        history = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
        ]
        # gpt-4o takes a temperature; pinned to a day it still runs (it retires 2027-01-14).
        api.platform.chat.models.clock = lambda: datetime(2026, 12, 2, tzinfo=UTC)
        body = {"message": "one two three", "history": history, "model": "openai/gpt-4o"}
        answer = await _chat(api, key, {**body, "max_tokens": 4, "temperature": 0.5})
        assert answer["finish_reason"] == "length" and answer["credits_charged"] == 10
        sent = openai_fake.calls(CHAT)[-1].body
        assert sent["messages"] == [*history, {"role": "user", "content": "one two three"}]
        assert sent["max_completion_tokens"] == 4 and sent["temperature"] == 0.5
        both = {"message": "x", "history": history, "conversation_id": answer["conversation_id"]}
        refused = await _chat(api, key, both, status=400)
        assert refused["error"]["code"] == "invalid_request"


async def test_provider_errors_and_refusals_are_refunded(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=10)
        openai_fake.script(CHAT, error(500, "The server had an error.", "server_error"))
        failed = await _chat(api, key, {"message": "hello"}, status=502)
        assert failed["error"]["code"] == "provider_error"
        assert len(openai_fake.calls(CHAT)) == 1  # never repeated after a 5xx
        refused = await _chat(api, key, {"message": "something forbidden"}, status=400)
        assert refused["error"]["code"] == "invalid_prompt"
        assert await balance(api, key) == (10, 0)
        page = (await api.client.get("/api/v1/account/ledger", headers=auth(key))).json()
        kinds = sorted(entry["kind"] for entry in page["data"] if entry["kind"] != "grant")
        assert kinds == ["refund", "refund", "reserve", "reserve"]


async def test_the_daily_quota_and_credits_are_enforced(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    settings = openai_settings(
        tmp_path / "data", openai_fake, plans={"unlimited": {"daily_quotas": {"chat": 2}}}
    )
    async with open_api(settings) as api:
        key = await live_key(api)
        openai_fake.script(CHAT, error(500, "The server had an error.", "server_error"))
        await _chat(api, key, {"message": "fails, not counted"}, status=502)
        await _chat(api, key, {"message": "one"})
        await _chat(api, key, {"message": "two"})
        over = await _chat(api, key, {"message": "three"}, status=429)
        assert over["error"]["code"] == "quota_exceeded"
        assert over["error"]["details"] == {"type": "chat", "quota": 2, "used": 2}
        assert len(openai_fake.calls(CHAT)) == 3

        poor = await api.key(await api.account("poor@example.com", credits=0))
        broke = await _chat(api, poor, {"message": "hi"}, status=402)
        assert broke["error"]["code"] == "insufficient_credits"


async def test_an_idempotent_retry_replays_the_reply_without_a_second_charge(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=10)
        first = await _chat(api, key, {"message": "hi"}, **{"Idempotency-Key": "k-1"})
        replayed = await api.client.post(
            "/api/v1/chat", json={"message": "hi"}, headers={**auth(key), "Idempotency-Key": "k-1"}
        )
        assert replayed.json() == first
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert len(openai_fake.calls(CHAT)) == 1 and await balance(api, key) == (9, 0)
        reused = await _chat(api, key, {"message": "bye"}, 422, **{"Idempotency-Key": "k-1"})
        assert reused["error"]["code"] == "idempotency_key_reused"


async def test_sandbox_keys_get_a_placeholder_and_never_call(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        account = await api.account(credits=0)
        key = await api.key(account, sandbox=True)
        first = await _chat(api, key, {"message": "hello"})
        again = await _chat(api, key, {"message": "hello"})
        assert first["reply"] == again["reply"] and first["reply"].startswith("[sandbox]")
        assert first["sandbox"] is True and first["credits_charged"] == 0
        assert set(first["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
        assert openai_fake.calls(CHAT) == []
        live = await api.key(account)
        hidden = await api.client.get(
            f"/api/v1/chat/conversations/{first['conversation_id']}", headers=auth(live)
        )
        assert hidden.status_code == 404


async def test_an_openai_compatible_server_is_a_named_provider(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    settings = openai_settings(
        tmp_path / "data",
        openai_fake,
        providers={
            "openai_compatible": {
                "ollama": {
                    "base_url": openai_fake.api_url,
                    "api_key": openai_fake.key,
                    "models": "llama3.2, qwen2.5",
                }
            }
        },
    )
    async with open_api(settings) as api:
        key = await live_key(api, credits=5)
        answer = await _chat(api, key, {"message": "hi", "model": "ollama/llama3.2"})
        assert answer["model"] == "ollama/llama3.2" and answer["credits_charged"] == 1
        sent = openai_fake.calls(CHAT)[-1].body
        assert sent["model"] == "llama3.2" and sent["max_tokens"] == 1024
        assert "max_completion_tokens" not in sent
        # OpenAI itself has no key in these settings: its models are unavailable, not called.
        missing = await _chat(api, key, {"message": "hi", "model": "openai/gpt-4o"}, status=503)
        assert missing["error"]["code"] == "model_unavailable"
        # The server does not know qwen2.5: its 404 is the request's fault, refunded.
        unknown = await _chat(api, key, {"message": "hi", "model": "ollama/qwen2.5"}, 400)
        assert unknown["error"]["code"] == "invalid_request"
        assert await balance(api, key) == (4, 0)


async def test_chat_models_are_in_the_catalog(tmp_path: Path, openai_fake: FakeOpenAI) -> None:
    settings = openai_settings(
        tmp_path / "data",
        openai_fake,
        providers={
            "openai_compatible": {
                "vllm": {"base_url": "http://127.0.0.1:9/v1", "models": "qwen2.5"}
            }
        },
    )
    async with open_api(settings) as api:
        key = await live_key(api)
        listed = await api.client.get("/api/v1/models?type=chat", headers=auth(key))
        assert listed.status_code == 200, listed.text
        models = {entry["id"]: entry for entry in listed.json()["data"]}
        openai_ids = {"gpt-5.4-mini", "gpt-5.4", "gpt-5.5", "gpt-4o-mini", "gpt-4o"}
        assert set(models) == {f"openai/{name}" for name in openai_ids} | {"vllm/qwen2.5"}
        assert models["vllm/qwen2.5"]["available"] is True
        prices = {model_id: entry["pricing"]["credits"] for model_id, entry in models.items()}
        assert prices["openai/gpt-5.4-mini"] == prices["openai/gpt-4o-mini"] == 1
        assert prices["openai/gpt-5.4"] == prices["openai/gpt-4o"] == 10
        assert prices["openai/gpt-5.5"] == 20
        assert models["openai/gpt-4o"]["available"] is False  # no OpenAI key in these settings
        for old in ("openai/gpt-4o", "openai/gpt-4o-mini"):
            assert models[old]["deprecation"] == {
                "shutdown_date": "2027-01-14",
                "replacement": "openai/gpt-5.4-mini",
            }
        assert "deprecation" not in models["openai/gpt-5.4-mini"]
        one = await api.client.get("/api/v1/models/vllm/qwen2.5", headers=auth(key))
        assert one.json()["input_schema"]["required"] == ["message"]


async def test_a_reasoning_model_takes_only_the_default_temperature(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        body = {"message": "hi", "model": "openai/gpt-5.5"}
        refused = await _chat(api, key, {**body, "temperature": 0.2}, status=400)
        assert refused["error"]["details"]["fields"][0]["field"] == "temperature"
        assert "only the default temperature" in refused["error"]["message"]
        assert openai_fake.calls(CHAT) == [] and await balance(api, key) == (100, 0)
        # 1 is its default: accepted, and not sent (the model takes no temperature field).
        answer = await _chat(api, key, {**body, "temperature": 1, "max_tokens": 50})
        assert answer["credits_charged"] == 20
        sent = openai_fake.calls(CHAT)[-1].body
        assert "temperature" not in sent and sent["max_completion_tokens"] == 50
        # gpt-4o still takes any temperature (it is deprecated, not retired, on this day).
        api.platform.chat.models.clock = lambda: datetime(2026, 12, 2, tzinfo=UTC)
        older = await _chat(api, key, {"message": "hi", "model": "openai/gpt-4o", "temperature": 0})
        assert older["model"] == "openai/gpt-4o"
        assert openai_fake.calls(CHAT)[-1].body["temperature"] == 0


async def test_a_chat_model_retires_on_its_shutdown_day(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    async with open_api(openai_settings(tmp_path / "data", openai_fake)) as api:
        key = await live_key(api, credits=100)
        api.platform.chat.models.clock = lambda: datetime(2027, 1, 14, tzinfo=UTC)
        body = {"message": "hi", "model": "openai/gpt-4o-mini"}
        refused = await _chat(api, key, body, status=503)
        assert refused["error"]["code"] == "model_unavailable"
        assert refused["error"]["details"]["replacement"] == "openai/gpt-5.4-mini"
        assert "retired on 2027-01-14" in refused["error"]["message"]
        assert openai_fake.calls(CHAT) == [] and await balance(api, key) == (100, 0)
        one = await api.client.get("/api/v1/models/openai/gpt-4o-mini", headers=auth(key))
        assert one.json()["available"] is False
        assert one.json()["unavailable_reason"] == refused["error"]["details"]["reason"]
        answer = await _chat(api, key, {"message": "hi"})  # the default still runs
        assert answer["model"] == "openai/gpt-5.4-mini"


async def test_a_message_abandoned_by_a_dead_process_is_refunded_by_the_sweeper(
    tmp_path: Path, openai_fake: FakeOpenAI
) -> None:
    """The process died between reserving and settling (nothing in it ran its refund): the
    sweeper finds the message still pending past the bound and gives the credits back."""
    from sqlalchemy import update

    from mediastudio.chat.models import ChatMessageRow
    from mediastudio.engines.providers.openai.chat import ChatMessage
    from mediastudio.keys.auth import principal_for
    from mediastudio.kit.clock import utcnow

    settings = openai_settings(tmp_path / "data", openai_fake)
    async with open_api(settings) as api:
        key = await live_key(api, credits=10)
        principal = await principal_for(api.platform, None, secret=key)
        chat = api.platform.chat
        async with api.platform.db.write() as session:  # the first half of a request, then death
            message = [ChatMessage(role="user", content="hi")]
            accepted = await chat._accept(session, principal, message, None, None, ChatOptions())
        assert await balance(api, key) == (9, 1)
        await api.platform.sweeper.sweep()
        assert await balance(api, key) == (9, 1)  # not yet: it may still be answered

        late = utcnow() - timedelta(seconds=settings.chat_abandoned_after_s + 1)
        async with api.platform.db.write() as session:
            await session.execute(
                update(ChatMessageRow)
                .where(ChatMessageRow.id == accepted.user_message_id)
                .values(created_at=late)
            )
        await api.platform.sweeper.sweep()
        await api.platform.sweeper.sweep()  # once only
        assert await balance(api, key) == (10, 0)
        kinds = await ledger_kinds(api, key, accepted.user_message_id)
        assert kinds == {"reserve": [1], "refund": [-1]}
        read = await api.client.get(
            f"/api/v1/chat/conversations/{accepted.conversation_id}", headers=auth(key)
        )
        assert [m["status"] for m in read.json()["messages"]] == ["failed"]
        assert openai_fake.calls(CHAT) == []


def _client(fake: FakeOpenAI, *, compatible: bool = False) -> ChatClient:
    return ChatClient(
        "ollama" if compatible else "openai",
        fake.api_url,
        SecretStr(fake.key),
        timeout_s=10,
        max_retry_wait_s=1,
        setting="TEST_KEY",
        compatible=compatible,
    )


async def _streamed(
    client: ChatClient, text: str, model: str | None = None, **options: Any
) -> list[str | ChatReply]:
    messages = [ChatMessage("user", text)]
    model = model or ("llama3.2" if client.compatible else "gpt-4o-mini")
    stream = client.stream(model, messages, ChatOptions(**options), asyncio.sleep)
    try:
        return [item async for item in stream]
    finally:
        await client.aclose()


async def test_the_client_streams_the_reply_as_it_is_written(openai_fake: FakeOpenAI) -> None:
    *pieces, reply = await _streamed(_client(openai_fake), "hello there", max_tokens=50)
    assert pieces == ["", "Reply", " to", " 1", " messages:", " hello", " there"]
    assert isinstance(reply, ChatReply)
    assert reply.content == "Reply to 1 messages: hello there" and reply.finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2, 6)
    assert reply.model == "gpt-4o-mini-2024-07-18"
    sent = openai_fake.calls(CHAT)[-1].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["max_completion_tokens"] == 50

    *_, cut = await _streamed(_client(openai_fake, compatible=True), "one two three", max_tokens=3)
    assert isinstance(cut, ChatReply) and cut.finish_reason == "length"
    assert openai_fake.calls(CHAT)[-1].body["max_tokens"] == 3


async def test_the_clients_stream_fails_as_the_provider_does(openai_fake: FakeOpenAI) -> None:
    with pytest.raises(InvalidPrompt):
        await _streamed(_client(openai_fake), "something forbidden")
    openai_fake.script(CHAT, error(500, "The server had an error.", "server_error"))
    with pytest.raises(ProviderError, match=r"failed \(500\)"):
        await _streamed(_client(openai_fake), "hi")
    with pytest.raises(InvalidInput, match="does not exist"):
        await _streamed(_client(openai_fake), "hi", model="gpt-9")
    openai_fake.stream_break_after = 3
    for how in ("error", "cut"):
        openai_fake.stream_break = "cut" if how == "cut" else "error"
        with pytest.raises(ProviderError, match=r"mid-stream|broke off"):
            await _streamed(_client(openai_fake), "hi")
    assert len(openai_fake.calls(CHAT)) == 5  # never repeated
